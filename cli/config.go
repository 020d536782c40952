package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	ucli "github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"go.yaml.in/yaml/v3"
)

// A --config file holds flag values at its top level, keyed by flag name.
// One file may serve several commands, so a key is accepted when it is a
// flag of any tune command (or a global flag) and applied only to the
// commands that have it. Any other key is an error naming the file, the
// line (YAML and JSON give it; TOML does not) and the closest flag; a
// Hugging Face name with a tune equivalent (num_train_epochs, ...) is an
// error naming the tune flag, so that one file never means two things.

// configValue is one key of a config file.
type configValue struct {
	key  string
	line int // 1-based; 0 when the format gives none
	val  any // string, int64, float64, bool, or []any of those
}

// configFile is a parsed config file, its keys in file order.
type configFile struct {
	path   string
	values []configValue
}

// where names the place of v for messages.
func (f *configFile) where(v configValue) string {
	if v.line > 0 {
		return fmt.Sprintf("config file %s:%d", f.path, v.line)
	}
	return "config file " + f.path
}

// hfNames maps the Hugging Face (transformers, PEFT, TRL) names users
// bring from their scripts to the tune flag of the same meaning.
var hfNames = map[string]struct{ flag, note string }{
	"num_train_epochs":            {"num_epochs", ""},
	"per_device_train_batch_size": {"batch_size", ""},
	"per_device_eval_batch_size":  {"batch_size", " (validation runs with the training batch size)"},
	"model_name_or_path":          {"base_model", ""},
	"max_seq_length":              {"max_length", ""},
	"r":                           {"lora_r", ""},
	"eval_strategy":               {"eval_steps", " (tune evaluates every eval_steps steps when validation.jsonl exists)"},
	"evaluation_strategy":         {"eval_steps", " (tune evaluates every eval_steps steps when validation.jsonl exists)"},
	"save_strategy":               {"save_steps", " (tune saves every save_steps steps and at the end)"},
}

// readConfig parses a YAML (.yaml, .yml), JSON (.json) or TOML (.toml)
// config file. Its top level must be a table of keys; values are scalars
// or lists of scalars. A key given twice is an error.
func readConfig(path string) (*configFile, error) {
	var parse func([]byte) ([]configValue, error)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		parse = yamlValues
	case ".json":
		parse = jsonValues
	case ".toml":
		parse = tomlValues
	default:
		return nil, fmt.Errorf("config file %s: unknown extension (want .yaml, .yml, .json or .toml)", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	vals, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	f := &configFile{path: path, values: vals}
	seen := map[string]configValue{}
	for _, v := range vals {
		if first, ok := seen[v.key]; ok {
			return nil, fmt.Errorf("%s: %s is given twice (first in %s)", f.where(v), v.key, f.where(first))
		}
		seen[v.key] = v
	}
	return f, nil
}

func yamlValues(data []byte) ([]configValue, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want flag: value pairs", top.Line)
	}
	var out []configValue
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		var raw any
		if err := v.Decode(&raw); err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", k.Line, k.Value, err)
		}
		val, err := configScalars(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", k.Line, k.Value, err)
		}
		out = append(out, configValue{key: k.Value, line: k.Line, val: val})
	}
	return out, nil
}

func jsonValues(data []byte) ([]configValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	line := func() int { return 1 + bytes.Count(data[:dec.InputOffset()], []byte{'\n'}) }
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("want a JSON object of flag values")
	}
	var out []configValue
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line(), err)
		}
		key, _ := tok.(string)
		at := line()
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", at, key, err)
		}
		val, err := configScalars(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", at, key, err)
		}
		out = append(out, configValue{key: key, line: at, val: val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("line %d: more after the object", line())
	}
	return out, nil
}

func tomlValues(data []byte) ([]configValue, error) {
	var m map[string]any
	md, err := toml.Decode(string(data), &m)
	if err != nil {
		return nil, err
	}
	var out []configValue
	for _, k := range md.Keys() {
		if len(k) != 1 {
			continue // inside a table, which configScalars refuses
		}
		val, err := configScalars(m[k[0]])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k[0], err)
		}
		out = append(out, configValue{key: k[0], val: val})
	}
	return out, nil
}

// configScalars normalizes a decoded config value: integers to int64,
// JSON numbers to int64 or float64, lists item by item. Tables, nulls and
// other types are errors.
func configScalars(v any) (any, error) {
	switch x := v.(type) {
	case string, bool, float64, int64:
		return x, nil
	case int:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("%d is too large", x)
		}
		return int64(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		return x.Float64()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			s, err := configScalars(e)
			if err != nil {
				return nil, err
			}
			if _, nested := s.([]any); nested {
				return nil, errors.New("a list inside a list is not a flag value")
			}
			out[i] = s
		}
		return out, nil
	case nil:
		return nil, errors.New("no value")
	case map[string]any:
		return nil, errors.New("a nested table is not a flag value (flags are keys at the top level)")
	}
	return nil, fmt.Errorf("a %T is not a flag value", v)
}

// checkKey accepts a config key that is a flag of some command (all maps
// every flag name, global ones included) and explains any other.
func checkKey(key string, all map[string]ucli.Flag) error {
	if key == "config" {
		return errors.New("config: a config file cannot name another one")
	}
	if hf, ok := hfNames[key]; ok {
		return fmt.Errorf("%s is Hugging Face's name; tune's flag is %s%s", key, hf.flag, hf.note)
	}
	if _, ok := all[key]; ok {
		return nil
	}
	var flags []ucli.Flag // in name order, so that a tie always suggests the same flag
	for _, n := range slices.Sorted(maps.Keys(all)) {
		flags = append(flags, all[n])
	}
	msg := fmt.Sprintf("unknown key %q", key)
	if ucli.SuggestFlag != nil {
		if s := ucli.SuggestFlag(flags, key, true); s != "" {
			msg += fmt.Sprintf(" (the closest flag is %s)", strings.TrimLeft(s, "-"))
		}
	}
	return errors.New(msg)
}

// byName maps every name of the given flags to its flag.
func byName(flags ...[]ucli.Flag) map[string]ucli.Flag {
	m := map[string]ucli.Flag{}
	for _, fs := range flags {
		for _, f := range fs {
			for _, n := range f.Names() {
				m[n] = f
			}
		}
	}
	return m
}

// allFlags maps the name of every flag of app and its commands (not help
// or config) to one flag of that name.
func allFlags(app *ucli.App) map[string]ucli.Flag {
	lists := [][]ucli.Flag{app.Flags}
	for _, cmd := range app.Commands {
		lists = append(lists, cmd.Flags)
	}
	all := byName(lists...)
	for _, n := range []string{"help", "h", "config"} {
		delete(all, n)
	}
	return all
}

// flagValue converts a config value to what flag f takes: a string
// (scalars as written; a list, for a listFlag only, joined with commas), a
// list of strings for a repeatable flag (one value or a list),
// an int, a float64 or a bool. A string is also read as the command line
// would read it ("2e-4" for a float flag).
func flagValue(f ucli.Flag, v any) (any, error) {
	list, isList := v.([]any)
	switch f.(type) {
	case *listFlag:
		if !isList {
			return scalarText(v), nil
		}
		items := make([]string, len(list))
		for i, e := range list {
			items[i] = scalarText(e)
		}
		return strings.Join(items, ","), nil
	case *altsrc.StringSliceFlag:
		if !isList {
			return []any{scalarText(v)}, nil
		}
		items := make([]any, len(list))
		for i, e := range list {
			items[i] = scalarText(e)
		}
		return items, nil
	case *altsrc.StringFlag, *ucli.StringFlag:
		if isList {
			return nil, errors.New("want one value, not a list")
		}
		return scalarText(v), nil
	case *altsrc.IntFlag, *ucli.IntFlag:
		switch x := v.(type) {
		case int64:
			return int(x), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int(x), nil
			}
		case string:
			if i, err := strconv.Atoi(x); err == nil {
				return i, nil
			}
		}
		return nil, fmt.Errorf("want a whole number, got %s", describeValue(v))
	case *altsrc.Float64Flag, *ucli.Float64Flag:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f, nil
			}
		}
		return nil, fmt.Errorf("want a number, got %s", describeValue(v))
	case *altsrc.BoolFlag, *ucli.BoolFlag:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
		}
		return nil, fmt.Errorf("want true or false, got %s", describeValue(v))
	}
	panic(fmt.Sprintf("cli: flag %s has type %T, which config files do not handle", f.Names()[0], f))
}

// scalarText writes a scalar config value as it would be typed.
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// describeValue names a config value for type errors.
func describeValue(v any) string {
	switch x := v.(type) {
	case []any:
		return "a list"
	case string:
		return strconv.Quote(x)
	}
	return scalarText(v)
}

// configPath is the --config file given on the command line (before or
// after the command) or in TUNE_CONFIG, or "".
func configPath(c *ucli.Context) string {
	for _, x := range c.Lineage() {
		if x.IsSet("config") {
			return x.String("config")
		}
	}
	return ""
}

// applyConfig reads the --config file, checks every key, and gives the
// values of the command's flags (and of the global ones) to those not set
// on the command line or in the environment, recording where each came
// from.
func applyConfig(c *ucli.Context, st *runState) error {
	path := configPath(c)
	if path == "" {
		return nil
	}
	f, err := readConfig(path)
	if err != nil {
		return err
	}
	all, own, global := allFlags(c.App), byName(c.Command.Flags), byName(c.App.Flags)
	values := map[any]any{}
	for _, v := range f.values {
		where := f.where(v)
		if err := checkKey(v.key, all); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		fl, isGlobal := own[v.key], false
		if fl == nil {
			if fl, isGlobal = global[v.key], true; fl == nil {
				continue // another command's flag
			}
		}
		x, err := flagValue(fl, v.val)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", where, v.key, err)
		}
		if c.IsSet(v.key) { // looks up the global flags too
			continue // the command line or the environment wins
		}
		st.fromConfig[v.key] = where
		if isGlobal {
			if err := c.Set(v.key, scalarText(x)); err != nil { // sets the global flag
				return fmt.Errorf("%s: %s: %w", where, v.key, err)
			}
			continue
		}
		values[v.key] = x
	}
	return altsrc.ApplyInputSourceValues(c, altsrc.NewMapInputSource(path, values), c.Command.Flags)
}
