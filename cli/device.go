package cli

import (
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

// cudaOps says what the CUDA backend runs so far.
const cudaOps = "its ops one by one (NF4, the fused NF4+LoRA layer, AdamW, norms, RoPE, linear layers, attention, loss)"

// gpuProbe is what the machine offers tune: the GPU the CUDA library opened
// (name), or why it did not (err); driver tells whether an NVIDIA driver is
// there, so a missing library matters.
type gpuProbe struct {
	name   string
	err    error
	driver bool
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
	g.Close()
	return p
})

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

// selectDevice returns the backend for --device (auto, cpu or cuda) and the
// line that says which backend runs and, when auto settles on the CPU
// although the machine has a GPU or the CUDA library, why. probe is called
// only when the GPU matters. The CUDA backend does not run a whole model
// yet, so auto always settles on the CPU and cuda is an error that says so;
// both name the GPU when there is one.
func selectDevice(device string, threads int, probe func() gpuProbe) (backend.Backend, string, error) {
	switch device {
	case "cpu":
		c := cpu.New(threads)
		return c, "tune: running on the CPU, " + c.Name(), nil
	case "auto", "":
		c := cpu.New(threads)
		line := "tune: running on the CPU, " + c.Name()
		if why := whyNotGPU(probe()); why != "" {
			line += ": " + why
		}
		return c, line, nil
	case "cuda":
		p := probe()
		if p.err != nil {
			return nil, "", fmt.Errorf("--device cuda: %w", p.err)
		}
		return nil, "", fmt.Errorf("--device cuda: %s is there, but the CUDA backend runs only %s so far; "+
			"whole-model GPU runs come with the next CUDA issue (use --device auto or cpu)", p.name, cudaOps)
	}
	return nil, "", fmt.Errorf("--device %q: want auto, cpu or cuda", device)
}

// whyNotGPU says in a few words why --device auto runs on the CPU, or
// nothing on a machine with neither a GPU driver nor the CUDA library.
func whyNotGPU(p gpuProbe) string {
	switch {
	case p.err == nil:
		return fmt.Sprintf("%s found, but the CUDA backend runs only %s so far, not whole models", p.name, cudaOps)
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
