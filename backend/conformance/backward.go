package conformance

import (
	"fmt"
	"math"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
)

// fdStep is the central-difference step on the float64 oracle. Its
// truncation error is about fdStep²·|f”'| and its rounding error about
// 1e-16/fdStep, both near 1e-10 here.
const fdStep = 1e-6

// fdGrad returns the gradient of the scalar loss(x) by central differences
// in every element of x (restored afterwards).
func fdGrad(x []float64, loss func() float64) []float64 {
	g := make([]float64, len(x))
	for i := range x {
		v := x[i]
		x[i] = v + fdStep
		hi := loss()
		x[i] = v - fdStep
		lo := loss()
		x[i] = v
		g[i] = (hi - lo) / (2 * fdStep)
	}
	return g
}

// dotf is Σ a·b in float64: the scalar loss Σ dy ⊙ f(x) whose gradient
// the backward ops compute.
func dotf(a []float64, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func (h *harness) rmsnormBackward(g rmsNormBackwardOp, tol Tol) {
	// A row of 300 elements is longer than a GPU block's threads.
	for i, c := range []struct{ rows, dim int }{{1, 1}, {1, 64}, {3, 17}, {9, 67}, {2, 300}} {
		x, xw := h.actInput(h.randn(c.rows*c.dim, 3))
		w, ww := h.weightInput(h.randn(c.dim, 1), i)
		dy, gw := h.actInput(h.randn(c.rows*c.dim, 1))
		out := h.actOutput(c.rows * c.dim)
		g.RMSNormBackward(out.view, dy, x, w, c.rows, c.dim, 1e-6)
		want := fdGrad(xw, func() float64 { return dotf(gw, refRMSNorm(xw, ww, c.rows, c.dim, 1e-6)) })
		check(h.t, "RMSNormBackward", fmt.Sprintf("rows=%d dim=%d", c.rows, c.dim), h.actRead("RMSNormBackward", out), want, tol)
	}
}

// linearGradShapes are the shapes of the Linear gradient checks.
var linearGradShapes = []struct{ rows, in, out int }{{1, 1, 1}, {1, 64, 7}, {3, 13, 33}, {37, 29, 11}, {70, 5, 3}}

func (h *harness) linearBackward(g linearBackwardOp, tol Tol) {
	for i, c := range linearGradShapes {
		x, ww0, dy0 := h.randn(c.rows*c.in, 1), h.randn(c.out*c.in, 0.3), h.randn(c.rows*c.out, 1)
		w, ww := h.weightInput(ww0, i)
		dy, gw := h.actInput(dy0)
		xw := widen(x)
		dx := h.actOutput(c.rows * c.in)
		g.LinearBackward(dx.view, dy, w, c.rows, c.in, c.out)
		want := fdGrad(xw, func() float64 { return dotf(gw, refLinear(xw, ww, nil, c.rows, c.in, c.out)) })
		check(h.t, "LinearBackward", fmt.Sprintf("rows=%d in=%d out=%d", c.rows, c.in, c.out), h.actRead("LinearBackward", dx), want, tol)
	}
}

// linearWeightGrad checks that LinearWeightGrad accumulates the weight
// gradient onto a random dw (float32 in every mode: a gradient of frozen
// weights is never an activation).
func (h *harness) linearWeightGrad(g linearWeightGradOp, tol Tol) {
	for _, c := range linearGradShapes {
		x, xw := h.actInput(h.randn(c.rows*c.in, 1))
		dy, gw := h.actInput(h.randn(c.rows*c.out, 1))
		ww := widen(h.randn(c.out*c.in, 0.3))
		dw0 := h.randn(c.out*c.in, 1)
		dw := h.inPlace(dw0)
		g.LinearWeightGrad(dw.view, dy, x, c.rows, c.in, c.out)
		want := fdGrad(ww, func() float64 { return dotf(gw, refLinear(xw, ww, nil, c.rows, c.in, c.out)) })
		for i := range want {
			want[i] += float64(dw0[i])
		}
		check(h.t, "LinearWeightGrad", fmt.Sprintf("rows=%d in=%d out=%d", c.rows, c.in, c.out), h.read("LinearWeightGrad", dw), want, tol)
	}
}

func (h *harness) ropeBackward(g ropeBackwardOp, tol Tol) {
	for _, c := range []struct {
		rows, heads, headDim int
		theta                float64
		start                int32
	}{{1, 1, 2, 10000, 0}, {3, 3, 10, 1e6, 5}, {7, 2, 16, 1e6, 1000}} {
		buf, gw := h.actInPlace(h.randn(c.rows*c.heads*c.headDim, 1))
		xw := widen(h.randn(c.rows*c.heads*c.headDim, 1))
		pos := make([]int32, c.rows)
		for i := range pos {
			pos[i] = c.start + int32(i)
		}
		g.RoPEBackward(buf.view, pos, c.rows, c.heads, backend.InvFreq(c.headDim, c.theta))
		want := fdGrad(xw, func() float64 {
			return dotf(gw, refRoPE(xw, pos, c.rows, c.heads, backend.InvFreq(c.headDim, c.theta)))
		})
		check(h.t, "RoPEBackward", fmt.Sprintf("rows=%d heads=%d headDim=%d start=%d", c.rows, c.heads, c.headDim, c.start), h.actRead("RoPEBackward", buf), want, tol)
	}
}

func (h *harness) siluMulBackward(g siluMulBackwardOp, tol Tol) {
	for _, n := range []int{1, 7, 176, 1001} {
		gate, gw := h.actInput(h.randn(n, 4))
		up, uw := h.actInput(h.randn(n, 1))
		dy, dw := h.actInput(h.randn(n, 1))
		dg, du := h.actOutput(n), h.actOutput(n)
		g.SiLUMulBackward(dg.view, du.view, dy, gate, up, n)
		loss := func() float64 { return dotf(dw, refSiLUMul(gw, uw)) }
		check(h.t, "SiLUMulBackward dgate", fmt.Sprintf("n=%d", n), h.actRead("SiLUMulBackward dgate", dg), fdGrad(gw, loss), tol)
		check(h.t, "SiLUMulBackward dup", fmt.Sprintf("n=%d", n), h.actRead("SiLUMulBackward dup", du), fdGrad(uw, loss), tol)
	}
}

// crossEntropyBackward checks dlogits into a separate buffer and in place
// (dlogits = logits, which the op allows), with rows longer than a GPU
// block and one element per row.
func (h *harness) crossEntropyBackward(g crossEntropyBackwardOp, tol Tol) {
	for _, c := range []struct {
		rows, vocab int
		inPlace     bool
	}{{1, 1, false}, {1, 97, false}, {9, 33, false}, {5, 1001, false}, {3, 301, true}, {4, 3, true}} {
		targets := h.targets(c.rows, c.vocab)
		const scale = 0.37
		var out guarded
		var lw []float64
		if c.inPlace {
			out, lw = h.actInPlace(h.randn(c.rows*c.vocab, 3))
			g.CrossEntropyBackward(out.view, out.view, targets, c.rows, c.vocab, scale)
		} else {
			var logits backend.Buffer
			logits, lw = h.actInput(h.randn(c.rows*c.vocab, 3))
			out = h.actOutput(c.rows * c.vocab)
			g.CrossEntropyBackward(out.view, logits, targets, c.rows, c.vocab, scale)
		}
		// A row's loss depends on its own logits alone, so the differences
		// are taken row by row (rows times fewer oracle evaluations).
		want := make([]float64, 0, len(lw))
		for r := 0; r < c.rows; r++ {
			row := lw[r*c.vocab : (r+1)*c.vocab]
			want = append(want, fdGrad(row, func() float64 {
				return float64(float32(scale)) * refCrossEntropy(row, targets[r:r+1], 1, c.vocab)[0]
			})...)
		}
		check(h.t, "CrossEntropyBackward", fmt.Sprintf("rows=%d vocab=%d in place=%v", c.rows, c.vocab, c.inPlace),
			h.actRead("CrossEntropyBackward", out), want, tol)
	}
}

// dropout checks the mask against backend.DropoutMask exactly: a backend
// must draw the same mask from the same seed.
func (h *harness) dropout(g dropoutOp) {
	for _, c := range []struct {
		n    int
		p    float32
		seed uint64
	}{{1, 0.5, 1}, {1000, 0.05, 7}, {4097, 0.1, 1 << 40}, {33, 0, 3}} {
		x := h.randn(c.n, 1)
		out := h.output(c.n)
		g.Dropout(out.view, h.input(x), c.p, c.seed, c.n)
		mask := make([]float32, c.n)
		backend.DropoutMask(mask, float64(c.p), c.seed)
		want := make([]float64, c.n)
		for i := range want {
			want[i] = float64(x[i] * mask[i])
		}
		check(h.t, "Dropout", fmt.Sprintf("n=%d p=%v", c.n, c.p), h.read("Dropout", out), want, Tol{})
	}
}

func (h *harness) sumSquares(o backend.Optimizer, tol Tol) {
	for _, n := range []int{1, 31, 100003} {
		x := h.randn(n, 1)
		got := o.SumSquares(h.input(x), n)
		var want float64
		for _, v := range x {
			want += float64(v) * float64(v)
		}
		if !(math.Abs(got-want) <= tol.Atol+tol.Rtol*want) {
			h.t.Errorf("SumSquares n=%d: got %v, want %v", n, got, want)
		}
	}
}

// adamw runs three steps on random parameters and gradients (kept away
// from |g| ≈ eps, where Adam's update is ill-conditioned) and compares
// with the rule of backend.Optimizer in float64.
func (h *harness) adamw(o backend.Optimizer, tol Tol) {
	for _, n := range []int{1, 37, 4099} {
		p := h.randn(n, 1)
		m, v := make([]float64, n), make([]float64, n)
		pw := widen(p)
		pb, mb, vb := h.inPlace(p), h.inPlace(make([]float32, n)), h.inPlace(make([]float32, n))
		for step := 1; step <= 3; step++ {
			gr := h.randn(n, 0.1)
			s := backend.AdamWStep{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: step, GradScale: 0.5}
			o.AdamW(pb.view, h.input(gr), mb.view, vb.view, n, s)
			for i := range pw {
				gi := float64(gr[i]) * 0.5
				pw[i] *= 1 - s.LR*s.WeightDecay
				m[i] = s.Beta1*m[i] + (1-s.Beta1)*gi
				v[i] = s.Beta2*v[i] + (1-s.Beta2)*gi*gi
				pw[i] -= s.LR / (1 - math.Pow(s.Beta1, float64(step))) * m[i] / (math.Sqrt(v[i])/math.Sqrt(1-math.Pow(s.Beta2, float64(step))) + s.Eps)
			}
			name := fmt.Sprintf("n=%d step=%d", n, step)
			check(h.t, "AdamW p", name, h.read("AdamW p", pb), pw, tol)
			check(h.t, "AdamW m", name, h.read("AdamW m", mb), m, tol)
			check(h.t, "AdamW v", name, h.read("AdamW v", vb), v, tol)
		}
	}
}

// uploadNF4 checks that an uploaded NF4 tensor reports its logical length
// (Dequantize's check reads its values back).
func (h *harness) uploadNF4(q backend.Quant) {
	for _, c := range []struct{ rows, cols, block int }{{1, 64, 64}, {3, 37, 64}, {67, 129, 128}} {
		nf, err := quant.Quantize(h.randn(c.rows*c.cols, 0.05), []int{c.rows, c.cols}, c.block, true)
		if err != nil {
			h.t.Fatal(err)
		}
		buf := q.UploadNF4(nf)
		if buf.Len() != c.rows*c.cols {
			h.t.Errorf("UploadNF4 %dx%d: Len() = %d, want %d", c.rows, c.cols, buf.Len(), c.rows*c.cols)
		}
		h.b.Free(buf)
	}
}

// dequantize checks Dequantize on tensors from UploadNF4, which it needs.
func (h *harness) dequantize(q backend.Quant, tol Tol) {
	if err := backend.Require(h.b, backend.Set(backend.OpUploadNF4), "the Dequantize check"); err != nil {
		h.t.Fatal(err)
	}
	for _, c := range []struct {
		rows, cols, block int
		double            bool
	}{{1, 64, 64, false}, {3, 37, 64, true}, {67, 129, 128, true}, {5, 1000, 4096, false}} {
		w := h.randn(c.rows*c.cols, 0.05)
		nf, err := quant.Quantize(w, []int{c.rows, c.cols}, c.block, c.double)
		if err != nil {
			h.t.Fatal(err)
		}
		want32 := make([]float32, len(w))
		nf.Dequantize(want32)
		buf := q.UploadNF4(nf)
		out := h.output(len(w))
		q.Dequantize(out.view, buf)
		h.b.Free(buf)
		check(h.t, "Dequantize", fmt.Sprintf("%dx%d block=%d double=%v", c.rows, c.cols, c.block, c.double), h.read("Dequantize", out), widen(want32), tol)
	}
}
