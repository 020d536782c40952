//go:build cgo

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/quant"
)

// layerCall is one forward and backward call of the fused layer with
// values drawn from seed. The activations, their gradients, the bias, A, B,
// dA, dB and a dense W are views that start offset elements into their
// allocation (offset 0: 16-byte aligned).
type layerCall struct {
	s      backend.LoRAShape
	weight string // "nf4", "float32" or "bfloat16"
	bias   bool
	offset int
	seed   uint64
}

func (c layerCall) String() string {
	s := c.s
	return fmt.Sprintf("rows=%d in=%d out=%d rank=%d dropout=%g, %s weight, bias=%v, offset %d", s.Rows, s.In, s.Out,
		s.Rank, s.Dropout, c.weight, c.bias, c.offset)
}

// run makes call c on f and returns y, dx, dA and dB (dA and dB start from
// values of their own).
func (c layerCall) run(t *testing.T, f fusedOps) [4][]float32 {
	t.Helper()
	s := c.s
	rng := rand.New(rand.NewPCG(c.seed, 7))
	wv := randn(rng, s.Out*s.In, 1/math.Sqrt(float64(s.In)))
	av, bv := randn(rng, s.Rank*s.In, 0.06), randn(rng, s.Out*s.Rank, 0.25)
	xv, dyv, biasv := randn(rng, s.Rows*s.In, 1), randn(rng, s.Rows*s.Out, 1), randn(rng, s.Out, 0.3)
	dav, dbv := randn(rng, s.Rank*s.In, 0.1), randn(rng, s.Out*s.Rank, 0.1)
	var whole []backend.Buffer
	view := func(alloc func(int) backend.Buffer, v []float32) backend.Buffer {
		w := alloc(len(v) + c.offset)
		whole = append(whole, w)
		x := f.Slice(w, c.offset, len(v))
		if v != nil {
			f.Upload(x, v)
		}
		return x
	}
	var w backend.Buffer
	switch c.weight {
	case "nf4":
		nf, err := quant.Quantize(wv, []int{s.Out, s.In}, 64, true)
		if err != nil {
			t.Fatal(err)
		}
		w = f.UploadNF4(nf)
		whole = append(whole, w)
	case "float32":
		w = view(f.Alloc, wv)
	case "bfloat16":
		w = view(f.AllocActivation, wv)
	default:
		t.Fatalf("weight %q", c.weight)
	}
	var bias backend.Buffer
	if c.bias {
		bias = view(f.Alloc, biasv)
	}
	x, dy := view(f.AllocActivation, xv), view(f.AllocActivation, dyv)
	a, bm, da, db := view(f.Alloc, av), view(f.Alloc, bv), view(f.Alloc, dav), view(f.Alloc, dbv)
	nan := func(n int) []float32 { // an output element never written stays NaN
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.NaN())
		}
		return v
	}
	y, dx := view(f.AllocActivation, nan(s.Rows*s.Out)), view(f.AllocActivation, nan(s.Rows*s.In))
	f.LoRALinearForward(y, x, w, bias, a, bm, s)
	f.LoRALinearBackward(dx, da, db, dy, x, w, a, bm, s)
	var out [4][]float32
	for i, r := range []struct {
		buf backend.Buffer
		n   int
	}{{y, s.Rows * s.Out}, {dx, s.Rows * s.In}, {da, len(av)}, {db, len(bv)}} {
		out[i] = make([]float32, r.n)
		f.Download(out[i], r.buf)
	}
	for _, b := range whole {
		f.Free(b)
	}
	return out
}

// checkAgainstEmulation makes each call on the GPU, in order on one
// backend, and on the CPU emulation of the kernels, and requires the
// fused layer's rule for every output.
func checkAgainstEmulation(t *testing.T, gpu *Backend, calls []layerCall) {
	e := emulator{cpu.New(0)}
	for _, c := range calls {
		got, want := c.run(t, gpu), c.run(t, e)
		for i, name := range []string{"y", "dx", "dA", "dB"} {
			err := relError(got[i], want[i])
			t.Logf("%v: %s differs from the emulation by %.2e of its max", c, name, err)
			if !(err <= fusedTolerances.Forward.Rtol) {
				t.Errorf("%v: %s differs from the emulation by %.3g of its max (rule %g)", c, name, err,
					fusedTolerances.Forward.Rtol)
			}
		}
	}
}

// TestLoRALinearAlignedCUDA runs the fused layer on 16-byte aligned buffers
// with in % 8 == 0, the vector paths the model takes (conformance.TestFused
// puts every buffer between guard zones, which misaligns dense weights),
// with and without dropout, against the CPU emulation of the kernels.
func TestLoRALinearAlignedCUDA(t *testing.T) {
	b := openOrSkip(t)
	var calls []layerCall
	for _, w := range []string{"nf4", "float32", "bfloat16"} {
		for _, p := range []float32{0, 0.1} {
			s := backend.LoRAShape{Rows: 24, In: 264, Out: 136, Rank: 16, Scale: 2, Dropout: p, DropoutSeed: 5}
			calls = append(calls, layerCall{s: s, weight: w, bias: true, seed: 6})
		}
	}
	checkAgainstEmulation(t, b, calls)
}

// TestLoRALinearPlanReuseCUDA makes calls that reuse cached GEMM plans
// where what the plan was made for has changed: the bias lives in a scratch
// buffer that a wider layer reallocates (the plans of narrower layers must
// take the new address), and views that sit off a 16-byte boundary must
// not reuse the plans of aligned ones (cuBLASLt chose those algorithms for
// aligned operands).
func TestLoRALinearPlanReuseCUDA(t *testing.T) {
	b := openOrSkip(t)
	shape := func(in, out int, p float32) backend.LoRAShape {
		return backend.LoRAShape{Rows: 17, In: in, Out: out, Rank: 8, Scale: 0.5, Dropout: p, DropoutSeed: 9}
	}
	concat, cOperand := shape(24, 40, 0), shape(64, 40, 0)
	checkAgainstEmulation(t, b, []layerCall{
		{s: concat, weight: "float32", bias: true, seed: 1},
		{s: cOperand, weight: "bfloat16", bias: true, seed: 2},
		{s: shape(24, 200, 0), weight: "float32", bias: true, seed: 3}, // the bias scratch grows
		{s: concat, weight: "float32", bias: true, seed: 4},
		{s: cOperand, weight: "bfloat16", bias: true, seed: 5},
		{s: concat, weight: "float32", bias: true, offset: 1, seed: 6}, // misaligned views
		{s: cOperand, weight: "bfloat16", bias: true, offset: 1, seed: 7},
		{s: shape(64, 40, 0.1), weight: "float32", bias: true, offset: 3, seed: 8},
		{s: concat, weight: "float32", bias: true, seed: 10}, // aligned again
	})
}

// TestDropoutMaskCUDA checks that the kernels drop exactly the elements
// backend.DropoutMask drops, in the forward and the backward call, at
// several p and seeds. With W = 0, A = I (rank = in), B [out, in] the first
// columns of I, s = 1 and x = dy = 1, y = bf16(keep)·m in the columns B
// selects and dx = bf16(keep)·m likewise (m the mask's 0 and 1), so each
// output element is 0 exactly where the mask drops it. One shape takes the
// concatenated forward (in <= out), one the C-operand form; x is aligned
// in one (the drop kernel's 16-byte path) and a misaligned view in the
// other. Besides round values of p, each seed gets the p at which element
// 0's draw equals the threshold ⌈p·2²⁴⌉ exactly (kept: the test is u < it).
func TestDropoutMaskCUDA(t *testing.T) {
	b := openOrSkip(t)
	for _, c := range []struct{ rows, in, out, offset int }{{300, 13, 16, 0}, {64, 40, 24, 1}} {
		visible := min(c.in, c.out)
		ones := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = 1
			}
			return v
		}
		a, bm := make([]float32, c.in*c.in), make([]float32, c.out*c.in)
		for i := 0; i < c.in; i++ {
			a[i*c.in+i] = 1
		}
		for j := 0; j < visible; j++ {
			bm[j*c.in+j] = 1
		}
		up := func(buf backend.Buffer, v []float32) backend.Buffer { b.Upload(buf, v); return buf }
		xWhole := b.AllocActivation(c.rows*c.in + c.offset)
		x := up(b.Slice(xWhole, c.offset, c.rows*c.in), ones(c.rows*c.in))
		dy := up(b.AllocActivation(c.rows*c.out), ones(c.rows*c.out))
		w, ab, bb := b.Alloc(c.out*c.in), up(b.Alloc(len(a)), a), up(b.Alloc(len(bm)), bm)
		y, dx := b.AllocActivation(c.rows*c.out), b.AllocActivation(c.rows*c.in)
		da, db := b.Alloc(len(a)), b.Alloc(len(bm))
		for _, seed := range []uint64{0, 1, 1 << 40, ^uint64(0)} {
			for _, p := range []float32{0, 0.05, 0.5, 0.9, boundaryP(seed)} {
				s := backend.LoRAShape{Rows: c.rows, In: c.in, Out: c.out, Rank: c.in, Scale: 1, Dropout: p, DropoutSeed: seed}
				b.LoRALinearForward(y, x, w, nil, ab, bb, s)
				b.LoRALinearBackward(dx, da, db, dy, x, w, ab, bb, s)
				mask := make([]float32, c.rows*c.in)
				backend.DropoutMask(mask, float64(p), seed)
				keep := bf16Float(bf16Bits(float32(1 / (1 - float64(p)))))
				gotY, gotDx := make([]float32, c.rows*c.out), make([]float32, c.rows*c.in)
				b.Download(gotY, y)
				b.Download(gotDx, dx)
				name := fmt.Sprintf("rows=%d in=%d out=%d p=%g seed=%d", c.rows, c.in, c.out, p, seed)
				var dropped int
				for r := 0; r < c.rows; r++ {
					for j := 0; j < visible; j++ {
						want := float32(0)
						if mask[r*c.in+j] != 0 {
							want = keep
						} else {
							dropped++
						}
						if gotY[r*c.out+j] != want || gotDx[r*c.in+j] != want {
							t.Fatalf("%s: element (%d, %d): y %v, dx %v, want %v (mask %v)", name, r, j,
								gotY[r*c.out+j], gotDx[r*c.in+j], want, mask[r*c.in+j])
						}
					}
				}
				t.Logf("%s: %d of %d elements dropped, as backend.DropoutMask drops them", name, dropped, c.rows*visible)
			}
		}
		for _, buf := range []backend.Buffer{xWhole, dy, w, ab, bb, y, dx, da, db} {
			b.Free(buf)
		}
	}
}

// boundaryP returns k/2²⁴ for k the 24-bit draw of element 0 of seed's
// mask (exact in float32), found with backend.DropoutMask itself: the
// smallest k at which element 0 is dropped at p = (k+1)/2²⁴.
func boundaryP(seed uint64) float32 {
	mask := make([]float32, 1)
	dropped := func(k int) bool { backend.DropoutMask(mask, float64(k)/(1<<24), seed); return mask[0] == 0 }
	lo, hi := 0, 1<<24-1 // element 0 is dropped at hi+1 at the latest
	for lo < hi {
		if mid := (lo + hi) / 2; dropped(mid + 1) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return float32(lo) / (1 << 24)
}

// TestLoRALinearRejectsArgumentsCUDA checks the library's own validation of
// what Go passes through unchecked (a bias type, the dropout probability):
// a failed status whose message names the argument, turned into a panic
// naming the op, after which the backend still works.
// panicMessage runs f and returns what it panicked with, or "no panic".
func panicMessage(f func()) (msg string) {
	defer func() { msg = fmt.Sprint(recover()) }()
	f()
	return "no panic"
}

func TestLoRALinearRejectsArgumentsCUDA(t *testing.T) {
	b := openOrSkip(t)
	s := backend.LoRAShape{Rows: 3, In: 8, Out: 8, Rank: 2, Scale: 1}
	w, a, bm := b.Alloc(64), b.Alloc(16), b.Alloc(16)
	x, y, dy, dx := b.AllocActivation(24), b.AllocActivation(24), b.AllocActivation(24), b.AllocActivation(24)
	da, db := b.Alloc(16), b.Alloc(16)
	bias := b.AllocActivation(8)
	badBias := *bias.(*buffer)
	badBias.dt = 7
	withDropout := func(p float32) backend.LoRAShape { r := s; r.Dropout = p; return r }
	for _, c := range []struct {
		name, want string
		call       func()
	}{
		{"bias type", "LoRALinearForward (rows=3 in=8 out=8 rank=2 scale=1 dropout=0 seed=0): " +
			"tune_lora_linear_forward: bias type 7 (want TUNE_F32 or TUNE_BF16)",
			func() { b.LoRALinearForward(y, x, w, &badBias, a, bm, s) }},
		{"dropout 1", "tune_lora_linear_forward: dropout p = 1 (want 0 <= p < 1)",
			func() { b.LoRALinearForward(y, x, w, bias, a, bm, withDropout(1)) }},
		{"dropout NaN", "tune_lora_linear_backward: dropout p = nan (want 0 <= p < 1)",
			func() { b.LoRALinearBackward(dx, da, db, dy, x, w, a, bm, withDropout(float32(math.NaN()))) }},
		{"dropout -0.1", "tune_lora_linear_backward: dropout p = -0.1 (want 0 <= p < 1)",
			func() { b.LoRALinearBackward(nil, da, db, dy, x, w, a, bm, withDropout(-0.1)) }},
	} {
		if msg := panicMessage(c.call); !strings.Contains(msg, c.want) {
			t.Errorf("%s: %s, want a panic containing %q", c.name, msg, c.want)
		}
		b.LoRALinearForward(y, x, w, bias, a, bm, s) // the backend goes on working
	}
}
