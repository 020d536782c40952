package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/cuda"
)

// deviceFlag is the global --device flag: which backend model commands run
// on.
func deviceFlag() ucli.Flag {
	return &ucli.StringFlag{Name: "device", Value: "auto", EnvVars: []string{"TUNE_DEVICE"},
		Usage: "compute device: auto (the GPU when tune can run the model there, else the CPU), cpu or cuda"}
}

// bf16Flag is the global --bf16 flag: how the GPU stores activations and
// frozen weights.
func bf16Flag() ucli.Flag {
	return &ucli.BoolFlag{Name: "bf16", Value: true, EnvVars: []string{"TUNE_BF16"},
		Usage: "on the GPU, keep activations and frozen base weights in bfloat16 (fp32 accumulation); " +
			"--bf16=false keeps them in float32 (twice the memory, slower; for comparing with the CPU). " +
			"The CPU always computes in float32 and ignores it"}
}

// scheduleOps are the ops a backend must run for tune to put whole models
// on it: every op of backend.Backend, which inference, evaluation and
// training (LoRA and QLoRA, with dropout and recomputation) call between
// them. The fused ops are optional: package backend composes them.
const scheduleOps = backend.BackendOps

// gpuProbe is what the machine offers tune: the GPU the CUDA library opened
// (name) and, when its backend lacks an op the schedule needs, which
// (missing); or why it did not open (err). driver tells whether an NVIDIA
// driver is there, so a missing library matters.
type gpuProbe struct {
	name    string
	missing error
	err     error
	driver  bool
}

// probeGPU looks for the GPU once per process: opening the library and a
// context costs time, and the answer does not change.
var probeGPU = sync.OnceValue(func() gpuProbe {
	p := gpuProbe{driver: nvidiaDriver()}
	g, err := cuda.Open()
	if err != nil {
		p.err = err
		return p
	}
	p.name = g.Name()
	p.missing = requireSchedule(g)
	g.Close()
	return p
})

// requireSchedule reports the first op of the schedule that g lacks. g is
// a *cuda.Backend, which is no backend.Memory in a build without cgo
// (where cuda.Open always fails).
func requireSchedule(g any) error {
	m, ok := g.(backend.Memory)
	if !ok {
		return errors.New("the CUDA backend of this build is no backend")
	}
	return backend.Require(m, scheduleOps, "whole-model runs")
}

// openGPU opens the CUDA backend a command runs on.
func openGPU(o cuda.Options) (backend.Backend, error) {
	g, err := cuda.OpenWith(o)
	if err != nil {
		return nil, err
	}
	if err := requireSchedule(g); err != nil {
		g.Close()
		return nil, err
	}
	return any(g).(backend.Backend), nil
}

// nvidiaDriver reports whether an NVIDIA driver is loaded (its proc entry
// or device nodes exist).
func nvidiaDriver() bool {
	for _, p := range []string{"/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// device is what selectDevice needs to know: the flags, and how to probe
// for and open the GPU (probe is called only when the GPU matters).
type device struct {
	name    string // --device
	threads int    // --threads, for the CPU
	bf16    bool   // --bf16, for the GPU
	probe   func() gpuProbe
	open    func(cuda.Options) (backend.Backend, error)
}

// selectDevice returns the backend for --device (auto, cpu or cuda) and the
// line that says which backend runs and, when auto settles on the CPU
// although the machine has a GPU or the CUDA library, why. auto takes the
// GPU when its backend runs every op of the schedule; cuda insists on it
// and says what is missing otherwise.
func selectDevice(d device) (backend.Backend, string, error) {
	onCPU := func(why string) (backend.Backend, string, error) {
		c := cpu.New(d.threads)
		line := "tune: running on the CPU, " + c.Name()
		if why != "" {
			line += ": " + why
		}
		return c, line, nil
	}
	switch d.name {
	case "cpu":
		return onCPU("")
	case "auto", "":
		p := d.probe()
		if why := whyNotGPU(p); why != "" || p.err != nil {
			return onCPU(why)
		}
		return d.onGPU()
	case "cuda":
		p := d.probe()
		if p.err != nil {
			return nil, "", fmt.Errorf("--device cuda: %w", p.err)
		}
		if p.missing != nil {
			return nil, "", fmt.Errorf("--device cuda: %s is there, but %w (rebuild the library with make cuda from this checkout, or use --device cpu)", p.name, p.missing)
		}
		return d.onGPU()
	}
	return nil, "", fmt.Errorf("--device %q: want auto, cpu or cuda", d.name)
}

// onGPU opens the CUDA backend with --bf16's storage.
func (d device) onGPU() (backend.Backend, string, error) {
	g, err := d.open(cuda.Options{Float32: !d.bf16})
	if err != nil {
		return nil, "", fmt.Errorf("--device %s: %w", cmp.Or(d.name, "auto"), err)
	}
	return g, fmt.Sprintf("tune: running on the GPU, %s, %s activations and weights", g.Name(), g.ActivationDType()), nil
}

// whyNotGPU says in a few words why --device auto runs on the CPU, or
// nothing when it can run on the GPU or the machine has neither a GPU
// driver nor the CUDA library.
func whyNotGPU(p gpuProbe) string {
	switch {
	case p.err == nil && p.missing != nil:
		return fmt.Sprintf("%s found, but %v (rebuild the library with make cuda)", p.name, p.missing)
	case p.err == nil:
		return ""
	case errors.Is(p.err, cuda.ErrNotFound) && !p.driver:
		return ""
	case errors.Is(p.err, cuda.ErrNotFound):
		return "an NVIDIA driver is here but no CUDA library (make cuda builds " + cuda.LibraryName + ", or set TUNE_CUDA_LIB)"
	}
	return p.err.Error()
}

// onceLines writes each distinct line once per process: commands run in
// one process (the tests, a server loading several models) say which
// device they use once.
type onceLines struct {
	mu   sync.Mutex
	seen map[string]bool
}

var deviceLines onceLines

func (o *onceLines) print(w io.Writer, line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[line] {
		return
	}
	if o.seen == nil {
		o.seen = map[string]bool{}
	}
	o.seen[line] = true
	fmt.Fprintln(w, line)
}
