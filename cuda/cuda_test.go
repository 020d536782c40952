//go:build cgo

package cuda

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/conformance"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/quant"
)

// envExpect names the environment variable that says what the tests must
// find, where a run is meant to reach the library:
//   - "gpu" (make test-cuda-emu, scripts/gpu-check.sh): the GPU tests fail,
//     instead of skipping, when the backend does not open;
//   - "no-device" (make test-cuda-emu, with a library that finds no GPU):
//     TestOpenSaysWhatIsMissing requires ErrNoDevice.
const envExpect = "TUNE_CUDA_EXPECT"

// openOrSkip opens the GPU backend, or skips the test saying why there is
// none (no library, no GPU). Every test that calls it is named Test...CUDA:
// make test-cuda-emu and scripts/gpu-check.sh select the GPU tests with
// -test.run 'CUDA$', so a GPU test named otherwise would never run there.
func openOrSkip(t testing.TB) *Backend { return openWithOrSkip(t, Options{}) }

// openWithOrSkip is openOrSkip with options.
func openWithOrSkip(t testing.TB, o Options) *Backend {
	t.Helper()
	if name, _, _ := strings.Cut(t.Name(), "/"); !strings.HasSuffix(name, "CUDA") {
		t.Fatalf("%s opens the GPU, so its name must end in CUDA (the GPU test runs select -test.run 'CUDA$')", name)
	}
	b, err := OpenWith(o)
	if err != nil {
		if os.Getenv(envExpect) == "gpu" {
			t.Fatalf("%s=gpu, but the CUDA backend does not open: %v", envExpect, err)
		}
		t.Skipf("no CUDA backend here: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("%s, library %s", b.Name(), b.Library())
	return b
}

// TestConformanceCUDA runs the suite with every buffer float32 (Alloc),
// then the Forward and Backward ops again with bfloat16 activations
// (AllocActivation), each under its rules (tolerances_test.go).
func TestConformanceCUDA(t *testing.T) {
	b := openOrSkip(t)
	t.Run("float32", func(t *testing.T) { conformance.Test(t, b, cudaTolerances) })
	t.Run("bfloat16", func(t *testing.T) { conformance.TestActivations(t, b, activationTolerances) })
}

func TestFusedCUDA(t *testing.T) {
	conformance.TestFused(t, openOrSkip(t), cpu.New(0), fusedTolerances)
}

// TestTinyAdapterCUDA runs TestTinyAdapter's check on the GPU's kernels.
func TestTinyAdapterCUDA(t *testing.T) { runTinyAdapter(t, openOrSkip(t)) }

// TestOpenSaysWhatIsMissing runs everywhere: without a GPU, Open must fail
// with ErrNotFound (no library) or ErrNoDevice (a library, no GPU).
func TestOpenSaysWhatIsMissing(t *testing.T) {
	b, err := Open()
	expect := os.Getenv(envExpect)
	if err == nil {
		b.Close()
		if expect == "no-device" {
			t.Fatalf("%s=no-device, but %s opened", envExpect, b.Name())
		}
		t.Skip("a GPU and the library are present")
	}
	t.Log(err)
	if expect == "no-device" && !errors.Is(err, ErrNoDevice) {
		t.Fatalf("%s=no-device: Open: %v, want ErrNoDevice", envExpect, err)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		if !strings.Contains(err.Error(), "looked in") && !strings.Contains(err.Error(), envLib) {
			t.Errorf("not-found error does not say where it looked: %v", err)
		}
	case errors.Is(err, ErrNoDevice):
		if !strings.Contains(err.Error(), "built for CUDA") {
			t.Errorf("no-device error does not name the library's CUDA version: %v", err)
		}
	default:
		t.Errorf("Open: %v, want ErrNotFound or ErrNoDevice", err)
	}
}

func TestOpenLibraryErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, LibraryName)
	if err := os.WriteFile(text, []byte("not a library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.so"), "missing.so"},
		{text, "loading " + text},
		// A real shared library without tune's entry points.
		{"libm.so.6", "not a tune CUDA library"},
	} {
		_, err := openLibrary(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("openLibrary(%s) = %v, want an error containing %q", c.path, err, c.want)
		}
	}
	if err := checkABI("x.so", abiVersion+1); err == nil || !strings.Contains(err.Error(), "rebuild it with make cuda") {
		t.Errorf("checkABI of another version: %v", err)
	}
}

// TestBuiltLibrary checks a library built in this checkout (make cuda):
// that it loads, has this ABI version and every entry point, and that
// opening a device either works or says there is no GPU.
func TestBuiltLibrary(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(moduleRoot(wd), "build", "cuda", LibraryName)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no library built here (%v); make cuda builds it", err)
	}
	l, err := openLibrary(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.open(0)
	if err != nil {
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("open without a GPU: %v, want ErrNoDevice", err)
		}
		t.Log(err)
		return
	}
	t.Log(b.Name())
	b.Close()
}

func randn(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// TestDequantizeExactCUDA checks both output types on 16-byte aligned buffers
// (the vector path) and on odd sizes (the per-element tail) bit for bit
// against package quant.
func TestDequantizeExactCUDA(t *testing.T) {
	b := openOrSkip(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		rows, cols, block int
		double            bool
	}{{64, 448, 64, true}, {96, 256, 64, false}, {7, 1001, 4096, true}, {3, 33, 32, false}} {
		w := randn(rng, c.rows*c.cols, 0.05)
		nf, err := quant.Quantize(w, []int{c.rows, c.cols}, c.block, c.double)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, len(w))
		nf.Dequantize(want)
		q := b.UploadNF4(nf)
		for _, out := range []backend.Buffer{b.Alloc(len(w)), b.AllocActivation(len(w))} {
			b.Dequantize(out, q)
			got := make([]float32, len(w))
			b.Download(got, out)
			bf := out.(*buffer).dt == bf16
			for i := range got {
				wi := want[i]
				if bf {
					wi = bf16Float(bf16Bits(wi))
				}
				if got[i] != wi {
					t.Fatalf("%+v to %s: element %d = %v, want %v", c, out.(*buffer).dt, i, got[i], wi)
				}
			}
			b.Free(out)
		}
		b.Free(q)
	}
}

// TestAdamWMatchesCPUCUDA checks the vector path (slices of one arena sharing
// their alignment, with a scalar head and tail) and the scalar path
// (differently aligned slices) bit for bit against backend/cpu.
func TestAdamWMatchesCPUCUDA(t *testing.T) {
	b := openOrSkip(t)
	c := cpu.New(0)
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 4099
	for _, offs := range [][4]int{{0, 0, 0, 0}, {1, 1, 1, 1}, {3, 2, 1, 0}} {
		arenas := make([]backend.Buffer, 4)
		refs := make([]backend.Buffer, 4)
		views := make([]backend.Buffer, 4)
		init := [][]float32{randn(rng, n, 1), nil, make([]float32, n), make([]float32, n)}
		for i := range arenas {
			arenas[i] = b.Alloc(n + 3)
			views[i] = b.Slice(arenas[i], offs[i], n)
			refs[i] = c.Alloc(n)
			if init[i] != nil {
				b.Upload(views[i], init[i])
				c.Upload(refs[i], init[i])
			}
		}
		for step := 1; step <= 3; step++ {
			g := randn(rng, n, 0.1)
			b.Upload(views[1], g)
			c.Upload(refs[1], g)
			s := backend.AdamWStep{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: step, GradScale: 0.7}
			b.AdamW(views[0], views[1], views[2], views[3], n, s)
			c.AdamW(refs[0], refs[1], refs[2], refs[3], n, s)
			for i, name := range []string{"p", "g", "m", "v"} {
				got, want := make([]float32, n), make([]float32, n)
				b.Download(got, views[i])
				c.Download(want, refs[i])
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
						t.Fatalf("offsets %v step %d: %s[%d] = %v, CPU %v", offs, step, name, j, got[j], want[j])
					}
				}
			}
		}
		for _, a := range arenas {
			b.Free(a)
		}
	}
}

// TestOpenWithBadLibraryVariable: TUNE_CUDA_LIB naming a file that is not a
// library gives an error naming it, not a crash or a silent CPU.
func TestOpenWithBadLibraryVariable(t *testing.T) {
	loadMu.Lock()
	saved := loaded
	loaded = nil
	loadMu.Unlock()
	t.Cleanup(func() {
		loadMu.Lock()
		loaded = saved
		loadMu.Unlock()
	})
	bad := filepath.Join(t.TempDir(), "libtune_cuda.so")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envLib, bad)
	_, err := Open()
	if err == nil || !strings.Contains(err.Error(), "loading "+bad) {
		t.Fatalf("Open with %s=%s: %v, want a loading error naming the file", envLib, bad, err)
	}
	t.Log(err)
}
