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

// openOrSkip opens the GPU backend, or skips the test saying why there is
// none (no library, no GPU).
func openOrSkip(t testing.TB) *Backend {
	t.Helper()
	b, err := Open()
	if err != nil {
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

func TestConformanceCUDA(t *testing.T) {
	conformance.Test(t, openOrSkip(t), cudaTolerances)
}

func TestFusedCUDA(t *testing.T) {
	conformance.TestFused(t, openOrSkip(t), cpu.New(0), fusedTolerances)
}

// TestOpenSaysWhatIsMissing runs everywhere: without a GPU, Open must fail
// with ErrNotFound (no library) or ErrNoDevice (a library, no GPU).
func TestOpenSaysWhatIsMissing(t *testing.T) {
	b, err := Open()
	if err == nil {
		b.Close()
		t.Skip("a GPU and the library are present")
	}
	t.Log(err)
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

// TestDequantizeExact checks both output types on 16-byte aligned buffers
// (the vector path) and on odd sizes (the per-element tail) bit for bit
// against package quant.
func TestDequantizeExact(t *testing.T) {
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

// TestAdamWMatchesCPU checks the vector path (slices of one arena sharing
// their alignment, with a scalar head and tail) and the scalar path
// (differently aligned slices) bit for bit against backend/cpu.
func TestAdamWMatchesCPU(t *testing.T) {
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

// TestLoRALinearAligned runs the fused layer on 16-byte aligned buffers
// with in % 8 == 0, the vector paths the model takes (conformance.TestFused
// puts every buffer between guard zones, which misaligns dense weights),
// against the CPU emulation of the kernels.
func TestLoRALinearAligned(t *testing.T) {
	b := openOrSkip(t)
	e := emulator{cpu.New(0)}
	rng := rand.New(rand.NewPCG(5, 6))
	s := backend.LoRAShape{Rows: 24, In: 264, Out: 136, Rank: 16, Scale: 2}
	wv := randn(rng, s.Out*s.In, 1/math.Sqrt(float64(s.In)))
	nf, err := quant.Quantize(wv, []int{s.Out, s.In}, 64, true)
	if err != nil {
		t.Fatal(err)
	}
	av, bv := randn(rng, s.Rank*s.In, 0.06), randn(rng, s.Out*s.Rank, 0.25)
	xv, dyv, biasv := randn(rng, s.Rows*s.In, 1), randn(rng, s.Rows*s.Out, 1), randn(rng, s.Out, 0.3)
	type side struct {
		be                         backend.Memory
		f                          backend.LoRALinear
		weights                    map[string]backend.Buffer
		x, dy, a, bm, bias, da, db backend.Buffer
	}
	setup := func(be interface {
		backend.Memory
		backend.Quant
		backend.LoRALinear
	}) *side {
		up := func(buf backend.Buffer, v []float32) backend.Buffer { be.Upload(buf, v); return buf }
		w32, w16 := up(be.Alloc(len(wv)), wv), up(be.AllocActivation(len(wv)), wv)
		return &side{be: be, f: be,
			weights: map[string]backend.Buffer{"nf4": be.UploadNF4(nf), "float32": w32, "bfloat16": w16},
			x:       up(be.AllocActivation(len(xv)), xv), dy: up(be.AllocActivation(len(dyv)), dyv),
			a: up(be.Alloc(len(av)), av), bm: up(be.Alloc(len(bv)), bv), bias: up(be.Alloc(len(biasv)), biasv),
			da: be.Alloc(len(av)), db: be.Alloc(len(bv))}
	}
	gpu, ref := setup(b), setup(e)
	for _, kind := range []string{"nf4", "float32", "bfloat16"} {
		outs := make([][]float32, 2)
		for i, sd := range []*side{gpu, ref} {
			y, dx := sd.f.AllocActivation(s.Rows*s.Out), sd.f.AllocActivation(s.Rows*s.In)
			sd.f.LoRALinearForward(y, sd.x, sd.weights[kind], sd.bias, sd.a, sd.bm, s)
			sd.be.Zero(sd.da, len(av))
			sd.be.Zero(sd.db, len(bv))
			sd.f.LoRALinearBackward(dx, sd.da, sd.db, sd.dy, sd.x, sd.weights[kind], sd.a, sd.bm, s)
			for _, r := range []struct {
				buf backend.Buffer
				n   int
			}{{y, s.Rows * s.Out}, {dx, s.Rows * s.In}, {sd.da, len(av)}, {sd.db, len(bv)}} {
				v := make([]float32, r.n)
				sd.be.Download(v, r.buf)
				outs[i] = append(outs[i], v...)
			}
		}
		var maxRef, worst float64
		for j := range outs[0] {
			maxRef = math.Max(maxRef, math.Abs(float64(outs[1][j])))
			worst = math.Max(worst, math.Abs(float64(outs[0][j]-outs[1][j])))
		}
		t.Logf("%s weight: max difference from the emulation %.2e of max %.3g", kind, worst/maxRef, maxRef)
		if worst > fusedTolerances.Forward.Rtol*maxRef {
			t.Errorf("%s weight: GPU and emulation differ by %.3g (max %.3g)", kind, worst, maxRef)
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
