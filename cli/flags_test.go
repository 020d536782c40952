package cli

import (
	"flag"
	"testing"

	ucli "github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

// TestFlagBoundsCoverNumericFlags: every numeric flag of the commands
// has a range in flagBounds, and its default lies in it; every Hugging
// Face name points at a real flag and is not one.
func TestFlagBoundsCoverNumericFlags(t *testing.T) {
	e := &env{}
	app := &ucli.App{Flags: []ucli.Flag{&ucli.IntFlag{Name: "threads"}}, Commands: []*ucli.Command{
		e.trainCommand(), e.demoCommand(), e.scoreCommand(), e.generateCommand(), e.evalCommand(), e.benchCommand(),
		e.genDataCommand(), e.serveCommand()}}
	for _, cmd := range append(app.Commands, &ucli.Command{Name: "(global)", Flags: app.Flags}) {
		set := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
		for _, f := range cmd.Flags {
			if err := f.Apply(set); err != nil {
				t.Fatal(err)
			}
		}
		c := ucli.NewContext(app, set, nil)
		for _, f := range cmd.Flags {
			name := f.Names()[0]
			v, _, ok := numeric(c, f)
			if !ok {
				continue
			}
			b, has := flagBounds[name]
			if !has {
				t.Errorf("%s --%s has no range in flagBounds", cmd.Name, name)
				continue
			}
			if unset(f) {
				continue // no default value: it only counts when given
			}
			if !b.holds(v) {
				t.Errorf("%s --%s: the default %v is not %s", cmd.Name, name, v, b)
			}
		}
	}
	all := allFlags(app)
	for hf, to := range hfNames {
		if _, ok := all[hf]; ok {
			t.Errorf("%s is a tune flag and a Hugging Face name", hf)
		}
		if _, ok := all[to.flag]; !ok {
			t.Errorf("%s points at %s, which is no flag", hf, to.flag)
		}
	}
}

// unset reports whether f is an unsetInt or unsetFloat flag, which has
// no default value.
func unset(f ucli.Flag) bool {
	switch x := f.(type) {
	case *altsrc.IntFlag:
		return x.DefaultText != ""
	case *altsrc.Float64Flag:
		return x.DefaultText != ""
	}
	return false
}
