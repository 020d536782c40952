package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tune-dev/tune/cuda"
)

func TestSelectDevice(t *testing.T) {
	noLib := fmt.Errorf("cuda: %w (looked in x)", cuda.ErrNotFound)
	for _, c := range []struct {
		name, device string
		probe        gpuProbe
		line, why    string // the line's start, and what follows the CPU's name ("" for nothing)
		err          string
	}{
		{"cpu", "cpu", gpuProbe{err: noLib, driver: true}, "tune: running on the CPU, cpu", "", ""},
		{"no GPU at all", "auto", gpuProbe{err: noLib}, "tune: running on the CPU, cpu", "", ""},
		{"a driver, no library", "auto", gpuProbe{err: noLib, driver: true}, "tune: running on the CPU, cpu", "no CUDA library (make cuda", ""},
		{"a library, no GPU", "auto", gpuProbe{err: fmt.Errorf("cuda: %w", cuda.ErrNoDevice)}, "tune: running on the CPU, cpu", "no usable CUDA GPU", ""},
		{"a GPU", "auto", gpuProbe{name: "cuda (H200)", driver: true}, "tune: running on the CPU, cpu", "cuda (H200) found, but", ""},
		{"cuda without a library", "cuda", gpuProbe{err: noLib}, "", "", "--device cuda: cuda: CUDA library not found"},
		{"cuda with a GPU", "cuda", gpuProbe{name: "cuda (H200)"}, "", "", "--device cuda: cuda (H200) is there, but"},
		{"unknown", "tpu", gpuProbe{}, "", "", `--device "tpu": want auto, cpu or cuda`},
	} {
		probed := false
		b, line, err := selectDevice(c.device, 1, func() gpuProbe { probed = true; return c.probe })
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
			t.Errorf("%s: %q, want %q after the CPU", c.name, line, c.why)
		}
		if c.device == "cpu" && probed {
			t.Errorf("%s: probed the GPU for --device cpu", c.name)
		}
	}
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
