package cli

import (
	"errors"
	"fmt"
	"io"

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
const cudaOps = "NF4 dequantization, the fused NF4+LoRA linear layer and AdamW"

// selectDevice returns the backend for --device (auto, cpu or cuda) and
// writes one line to w saying which backend runs and, when auto settles on
// the CPU, why. The CUDA backend does not run a whole model yet, so auto
// always settles on the CPU and cuda is an error that says so; both name
// the GPU when there is one.
func selectDevice(device string, threads int, w io.Writer) (backend.Backend, error) {
	switch device {
	case "cpu":
		c := cpu.New(threads)
		fmt.Fprintf(w, "tune: running on the CPU, %s\n", c.Name())
		return c, nil
	case "auto", "":
		c := cpu.New(threads)
		fmt.Fprintf(w, "tune: running on the CPU, %s: %s\n", c.Name(), whyNotGPU())
		return c, nil
	case "cuda":
		g, err := cuda.Open()
		if err != nil {
			return nil, fmt.Errorf("--device cuda: %w", err)
		}
		name := g.Name()
		g.Close()
		return nil, fmt.Errorf("--device cuda: %s is there, but the CUDA backend runs only %s so far; "+
			"whole-model GPU runs come with the next CUDA issue (use --device auto or cpu)", name, cudaOps)
	}
	return nil, fmt.Errorf("--device %q: want auto, cpu or cuda", device)
}

// whyNotGPU says in a few words why --device auto runs on the CPU.
func whyNotGPU() string {
	g, err := cuda.Open()
	switch {
	case errors.Is(err, cuda.ErrNotFound):
		return "no CUDA library (make cuda builds " + cuda.LibraryName + ", or set TUNE_CUDA_LIB)"
	case err != nil:
		return err.Error()
	}
	name := g.Name()
	g.Close()
	return fmt.Sprintf("%s found, but the CUDA backend runs only %s so far, not whole models", name, cudaOps)
}
