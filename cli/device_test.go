package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/cuda"
)

func TestSelectDevice(t *testing.T) {
	noLib := fmt.Errorf("cuda: %w (looked in x)", cuda.ErrNotFound)
	lacks := errors.New("backend cuda (H200) lacks op Embedding, which whole-model runs needs")
	for _, c := range []struct {
		name, device string
		bf16         bool
		probe        gpuProbe
		line, why    string // the line's start, and what follows the backend's name ("" for nothing)
		err          string
	}{
		{"cpu", "cpu", true, gpuProbe{err: noLib, driver: true}, "tune: running on the CPU, cpu", "", ""},
		{"no GPU at all", "auto", true, gpuProbe{err: noLib}, "tune: running on the CPU, cpu", "", ""},
		{"a driver, no library", "auto", true, gpuProbe{err: noLib, driver: true}, "tune: running on the CPU, cpu", "no CUDA library (make cuda", ""},
		{"a library, no GPU", "auto", true, gpuProbe{err: fmt.Errorf("cuda: %w", cuda.ErrNoDevice)}, "tune: running on the CPU, cpu", "no usable CUDA GPU", ""},
		{"a GPU lacking an op", "auto", true, gpuProbe{name: "cuda (H200)", missing: lacks, driver: true}, "tune: running on the CPU, cpu", "cuda (H200) found, but backend cuda (H200) lacks op Embedding", ""},
		{"a GPU", "auto", true, gpuProbe{name: "cuda (H200)", driver: true}, "tune: running on the GPU, ", "bfloat16 activations", ""},
		{"a GPU, fp32", "", false, gpuProbe{name: "cuda (H200)", driver: true}, "tune: running on the GPU, ", "float32 activations", ""},
		{"cuda", "cuda", true, gpuProbe{name: "cuda (H200)"}, "tune: running on the GPU, ", "bfloat16 activations", ""},
		{"cuda without a library", "cuda", true, gpuProbe{err: noLib}, "", "", "--device cuda: cuda: CUDA library not found"},
		{"cuda lacking an op", "cuda", true, gpuProbe{name: "cuda (H200)", missing: lacks}, "", "", "--device cuda: cuda (H200) is there, but backend cuda (H200) lacks op Embedding"},
		{"unknown", "tpu", true, gpuProbe{}, "", "", `--device "tpu": want auto, cpu or cuda`},
	} {
		probed := false
		var opened cuda.Options
		b, line, err := selectDevice(device{name: c.device, threads: 1, bf16: c.bf16,
			probe: func() gpuProbe { probed = true; return c.probe },
			open: func(o cuda.Options) (backend.Backend, error) {
				opened = o
				return fakeGPU{cpu.New(1), o}, nil
			}})
		t.Logf("%s: %q %v", c.name, line, err)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || b != nil {
				t.Errorf("%s: %v, want an error with %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || b == nil || !strings.HasPrefix(line, c.line) || strings.Contains(line, "\n") {
			t.Errorf("%s: %q, %v", c.name, line, err)
		}
		if c.why == "" && strings.Count(line, ": ") != 1 || !strings.Contains(line, c.why) {
			t.Errorf("%s: %q, want %q after the backend", c.name, line, c.why)
		}
		if _, gpu := b.(fakeGPU); gpu && opened.Float32 == c.bf16 {
			t.Errorf("%s: opened the GPU with %+v for --bf16=%v", c.name, opened, c.bf16)
		}
		if c.device == "cpu" && probed {
			t.Errorf("%s: probed the GPU for --device cpu", c.name)
		}
	}
}

// fakeGPU stands in for the CUDA backend: the CPU, named and typed as the
// GPU opened with o.
type fakeGPU struct {
	*cpu.Backend
	o cuda.Options
}

func (g fakeGPU) Name() string { return "cuda (H200)" }
func (g fakeGPU) ActivationDType() backend.DType {
	if g.o.Float32 {
		return backend.Float32
	}
	return backend.BFloat16
}

// TestDeviceLineOncePerProcess: the device line of several commands in one
// process is written once.
func TestDeviceLineOncePerProcess(t *testing.T) {
	var o onceLines
	var w bytes.Buffer
	for range 3 {
		o.print(&w, "tune: running on the CPU, cpu")
	}
	o.print(&w, "tune: running on the CPU, cpu: why")
	if w.String() != "tune: running on the CPU, cpu\ntune: running on the CPU, cpu: why\n" {
		t.Errorf("%q", w.String())
	}
}
