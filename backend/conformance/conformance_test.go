package conformance_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/conformance"
	"github.com/tune-dev/tune/backend/cpu"
)

// wrongAdd is the CPU backend declaring only Add and AddScaled, with an Add
// that is off by 1e-3 of b.
type wrongAdd struct{ *cpu.Backend }

func (w wrongAdd) Ops() backend.OpSet { return backend.Set(backend.OpAdd, backend.OpAddScaled) }

func (w wrongAdd) Add(out, a, b backend.Buffer, n int) {
	w.Backend.Add(out, a, b, n)
	w.Backend.AddScaled(out, b, 1e-3, n)
}

// memoryOnly has only the methods of backend.Memory but declares
// Embedding.
type memoryOnly struct{ backend.Memory }

func (memoryOnly) Ops() backend.OpSet { return backend.Set(backend.OpEmbedding) }

// panicking declares RMSNorm, whose implementation panics.
type panicking struct{ *cpu.Backend }

func (panicking) Ops() backend.OpSet { return backend.Set(backend.OpRMSNorm) }

func (panicking) RMSNorm(out, x, w backend.Buffer, rows, dim int, eps float32) {
	panic("RMSNorm is not written yet")
}

// brokenBackends are run by TestSuiteFailsBrokenBackends in a child
// process, each expected to fail the suite with the given text.
var brokenBackends = map[string]struct {
	b    backend.Memory
	want string
}{
	"wrong op":        {wrongAdd{cpu.New(1)}, "--- FAIL: TestSuiteFailsBrokenBackends/Add "},
	"missing methods": {memoryOnly{cpu.New(1)}, "declares op Embedding but does not implement backend.Forward"},
	"panic":           {panicking{cpu.New(1)}, "RMSNorm panicked: RMSNorm is not written yet"},
}

// TestSuiteFailsBrokenBackends checks that conformance.Test fails on an op
// that is declared and wrong, on one declared without its interface and on
// one that panics. Each case runs the suite in a child process (a failing
// suite fails its test), and the parent checks the child failed for the
// right reason.
func TestSuiteFailsBrokenBackends(t *testing.T) {
	if name := os.Getenv("CONFORMANCE_BROKEN"); name != "" {
		conformance.Test(t, brokenBackends[name].b, conformance.CPUTolerances)
		return
	}
	for name, c := range brokenBackends {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteFailsBrokenBackends$", "-test.v")
		cmd.Env = append(os.Environ(), "CONFORMANCE_BROKEN="+name)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%s: the suite passed:\n%s", name, out)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%s: the suite failed without %q:\n%s", name, c.want, out)
		}
	}
}

// TestSuitePassesDeclaredSubset checks that ops a backend declares missing
// are not tested, and that those it declares pass when right.
func TestSuitePassesDeclaredSubset(t *testing.T) {
	conformance.Test(t, subset{cpu.New(1)}, conformance.CPUTolerances)
}

// subset is the CPU backend declaring only Add and AddScaled.
type subset struct{ *cpu.Backend }

func (subset) Ops() backend.OpSet { return backend.Set(backend.OpAdd, backend.OpAddScaled) }

// partialForward has Memory and, of backend.Forward, RMSNorm alone, which
// it declares: a backend that implements part of a group.
type partialForward struct {
	backend.Memory
	c *cpu.Backend
}

func (partialForward) Ops() backend.OpSet { return backend.Set(backend.OpRMSNorm) }

func (p partialForward) RMSNorm(out, x, w backend.Buffer, rows, dim int, eps float32) {
	p.c.RMSNorm(out, x, w, rows, dim, eps)
}

// TestSuitePassesPartialGroup checks that a backend implementing only the
// methods of the Forward ops it declares passes, and that backend.Require
// accepts it for those ops and names the method it lacks for another.
func TestSuitePassesPartialGroup(t *testing.T) {
	c := cpu.New(1)
	p := partialForward{c, c}
	conformance.Test(t, p, conformance.CPUTolerances)
	if err := backend.Require(p, backend.Set(backend.OpRMSNorm), "the test"); err != nil {
		t.Errorf("Require(RMSNorm): %v", err)
	}
	err := backend.Require(declaresAdd{p}, backend.Set(backend.OpRMSNorm, backend.OpAdd), "the test")
	if want := "declares op Add but does not implement backend.Forward.Add"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Require(Add) without the method: %v, want an error containing %q", err, want)
	}
}

// declaresAdd is partialForward declaring Add too, without its method.
type declaresAdd struct{ partialForward }

func (declaresAdd) Ops() backend.OpSet { return backend.Set(backend.OpRMSNorm, backend.OpAdd) }
