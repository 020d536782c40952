package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

// Every command flag is wrapped by altsrc so that a value can come, in
// order of precedence, from the command line, the environment (including
// .env), the --config file, or the default.

func strFlag(name, usage, value string, env ...string) ucli.Flag {
	return altsrc.NewStringFlag(&ucli.StringFlag{Name: name, Usage: usage, Value: value, EnvVars: env})
}

func intFlag(name, usage string, value int, env ...string) ucli.Flag {
	return altsrc.NewIntFlag(&ucli.IntFlag{Name: name, Usage: usage, Value: value, EnvVars: env})
}

func floatFlag(name, usage string, value float64, env ...string) ucli.Flag {
	return altsrc.NewFloat64Flag(&ucli.Float64Flag{Name: name, Usage: usage, Value: value, EnvVars: env})
}

// unsetFloat and unsetInt are flags that only count when given; their
// help shows where the value comes from otherwise.
func unsetFloat(name, usage, otherwise string) ucli.Flag {
	return altsrc.NewFloat64Flag(&ucli.Float64Flag{Name: name, Usage: usage, DefaultText: otherwise})
}

func unsetInt(name, usage, otherwise string) ucli.Flag {
	return altsrc.NewIntFlag(&ucli.IntFlag{Name: name, Usage: usage, DefaultText: otherwise})
}

func boolFlag(name, usage string, env ...string) ucli.Flag {
	return altsrc.NewBoolFlag(&ucli.BoolFlag{Name: name, Usage: usage, EnvVars: env})
}

// configSource opens the --config file named on the command line or in
// TUNE_CONFIG: YAML (.yaml, .yml), JSON (.json) or TOML (.toml), keyed by
// flag names. Without one it returns an empty source.
func configSource(c *ucli.Context) (altsrc.InputSourceContext, error) {
	path := ""
	for _, x := range c.Lineage() {
		if x.IsSet("config") {
			path = x.String("config")
			break
		}
	}
	if path == "" {
		return altsrc.NewMapInputSource("", map[interface{}]interface{}{}), nil
	}
	var (
		src altsrc.InputSourceContext
		err error
	)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		src, err = altsrc.NewYamlSourceFromFile(path)
	case ".json":
		src, err = altsrc.NewJSONSourceFromFile(path)
	case ".toml":
		src, err = altsrc.NewTomlSourceFromFile(path)
	default:
		return nil, fmt.Errorf("config file %s: unknown extension (want .yaml, .yml, .json or .toml)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return lenient{src}, nil
}

// lenient accepts a whole number where a float flag is read from a
// config file ("lora_alpha: 32" in YAML is an integer).
type lenient struct{ altsrc.InputSourceContext }

func (l lenient) Float64(name string) (float64, error) {
	f, err := l.InputSourceContext.Float64(name)
	if err == nil {
		return f, nil
	}
	if i, ierr := l.InputSourceContext.Int(name); ierr == nil {
		return float64(i), nil
	}
	return f, err
}

// withConfig makes cmd read its flags' fallbacks from the --config file,
// which may be given before the command (a global flag) or after it.
func withConfig(cmd *ucli.Command) *ucli.Command {
	cmd.Flags = append(cmd.Flags, &ucli.StringFlag{Name: "config", Usage: "YAML, JSON or TOML file of flag values (keys are flag names)", EnvVars: []string{"TUNE_CONFIG"}})
	cmd.Before = altsrc.InitInputSourceWithContext(cmd.Flags, configSource)
	return cmd
}
