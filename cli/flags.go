package cli

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/tune-dev/tune/contract"
)

// Every command flag is wrapped by altsrc so that a value can come, in
// order of precedence, from the command line, the environment (including
// .env), the --config file, or the default.

func strFlag(name, usage, value string, env ...string) ucli.Flag {
	return altsrc.NewStringFlag(&ucli.StringFlag{Name: name, Usage: usage, Value: value, EnvVars: env})
}

// listFlag is a string flag holding a comma-separated list; a config file
// may give it as a list.
type listFlag struct{ *altsrc.StringFlag }

func listStrFlag(name, usage, value string) ucli.Flag {
	return &listFlag{altsrc.NewStringFlag(&ucli.StringFlag{Name: name, Usage: usage, Value: value})}
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

// configUsage is the help of --config, global and per command.
const configUsage = "YAML, JSON or TOML file of flag values (keys are flag names)"

// withConfig makes cmd read its flags' fallbacks from the --config file,
// which may be given before the command (a global flag) or after it, and
// check every numeric flag before the command runs.
func withConfig(cmd *ucli.Command) *ucli.Command {
	cmd.Flags = append(cmd.Flags, &ucli.StringFlag{Name: "config", Usage: configUsage, EnvVars: []string{"TUNE_CONFIG"}})
	cmd.Before = func(c *ucli.Context) error {
		st := stateOf(c)
		if err := applyConfig(c, st); err != nil {
			return err
		}
		return checkFlags(c, st)
	}
	return cmd
}

// runState is what the flag checks need to know about one Run: the raw
// command line (to tell a flag given there from one its environment
// variable set) and where the config file set a flag.
type runState struct {
	args       []string
	fromConfig map[string]string // flag name -> "config file F:LINE"
}

// stateKey is runState's key in the app's Metadata.
const stateKey = "tune.runState"

func stateOf(c *ucli.Context) *runState {
	if st, ok := c.App.Metadata[stateKey].(*runState); ok {
		return st
	}
	panic("cli: the app has no runState (Run sets it)")
}

// source names where flag name's value (written text) came from, for
// messages: "--name text", "ENV=text (--name)" or "config file F:L: name
// text".
func (st *runState) source(name, text string, envVars []string) string {
	for _, a := range st.args {
		if a == "--" {
			break
		}
		if f := strings.TrimLeft(a, "-"); len(f) < len(a) && (f == name || strings.HasPrefix(f, name+"=")) {
			return "--" + name + " " + text
		}
	}
	if where, ok := st.fromConfig[name]; ok {
		return where + ": " + name + " " + text
	}
	for _, ev := range envVars {
		if v, ok := os.LookupEnv(ev); ok {
			return ev + "=" + v + " (--" + name + ")"
		}
	}
	return "--" + name + " " + text
}

// bound is the range a numeric flag's value must lie in; NaN and the
// infinities never do.
type bound struct {
	lo, hi         float64
	openLo, openHi bool
	note           string // what an edge value means, for the message
}

func atLeast(lo float64, note string) bound { return bound{lo: lo, hi: math.Inf(1), note: note} }

var positive = bound{lo: 0, hi: math.Inf(1), openLo: true}

func (b bound) holds(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) &&
		(v > b.lo || !b.openLo && v == b.lo) && (v < b.hi || !b.openHi && v == b.hi)
}

func (b bound) String() string {
	switch {
	case math.IsInf(b.hi, 1) && b.openLo && b.lo == 0:
		return "positive"
	case math.IsInf(b.hi, 1):
		return fmt.Sprintf("at least %g", b.lo)
	}
	l, r := "[", "]"
	if b.openLo {
		l = "("
	}
	if b.openHi {
		r = ")"
	}
	return fmt.Sprintf("in %s%g, %g%s", l, b.lo, b.hi, r)
}

// flagBounds is the one table of the ranges of numeric flags, by name
// (a name means the same in every command that has it).
var flagBounds = map[string]bound{
	"threads": atLeast(0, " (0: all cores)"),

	"lora_r":                      atLeast(1, ""),
	"lora_alpha":                  positive,
	"lora_dropout":                {lo: 0, hi: 1, openHi: true, note: " (1 would drop every input of the LoRA branch)"},
	"batch_size":                  atLeast(1, ""),
	"gradient_accumulation_steps": atLeast(1, ""),
	"num_epochs":                  atLeast(1, ""),
	"max_steps":                   atLeast(-1, " (-1 or 0: --num_epochs decides)"),
	"max_length":                  atLeast(2, ""),
	"learning_rate":               positive,
	"warmup_steps":                atLeast(0, ""),
	"warmup_ratio":                {lo: 0, hi: 1},
	"weight_decay":                atLeast(0, ""),
	"max_grad_norm":               atLeast(0, " (0: no clipping)"),
	"seed":                        atLeast(0, ""),
	"logging_steps":               atLeast(1, ""),
	"eval_steps":                  atLeast(0, " (0: --logging_steps)"),
	"save_steps":                  atLeast(0, " (0: only at the end)"),
	"save_total_limit":            atLeast(0, " (0: keep all)"),
	"early_stopping_patience":     atLeast(0, " (0: never stop early)"),
	"eval_max_examples":           atLeast(0, " (0: every test record)"),
	"eval_max_new_tokens":         atLeast(1, ""),
	"ddp_timeout":                 atLeast(1, " second"),
	"replica_check_steps":         atLeast(0, " (0: only at the start and at checkpoints)"),

	"steps":              atLeast(1, ""),
	"max_new_tokens":     atLeast(1, ""),
	"temperature":        positive,
	"top_p":              {lo: 0, hi: 1, openLo: true},
	"top_k":              atLeast(0, " (0: all tokens)"),
	"repetition_penalty": positive,

	"max_batch":        atLeast(1, ""),
	"max_context":      atLeast(0, " (0: 4096, or max_position_embeddings when smaller)"),
	"max_queue":        atLeast(0, ""),
	"max_tokens":       atLeast(1, ""),
	"max_body":         atLeast(1, " byte"),
	"port":             {lo: 0, hi: 65535, note: " (0: any free port)"},
	"shutdown_timeout": atLeast(0, " seconds"),

	"num_augmentations":  atLeast(0, ""),
	"unanswerable_ratio": {lo: 0, hi: contract.MaxUnanswerableRatio},
	"teacher_workers":    atLeast(1, ""),

	"seq":    atLeast(1, ""),
	"batch":  atLeast(1, ""),
	"iters":  atLeast(1, ""),
	"decode": atLeast(0, " (0: off)"),
}

// numeric reads the value of an int or float flag, with its text; ok is
// false for other flags.
func numeric(c *ucli.Context, f ucli.Flag) (v float64, text string, ok bool) {
	name := f.Names()[0]
	switch f.(type) {
	case *altsrc.IntFlag, *ucli.IntFlag:
		i := c.Int(name)
		return float64(i), strconv.Itoa(i), true
	case *altsrc.Float64Flag, *ucli.Float64Flag:
		x := c.Float64(name)
		return x, strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return 0, "", false
}

// checkFlags checks every numeric flag of the command, and the global
// ones, that was given (on the command line, in the environment or in the
// config file) against flagBounds, naming where a bad value came from.
func checkFlags(c *ucli.Context, st *runState) error {
	if err := checkFlagList(c, c.App.Flags, st); err != nil { // c looks the global flags up
		return err
	}
	return checkFlagList(c, c.Command.Flags, st)
}

// checkFlagList checks the given flags of ctx (see checkFlags).
func checkFlagList(ctx *ucli.Context, flags []ucli.Flag, st *runState) error {
	for _, f := range flags {
		name := f.Names()[0]
		b, ok := flagBounds[name]
		if !ok || !ctx.IsSet(name) {
			continue
		}
		v, text, ok := numeric(ctx, f)
		if ok && !b.holds(v) {
			var env []string
			if e, ok := f.(interface{ GetEnvVars() []string }); ok {
				env = e.GetEnvVars()
			}
			return fmt.Errorf("%s: must be %s%s", st.source(name, text, env), b, b.note)
		}
	}
	return nil
}
