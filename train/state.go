package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// TrainerState mirrors Hugging Face transformers' TrainerState dataclass
// (trainer_callback.py), saved as trainer_state.json in every checkpoint.
// Save writes what TrainerState.save_to_json writes, byte for byte:
// json.dumps(dataclasses.asdict(state), indent=2, sort_keys=True) + "\n",
// with Python's number formatting (floats always with a "." or exponent,
// NaN and Infinity as bare words) and ASCII-only strings.
//
// The JSON keys are those of transformers' dataclass: best_global_step,
// best_metric, best_model_checkpoint, epoch, eval_steps, global_step,
// is_hyper_param_search, is_local_process_zero, is_world_process_zero,
// log_history, logging_steps, max_steps, num_input_tokens_seen,
// num_train_epochs, save_steps, stateful_callbacks, total_flos,
// train_batch_size, trial_name, trial_params. This trainer is one process
// and does no hyper-parameter search, so is_local_process_zero and
// is_world_process_zero are always written true and
// is_hyper_param_search false (they are not fields here).
//
// Log history entries keep transformers' keys: a training log is
// {"epoch", "grad_norm", "learning_rate", "loss", "step"} (see
// TrainLogEntry), an evaluation {"epoch", "eval_loss", "eval_runtime",
// "eval_samples_per_second", "eval_steps_per_second", "step"} (see
// EvalLogEntry). Loaded entries hold numbers as json.Number (so an
// integer stays an integer when saved again) and NaN/±Infinity as
// float64; read them with EntryFloat and EntryInt.
type TrainerState struct {
	// BestGlobalStep is the step of BestMetric (null while unset).
	BestGlobalStep *int
	// BestMetric is the best evaluation metric so far (null while unset).
	BestMetric *float64
	// BestModelCheckpoint is the checkpoint directory of BestMetric.
	BestModelCheckpoint *string
	// Epoch is the fractional epoch reached (1.5 = half way through the
	// second epoch).
	Epoch float64
	// EvalSteps, LoggingSteps and SaveSteps are the intervals, in
	// optimizer steps, of evaluation, logging and checkpointing.
	EvalSteps    int
	LoggingSteps int
	SaveSteps    int
	// GlobalStep is the number of optimizer steps completed.
	GlobalStep int
	// MaxSteps is the number of optimizer steps of the whole run.
	MaxSteps int
	// LogHistory is every log entry so far, oldest first.
	LogHistory []map[string]any
	// NumInputTokensSeen counts the input tokens trained on.
	NumInputTokensSeen int64
	// NumTrainEpochs is the number of epochs of the whole run.
	NumTrainEpochs int
	// StatefulCallbacks is transformers' per-callback saved state
	// ({"TrainerControl": {"args": {...}, "attributes": {}}}); written as
	// {} when nil.
	StatefulCallbacks map[string]any
	// TotalFlos is the floating-point operations done so far.
	TotalFlos float64
	// TrainBatchSize is the per-device batch size.
	TrainBatchSize int
	// TrialName and TrialParams describe a hyper-parameter search trial;
	// nil (null) for ordinary runs.
	TrialName   *string
	TrialParams map[string]any
	// Extra keeps keys this version does not know (from a newer
	// transformers, say) so that loading and saving preserves them.
	Extra map[string]any
}

// NewTrainerState returns a state with transformers' defaults: logging,
// evaluation and save intervals of 500 steps, empty history.
func NewTrainerState() *TrainerState {
	return &TrainerState{EvalSteps: 500, LoggingSteps: 500, SaveSteps: 500, LogHistory: []map[string]any{}}
}

// TrainLogEntry returns a training log entry with transformers' keys.
func TrainLogEntry(epoch float64, step int, loss, gradNorm, learningRate float64) map[string]any {
	return map[string]any{
		"epoch":         epoch,
		"grad_norm":     gradNorm,
		"learning_rate": learningRate,
		"loss":          loss,
		"step":          step,
	}
}

// EvalLogEntry returns an evaluation log entry with transformers' keys;
// runtime is in seconds, and the rates are derived from it as
// transformers' speed_metrics does (omitted when runtime is not positive).
func EvalLogEntry(epoch float64, step int, evalLoss, runtime float64, samples, steps int) map[string]any {
	e := map[string]any{
		"epoch":        epoch,
		"eval_loss":    evalLoss,
		"eval_runtime": runtime,
		"step":         step,
	}
	if runtime > 0 {
		e["eval_samples_per_second"] = float64(samples) / runtime
		e["eval_steps_per_second"] = float64(steps) / runtime
	}
	return e
}

// Log appends entry to the log history.
func (s *TrainerState) Log(entry map[string]any) {
	s.LogHistory = append(s.LogHistory, entry)
}

// UpdateBest records metric as the best one if it improves on BestMetric
// (greater when greaterIsBetter, else smaller; NaN never improves), with
// its step and checkpoint (pass "" to leave BestModelCheckpoint as is).
// It reports whether metric became the best.
func (s *TrainerState) UpdateBest(metric float64, step int, checkpoint string, greaterIsBetter bool) bool {
	if math.IsNaN(metric) {
		return false
	}
	if s.BestMetric != nil {
		if greaterIsBetter && !(metric > *s.BestMetric) || !greaterIsBetter && !(metric < *s.BestMetric) {
			return false
		}
	}
	s.BestMetric = &metric
	s.BestGlobalStep = &step
	if checkpoint != "" {
		s.BestModelCheckpoint = &checkpoint
	}
	return true
}

// toMap returns the state as transformers' asdict() would.
func (s *TrainerState) toMap() map[string]any {
	m := make(map[string]any, 20+len(s.Extra))
	for k, v := range s.Extra {
		m[k] = v
	}
	m["best_global_step"] = nil
	if s.BestGlobalStep != nil {
		m["best_global_step"] = *s.BestGlobalStep
	}
	m["best_metric"] = nil
	if s.BestMetric != nil {
		m["best_metric"] = *s.BestMetric
	}
	m["best_model_checkpoint"] = nil
	if s.BestModelCheckpoint != nil {
		m["best_model_checkpoint"] = *s.BestModelCheckpoint
	}
	m["epoch"] = s.Epoch
	m["eval_steps"] = s.EvalSteps
	m["global_step"] = s.GlobalStep
	m["is_hyper_param_search"] = false
	m["is_local_process_zero"] = true
	m["is_world_process_zero"] = true
	hist := s.LogHistory
	if hist == nil {
		hist = []map[string]any{}
	}
	m["log_history"] = hist
	m["logging_steps"] = s.LoggingSteps
	m["max_steps"] = s.MaxSteps
	m["num_input_tokens_seen"] = s.NumInputTokensSeen
	m["num_train_epochs"] = s.NumTrainEpochs
	m["save_steps"] = s.SaveSteps
	sc := s.StatefulCallbacks
	if sc == nil {
		sc = map[string]any{}
	}
	m["stateful_callbacks"] = sc
	m["total_flos"] = s.TotalFlos
	m["train_batch_size"] = s.TrainBatchSize
	m["trial_name"] = nil
	if s.TrialName != nil {
		m["trial_name"] = *s.TrialName
	}
	m["trial_params"] = nil
	if s.TrialParams != nil {
		m["trial_params"] = s.TrialParams
	}
	return m
}

// MarshalJSON encodes the state with Python's json conventions (see
// TrainerState). Like encoding/json, and unlike Save, it fails when a
// value is NaN or infinite, which standard JSON cannot represent.
func (s *TrainerState) MarshalJSON() ([]byte, error) {
	b, err := pyJSONAppend(nil, s.toMap(), "", 0)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, errors.New("trainer state holds NaN or Infinity, which standard JSON cannot represent (Save writes them as Python does)")
	}
	return b, nil
}

// UnmarshalJSON decodes a trainer_state.json document (NaN and Infinity
// accepted, as Python writes them).
func (s *TrainerState) UnmarshalJSON(data []byte) error {
	v, err := pyJSONDecode(data)
	if err != nil {
		return err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want a JSON object, got %s", pyJSONKind(v))
	}
	var st TrainerState
	r := fieldReader{m: m}
	st.BestGlobalStep = r.optInt("best_global_step")
	st.BestMetric = r.optFloat("best_metric")
	st.BestModelCheckpoint = r.optString("best_model_checkpoint")
	if f := r.optFloat("epoch"); f != nil {
		st.Epoch = *f
	}
	st.EvalSteps = r.int("eval_steps", 500)
	st.GlobalStep = r.int("global_step", 0)
	r.skip("is_hyper_param_search", "is_local_process_zero", "is_world_process_zero")
	st.LogHistory = r.history("log_history")
	st.LoggingSteps = r.int("logging_steps", 500)
	st.MaxSteps = r.int("max_steps", 0)
	st.NumInputTokensSeen = int64(r.int("num_input_tokens_seen", 0))
	st.NumTrainEpochs = r.int("num_train_epochs", 0)
	st.SaveSteps = r.int("save_steps", 500)
	st.StatefulCallbacks = r.object("stateful_callbacks")
	if f := r.optFloat("total_flos"); f != nil {
		st.TotalFlos = *f
	}
	if n := r.optInt("train_batch_size"); n != nil {
		st.TrainBatchSize = *n
	}
	st.TrialName = r.optString("trial_name")
	st.TrialParams = r.object("trial_params")
	if r.err != nil {
		return r.err
	}
	for k, v := range m {
		if !r.seen[k] {
			if st.Extra == nil {
				st.Extra = map[string]any{}
			}
			st.Extra[k] = v
		}
	}
	*s = st
	return nil
}

// Save writes the state to path atomically (atomicfile.WriteFile), formatted as
// transformers' save_to_json does: indent 2, sorted keys, trailing
// newline. The directory must exist.
func (s *TrainerState) Save(path string) error {
	b, err := pyJSONAppend(nil, s.toMap(), "  ", 0)
	if err != nil {
		return fmt.Errorf("trainer state %s: %w", path, err)
	}
	b = append(b, '\n')
	return atomicfile.WriteFile(path, b, 0o644)
}

// LoadTrainerState reads a trainer_state.json written by Save or by
// transformers.
func LoadTrainerState(path string) (*TrainerState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trainer state: %w", err)
	}
	var s TrainerState
	if err := s.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("trainer state %s: %w", path, err)
	}
	return &s, nil
}

// EntryFloat returns the number under key in a log entry, whatever its
// Go type (json.Number from a loaded file, float64, float32 or an integer
// type from this process).
func EntryFloat(e map[string]any, key string) (float64, bool) {
	return numberValue(e[key])
}

// EntryInt returns the integer under key in a log entry (for "step");
// false when absent, not a number or not integral.
func EntryInt(e map[string]any, key string) (int, bool) {
	f, ok := numberValue(e[key])
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int(f), true
}

func numberValue(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	}
	return 0, false
}

// fieldReader pulls typed fields out of a decoded JSON object, keeping
// the first error.
type fieldReader struct {
	m    map[string]any
	seen map[string]bool
	err  error
}

func (r *fieldReader) get(key string) (any, bool) {
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[key] = true
	v, ok := r.m[key]
	return v, ok && v != nil
}

func (r *fieldReader) fail(key, want string, v any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: want %s, got %s", key, want, pyJSONKind(v))
	}
}

func (r *fieldReader) skip(keys ...string) {
	for _, k := range keys {
		r.get(k)
	}
}

func (r *fieldReader) optInt(key string) *int {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		r.fail(key, "an integer", v)
		return nil
	}
	i, err := strconv.ParseInt(n.String(), 10, 0)
	if err != nil {
		// Python may have written an integral float such as 500.0.
		f, ferr := n.Float64()
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			r.fail(key, "an integer", v)
			return nil
		}
		i = int64(f)
	}
	x := int(i)
	return &x
}

func (r *fieldReader) int(key string, def int) int {
	if p := r.optInt(key); p != nil {
		return *p
	}
	return def
}

func (r *fieldReader) optFloat(key string) *float64 {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	f, isNum := numberValue(v)
	if !isNum {
		r.fail(key, "a number", v)
		return nil
	}
	return &f
}

func (r *fieldReader) optString(key string) *string {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	s, isStr := v.(string)
	if !isStr {
		r.fail(key, "a string", v)
		return nil
	}
	return &s
}

func (r *fieldReader) object(key string) map[string]any {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		r.fail(key, "an object", v)
		return nil
	}
	return m
}

func (r *fieldReader) history(key string) []map[string]any {
	v, ok := r.get(key)
	if !ok {
		return []map[string]any{}
	}
	arr, isArr := v.([]any)
	if !isArr {
		r.fail(key, "an array", v)
		return nil
	}
	out := make([]map[string]any, 0, len(arr))
	for i, e := range arr {
		m, isObj := e.(map[string]any)
		if !isObj {
			r.fail(fmt.Sprintf("%s[%d]", key, i), "an object", e)
			return nil
		}
		out = append(out, m)
	}
	return out
}

// Python-compatible JSON.
//
// transformers writes its JSON with Python's json module, which differs
// from encoding/json: floats print as repr() does (1.0, 1e-05, 1e+16),
// NaN and ±Infinity print as bare NaN/Infinity/-Infinity instead of
// failing, strings are ASCII-only (ensure_ascii) and "<", ">", "&" are not
// escaped. pyJSONAppend and pyJSONDecode implement those conventions for
// trainer_state.json and training_log.jsonl.

// pyJSONAppend appends v to b. With a non-empty indent it lays out nested
// values one per line like json.dumps(indent=...) (separators "," and
// ": "); with an empty one it writes a single line with json.dumps'
// default separators ", " and ": ". Map keys are sorted. Supported: nil,
// bool, strings, json.Number, all integer and float types, maps with
// string keys, slices, arrays and pointers to these; anything else (such
// as a struct) goes through encoding/json first.
func pyJSONAppend(b []byte, v any, indent string, depth int) ([]byte, error) {
	if depth > 1000 {
		return nil, errors.New("json: nesting too deep")
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return pyQuote(b, x), nil
	case json.Number:
		if !isJSONNumber(string(x)) {
			return nil, fmt.Errorf("json: invalid number %q", string(x))
		}
		return append(b, x...), nil
	case float64:
		return append(b, pyFloat(x)...), nil
	case float32:
		return append(b, pyFloat(float64(x))...), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return pyJSONObject(b, keys, func(k string) any { return x[k] }, indent, depth)
	case []any:
		return pyJSONArray(b, len(x), func(i int) any { return x[i] }, indent, depth)
	case []map[string]any:
		return pyJSONArray(b, len(x), func(i int) any { return x[i] }, indent, depth)
	}
	if _, ok := v.(json.Marshaler); ok {
		return pyJSONViaStd(b, v, indent, depth)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool:
		return strconv.AppendBool(b, rv.Bool()), nil
	case reflect.String:
		return pyQuote(b, rv.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(b, rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return append(b, pyFloat(rv.Float())...), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return append(b, "null"...), nil
		}
		return pyJSONAppend(b, rv.Elem().Interface(), indent, depth)
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			if rv.IsNil() {
				return append(b, "null"...), nil
			}
			keys := make([]string, 0, rv.Len())
			vals := make(map[string]any, rv.Len())
			it := rv.MapRange()
			for it.Next() {
				k := it.Key().String()
				keys = append(keys, k)
				vals[k] = it.Value().Interface()
			}
			sort.Strings(keys)
			return pyJSONObject(b, keys, func(k string) any { return vals[k] }, indent, depth)
		}
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return append(b, "null"...), nil
		}
		if rv.Type().Elem().Kind() != reflect.Uint8 { // []byte: base64 via encoding/json
			return pyJSONArray(b, rv.Len(), func(i int) any { return rv.Index(i).Interface() }, indent, depth)
		}
	}
	return pyJSONViaStd(b, v, indent, depth)
}

// pyJSONViaStd encodes v with encoding/json (honouring json tags and
// Marshaler), then re-lays the result out Python's way.
func pyJSONViaStd(b []byte, v any, indent string, depth int) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dv, err := pyJSONDecode(raw)
	if err != nil {
		return nil, err
	}
	return pyJSONAppend(b, dv, indent, depth)
}

func pyJSONObject(b []byte, keys []string, get func(string) any, indent string, depth int) ([]byte, error) {
	if len(keys) == 0 {
		return append(b, "{}"...), nil
	}
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = pySep(b, indent)
		}
		b = pyNewline(b, indent, depth+1)
		b = pyQuote(b, k)
		b = append(b, ": "...)
		if b, err = pyJSONAppend(b, get(k), indent, depth+1); err != nil {
			return nil, err
		}
	}
	b = pyNewline(b, indent, depth)
	return append(b, '}'), nil
}

func pyJSONArray(b []byte, n int, get func(int) any, indent string, depth int) ([]byte, error) {
	if n == 0 {
		return append(b, "[]"...), nil
	}
	b = append(b, '[')
	var err error
	for i := 0; i < n; i++ {
		if i > 0 {
			b = pySep(b, indent)
		}
		b = pyNewline(b, indent, depth+1)
		if b, err = pyJSONAppend(b, get(i), indent, depth+1); err != nil {
			return nil, err
		}
	}
	b = pyNewline(b, indent, depth)
	return append(b, ']'), nil
}

func pySep(b []byte, indent string) []byte {
	if indent == "" {
		return append(b, ", "...)
	}
	return append(b, ',')
}

func pyNewline(b []byte, indent string, depth int) []byte {
	if indent == "" {
		return b
	}
	b = append(b, '\n')
	for i := 0; i < depth; i++ {
		b = append(b, indent...)
	}
	return b
}

// pyFloat formats f as Python's float.__repr__ (and so json.dumps) does:
// the shortest round-tripping digits, in exponent form when the decimal
// exponent is below -4 or at least 16, else positional with at least one
// fractional digit.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	i := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	if exp < -4 || exp >= 16 {
		return e // Go and Python agree: 1e-05, 1.5e+16, 1e+100
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// pyQuote appends s as a JSON string the way json.dumps(ensure_ascii=True)
// writes it: printable ASCII as is, the short escapes \" \\ \n \r \t \b \f,
// everything else as \uXXXX (lowercase hex, surrogate pairs above the
// BMP). Invalid UTF-8 becomes \ufffd.
func pyQuote(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r >= 0x20 && r <= 0x7e:
			b = append(b, byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			b = u(u(b, r1), r2)
		default:
			b = u(b, r)
		}
	}
	return append(b, '"')
}

// isJSONNumber reports whether s is a JSON number literal.
func isJSONNumber(s string) bool {
	n := scanJSONNumber(s, 0)
	return n > 0 && n == len(s)
}

// scanJSONNumber returns the end of the JSON number starting at s[i], or
// -1 if there is none.
func scanJSONNumber(s string, i int) int {
	digits := func(i int) int {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		return j
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(s) && s[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// pyJSONDecode parses one JSON value as Python's json.loads does: standard
// JSON plus the bare words NaN, Infinity and -Infinity; a repeated key
// keeps its last value. Objects become map[string]any, arrays []any,
// numbers json.Number (NaN and ±Infinity float64).
func pyJSONDecode(data []byte) (any, error) {
	d := pyDecoder{s: string(data)}
	d.space()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.s) {
		return nil, d.errorf("unexpected %q after the value", d.s[d.i])
	}
	return v, nil
}

type pyDecoder struct {
	s string
	i int
}

func (d *pyDecoder) errorf(format string, args ...any) error {
	line := 1 + strings.Count(d.s[:d.i], "\n")
	return fmt.Errorf("json: line %d (offset %d): %s", line, d.i, fmt.Sprintf(format, args...))
}

func (d *pyDecoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *pyDecoder) lit(word string) bool {
	if strings.HasPrefix(d.s[d.i:], word) {
		d.i += len(word)
		return true
	}
	return false
}

func (d *pyDecoder) value(depth int) (any, error) {
	if depth > 1000 {
		return nil, d.errorf("nesting too deep")
	}
	if d.i >= len(d.s) {
		return nil, d.errorf("unexpected end of input")
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object(depth)
	case c == '[':
		return d.array(depth)
	case c == '"':
		return d.str()
	case d.lit("null"):
		return nil, nil
	case d.lit("true"):
		return true, nil
	case d.lit("false"):
		return false, nil
	case d.lit("NaN"):
		return math.NaN(), nil
	case d.lit("Infinity"):
		return math.Inf(1), nil
	case d.lit("-Infinity"):
		return math.Inf(-1), nil
	case c == '-' || c >= '0' && c <= '9':
		end := scanJSONNumber(d.s, d.i)
		if end < 0 {
			return nil, d.errorf("bad number")
		}
		n := json.Number(d.s[d.i:end])
		d.i = end
		return n, nil
	default:
		r, _ := utf8.DecodeRuneInString(d.s[d.i:])
		return nil, d.errorf("unexpected %q", r)
	}
}

func (d *pyDecoder) object(depth int) (any, error) {
	d.i++ // {
	m := map[string]any{}
	d.space()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return m, nil
	}
	for {
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, d.errorf("want an object key")
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, d.errorf("want ':' after object key")
		}
		d.i++
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.space()
		if d.i < len(d.s) && d.s[d.i] == ',' {
			d.i++
			continue
		}
		if d.i < len(d.s) && d.s[d.i] == '}' {
			d.i++
			return m, nil
		}
		return nil, d.errorf("want ',' or '}' in object")
	}
}

func (d *pyDecoder) array(depth int) (any, error) {
	d.i++ // [
	a := []any{}
	d.space()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return a, nil
	}
	for {
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.space()
		if d.i < len(d.s) && d.s[d.i] == ',' {
			d.i++
			continue
		}
		if d.i < len(d.s) && d.s[d.i] == ']' {
			d.i++
			return a, nil
		}
		return nil, d.errorf("want ',' or ']' in array")
	}
}

// str parses a string literal; encoding/json does the unescaping.
func (d *pyDecoder) str() (string, error) {
	start := d.i
	j := d.i + 1
	for j < len(d.s) && d.s[j] != '"' {
		if d.s[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(d.s) {
		return "", d.errorf("unterminated string")
	}
	var s string
	if err := json.Unmarshal([]byte(d.s[start:j+1]), &s); err != nil {
		return "", d.errorf("bad string: %v", err)
	}
	d.i = j + 1
	return s, nil
}

// pyJSONKind names a decoded value's JSON type for error messages.
func pyJSONKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}
