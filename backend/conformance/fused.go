package conformance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
)

// FusedTol holds the rules of TestFused.
type FusedTol struct {
	// Forward is the rule for y of LoRALinearForward; InputGrad for dx and
	// WeightGrad for dA and dB of LoRALinearBackward.
	Forward, InputGrad, WeightGrad Tol
	// AdamW is the rule for p, m and v after AdamWClipped, Norm for the
	// norm it returns.
	AdamW, Norm Tol
	// AddRMSNorm is the rule for both outputs of AddRMSNorm, the sum and
	// its norm.
	AddRMSNorm Tol
}

// TestFused runs the optional fused ops of package backend that b
// implements (backend.LoRALinear, backend.ClippedAdamW,
// backend.ResidualRMSNorm) and compares each
// with its unfused composition, as the op's documentation writes it, on
// the reference backend ref (the CPU), under tol. Shapes are awkward (rows
// 1, 7 and 33; sizes that are not multiples of 32; ranks 1, 3, 5 and 16;
// NF4 with and without double quantization; LoRA dropout off, 0.05 and 0.5
// with several seeds), outputs are NaN-poisoned and every buffer of b sits
// between guard zones. Each comparison logs its measured error,
// max|got-want|/max|want|, so that a run documents the tolerances. A fused
// op b lacks is logged, not failed.
func TestFused(t *testing.T, b backend.Memory, ref backend.Backend, tol FusedTol) {
	h := &harness{t: t, b: b, rng: rand.New(rand.NewPCG(2025, 3))}
	run := func(name string, f func()) {
		t.Run(name, func(t *testing.T) { h.t = t; f() })
	}
	if f, ok := b.(backend.LoRALinear); ok {
		run("LoRALinear", func() { h.loraLinear(f, ref, tol) })
	} else {
		t.Logf("%s does not implement backend.LoRALinear", b.Name())
	}
	if o, ok := b.(backend.ClippedAdamW); ok {
		run("AdamWClipped", func() { h.adamwClipped(o, ref, tol) })
	} else {
		t.Logf("%s does not implement backend.ClippedAdamW", b.Name())
	}
	if q, ok := b.(backend.NF4Quantizer); ok {
		run("QuantizeNF4", func() { h.quantizeNF4(q) })
	} else {
		t.Logf("%s does not implement backend.NF4Quantizer", b.Name())
	}
	if f, ok := b.(backend.ResidualRMSNorm); ok {
		run("AddRMSNorm", func() { h.addRMSNorm(f, ref, tol) })
	} else {
		t.Logf("%s does not implement backend.ResidualRMSNorm", b.Name())
	}
}

// quantizeNF4 checks QuantizeNF4 bit for bit against its composition,
// quant.Quantize with double quantization, through the values each
// dequantizes to (the backend's Dequantize, which the conformance suite
// holds bit-exact too). The shapes have an odd element count, a partial
// last block, more than one nested block of 256 scales, block sizes 32
// to 4096, an all-zero block (scale 0: every code 0) and a tensor whose
// blocks share one absmax (every nested difference 0).
func (h *harness) quantizeNF4(q backend.NF4Quantizer) {
	if err := backend.Require(h.b, backend.Set(backend.OpDequantize), "the QuantizeNF4 check"); err != nil {
		h.t.Fatal(err)
	}
	deq := h.b.(backend.Quant)
	for _, c := range []struct {
		rows, cols, block int
		zero, flat        bool
	}{{1, 64, 64, false, false}, {3, 37, 64, false, false}, {67, 129, 128, true, false}, {5, 1000, 4096, false, false},
		{300, 64, 32, true, false}, {9, 64, 64, false, true}} {
		n := c.rows * c.cols
		w := h.randn(n, 0.05)
		if c.zero {
			clear(w[c.block : 2*c.block])
		}
		if c.flat {
			for i := range w {
				w[i] = float32(1-2*(i%2)) * 0.25
			}
		}
		shape := []int{c.rows, c.cols}
		name := fmt.Sprintf("%dx%d block=%d", c.rows, c.cols, c.block)
		ref, err := quant.Quantize(w, shape, c.block, true)
		if err != nil {
			h.t.Fatal(err)
		}
		want := make([]float32, n)
		ref.Dequantize(want)
		buf := q.QuantizeNF4(h.input(w), shape, c.block)
		if buf.Len() != n {
			h.t.Fatalf("QuantizeNF4 %s: buffer of %d elements, want %d", name, buf.Len(), n)
		}
		out := h.output(n)
		deq.Dequantize(out.view, buf)
		h.b.Free(buf)
		check(h.t, "QuantizeNF4", name, h.read("QuantizeNF4", out), widen(want), Tol{})
	}
}

// activations is b with Alloc giving activation buffers, so that the
// harness helpers place activations in the storage the fused op takes.
type activations struct{ backend.Memory }

func (a activations) Alloc(n int) backend.Buffer { return a.Memory.AllocActivation(n) }

// compare is check that also fails on a non-finite reference value,
// which would make every comparison pass.
func (h *harness) compare(op, name string, got []float32, want []float64, tol Tol) {
	h.t.Helper()
	for i, w := range want {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			h.t.Fatalf("%s %s: the reference's element %d is %v", op, name, i, w)
		}
	}
	check(h.t, op, name, got, want, tol)
}

// stored uploads v to an activation buffer of b (NaN guards) and returns
// the buffer and the values it holds, as the reference must see them.
func (h *harness) stored(v []float32) (backend.Buffer, []float32) {
	buf := h.input(v)
	got := make([]float32, len(v))
	h.b.Download(got, buf)
	return buf, got
}

func upload(b backend.Backend, v []float32) backend.Buffer {
	buf := b.Alloc(len(v))
	b.Upload(buf, v)
	return buf
}

func download(b backend.Backend, buf backend.Buffer, n int) []float32 {
	v := make([]float32, n)
	b.Download(v, buf)
	return v
}

// loraRef holds one layer on the reference backend.
type loraRef struct {
	ref           backend.Backend
	w, bias, a, b backend.Buffer
	s             backend.LoRAShape
}

// dropout is the adapter's input dropout(x) on the reference: x itself
// without dropout.
func (r *loraRef) dropout(x backend.Buffer) backend.Buffer {
	s := r.s
	if s.Dropout == 0 {
		return x
	}
	xd := r.ref.Alloc(s.Rows * s.In)
	r.ref.Dropout(xd, x, s.Dropout, s.DropoutSeed, s.Rows*s.In)
	return xd
}

// forward is LoRALinearForward's documented composition.
func (r *loraRef) forward(x backend.Buffer) []float32 {
	s, ref := r.s, r.ref
	y, t, u := ref.Alloc(s.Rows*s.Out), ref.Alloc(s.Rows*s.Rank), ref.Alloc(s.Rows*s.Out)
	ref.Linear(y, x, r.w, r.bias, s.Rows, s.In, s.Out)
	ref.Linear(t, r.dropout(x), r.a, nil, s.Rows, s.In, s.Rank)
	ref.Linear(u, t, r.b, nil, s.Rows, s.Rank, s.Out)
	ref.AddScaled(y, u, s.Scale, s.Rows*s.Out)
	return download(ref, y, s.Rows*s.Out)
}

// backward is LoRALinearBackward's documented composition, from dA and dB
// holding da0 and db0.
func (r *loraRef) backward(dy, x backend.Buffer, da0, db0 []float32) (dx, da, db []float32) {
	s, ref := r.s, r.ref
	dxb, dab, dbb := ref.Alloc(s.Rows*s.In), upload(ref, da0), upload(ref, db0)
	g, gs, t, ts, e := ref.Alloc(s.Rows*s.Rank), ref.Alloc(s.Rows*s.Rank), ref.Alloc(s.Rows*s.Rank), ref.Alloc(s.Rows*s.Rank), ref.Alloc(s.Rows*s.In)
	ref.LinearBackward(dxb, dy, r.w, s.Rows, s.In, s.Out)
	ref.LinearBackward(g, dy, r.b, s.Rows, s.Rank, s.Out)
	ref.LinearBackward(e, g, r.a, s.Rows, s.In, s.Rank)
	if s.Dropout != 0 {
		ref.Dropout(e, e, s.Dropout, s.DropoutSeed, s.Rows*s.In)
	}
	ref.AddScaled(dxb, e, s.Scale, s.Rows*s.In)
	ref.Zero(gs, s.Rows*s.Rank)
	ref.AddScaled(gs, g, s.Scale, s.Rows*s.Rank)
	xd := r.dropout(x)
	ref.LinearWeightGrad(dab, gs, xd, s.Rows, s.In, s.Rank)
	ref.Linear(t, xd, r.a, nil, s.Rows, s.In, s.Rank)
	ref.Zero(ts, s.Rows*s.Rank)
	ref.AddScaled(ts, t, s.Scale, s.Rows*s.Rank)
	ref.LinearWeightGrad(dbb, dy, ts, s.Rows, s.Rank, s.Out)
	return download(ref, dxb, s.Rows*s.In), download(ref, dab, s.Rank*s.In), download(ref, dbb, s.Out*s.Rank)
}

func (h *harness) loraLinear(f backend.LoRALinear, ref backend.Backend, tol FusedTol) {
	q, hasQuant := h.b.(backend.Quant)
	ah := &harness{t: h.t, b: activations{h.b}, rng: h.rng}
	cases := []struct {
		rows, in, out, rank int
		bias, skipDx        bool
		block               int // NF4 block size; 0: a float weight
		double              bool
		dropout             float32
		seed                uint64
	}{
		{1, 37, 45, 1, true, false, 0, false, 0, 0},
		{7, 64, 130, 3, false, true, 64, true, 0, 0},
		{33, 211, 67, 16, true, false, 64, false, 0, 0},
		{33, 96, 200, 16, true, false, 128, true, 0, 0},
		{7, 136, 33, 5, false, false, 0, false, 0, 0},
		// Dropout on the adapter's input, in both forms of each direction
		// (in < out and in > out), with dx skipped, and seeds small, large
		// and at the top of the range.
		{1, 37, 45, 1, true, false, 0, false, 0.5, 1},
		{33, 211, 67, 16, true, false, 64, false, 0.05, 7},
		{33, 96, 200, 16, false, false, 128, true, 0.5, 1 << 40},
		{7, 64, 130, 3, true, true, 64, true, 0.05, ^uint64(0)},
		{7, 136, 33, 5, false, false, 0, false, 0.5, 12345},
		{33, 211, 67, 16, false, true, 0, false, 0.5, 3},
	}
	for _, c := range cases {
		s := backend.LoRAShape{Rows: c.rows, In: c.in, Out: c.out, Rank: c.rank, Scale: 0.5, Dropout: c.dropout,
			DropoutSeed: c.seed}
		name := fmt.Sprintf("rows=%d in=%d out=%d rank=%d bias=%v dropout=%g seed=%d", c.rows, c.in, c.out, c.rank,
			c.bias, c.dropout, c.seed)
		wv := h.randn(c.out*c.in, 1/math.Sqrt(float64(c.in)))
		r := &loraRef{ref: ref, s: s}
		var w backend.Buffer
		if c.block == 0 {
			w, r.w = h.input(wv), upload(ref, wv)
			name += " float weight"
		} else {
			if !hasQuant {
				h.t.Logf("%s: %s does not implement backend.Quant: NF4 weight not tested", name, h.b.Name())
				continue
			}
			nf, err := quant.Quantize(wv, []int{c.out, c.in}, c.block, c.double)
			if err != nil {
				h.t.Fatal(err)
			}
			w = q.UploadNF4(nf)
			r.w = ref.Alloc(c.out * c.in)
			ref.Dequantize(r.w, ref.UploadNF4(nf))
			name += fmt.Sprintf(" nf4 block=%d double=%v", c.block, c.double)
		}
		av := h.randn(c.rank*c.in, 1/math.Sqrt(float64(c.in)))
		bv := h.randn(c.out*c.rank, 1/math.Sqrt(float64(c.rank)))
		a, bm := h.input(av), h.input(bv)
		r.a, r.b = upload(ref, av), upload(ref, bv)
		var bias backend.Buffer
		if c.bias {
			biasv := h.randn(c.out, 0.3)
			bias, r.bias = h.input(biasv), upload(ref, biasv)
		}
		x, xs := ah.stored(h.randn(c.rows*c.in, 1))
		xr := upload(ref, xs)

		y := ah.output(c.rows * c.out)
		f.LoRALinearForward(y.view, x, w, bias, a, bm, s)
		h.compare("LoRALinearForward y", name, ah.read("LoRALinearForward y", y), widen(r.forward(xr)), tol.Forward)

		dy, dys := ah.stored(h.randn(c.rows*c.out, 1))
		da0, db0 := h.randn(c.rank*c.in, 1), h.randn(c.out*c.rank, 1)
		da, db := h.inPlace(da0), h.inPlace(db0)
		var dx guarded
		var dxView backend.Buffer
		if !c.skipDx {
			dx = ah.output(c.rows * c.in)
			dxView = dx.view
		}
		f.LoRALinearBackward(dxView, da.view, db.view, dy, x, w, a, bm, s)
		wantDx, wantDa, wantDb := r.backward(upload(ref, dys), xr, da0, db0)
		if !c.skipDx {
			h.compare("LoRALinearBackward dx", name, ah.read("LoRALinearBackward dx", dx), widen(wantDx), tol.InputGrad)
		}
		h.compare("LoRALinearBackward dA", name, h.read("LoRALinearBackward dA", da), widen(wantDa), tol.WeightGrad)
		h.compare("LoRALinearBackward dB", name, h.read("LoRALinearBackward dB", db), widen(wantDb), tol.WeightGrad)
		if c.block != 0 {
			h.b.Free(w)
		}
	}
}

// adamwClipped runs three clipped steps, with the clipping active (a small
// max norm) and inactive, against SumSquares and AdamW on ref.
func (h *harness) adamwClipped(o backend.ClippedAdamW, ref backend.Backend, tol FusedTol) {
	for _, c := range []struct {
		n       int
		maxNorm float64
	}{{1, 1e-3}, {37, 0.5}, {4099, 1}, {4099, 1e6}} {
		p := h.randn(c.n, 1)
		pb, mb, vb := h.inPlace(p), h.inPlace(make([]float32, c.n)), h.inPlace(make([]float32, c.n))
		rp, rm, rv := upload(ref, p), ref.Alloc(c.n), ref.Alloc(c.n)
		for step := 1; step <= 3; step++ {
			gr := h.randn(c.n, 0.1)
			s := backend.AdamWStep{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: step, GradScale: 7}
			norm := o.AdamWClipped(pb.view, h.input(gr), mb.view, vb.view, c.n, s, c.maxNorm)

			rg := upload(ref, gr)
			want := math.Sqrt(ref.SumSquares(rg, c.n))
			s.GradScale = min(1, float32(c.maxNorm)/(float32(want)+1e-6))
			ref.AdamW(rp, rg, rm, rv, c.n, s)

			name := fmt.Sprintf("n=%d max_norm=%g step=%d", c.n, c.maxNorm, step)
			h.t.Logf("AdamWClipped norm %s: measured error %.2e of %.3g", name, math.Abs(norm-want)/want, want)
			if !(math.Abs(norm-want) <= tol.Norm.Atol+tol.Norm.Rtol*want) {
				h.t.Errorf("AdamWClipped norm %s: got %v, want %v", name, norm, want)
			}
			h.compare("AdamWClipped p", name, h.read("AdamWClipped p", pb), widen(download(ref, rp, c.n)), tol.AdamW)
			h.compare("AdamWClipped m", name, h.read("AdamWClipped m", mb), widen(download(ref, rm, c.n)), tol.AdamW)
			h.compare("AdamWClipped v", name, h.read("AdamWClipped v", vb), widen(download(ref, rv, c.n)), tol.AdamW)
		}
	}
}

// addRMSNorm checks AddRMSNorm, with the sum apart from a and b and in
// place of a or b, on activation buffers, against Add and RMSNorm on ref.
// The rows of 1000 and 2053 elements are longer than a GPU block's
// threads, so that a kernel's row loop and reduction across warps are
// exercised.
func (h *harness) addRMSNorm(f backend.ResidualRMSNorm, ref backend.Backend, tol FusedTol) {
	ah := &harness{t: h.t, b: activations{h.b}, rng: h.rng}
	for _, c := range []struct {
		rows, dim int
		inPlace   string // "", "a" or "b": which operand the sum overwrites
	}{{1, 1, ""}, {7, 67, "a"}, {33, 200, ""}, {3, 1000, "b"}, {2, 2053, "a"}, {1, 3584, ""}} {
		n := c.rows * c.dim
		name := fmt.Sprintf("rows=%d dim=%d in place of %q", c.rows, c.dim, c.inPlace)
		av, bv := h.randn(n, 1), h.randn(n, 0.5)
		wv := h.randn(c.dim, 1)
		const eps = 1e-6
		ref1, ref2 := upload(ref, ah.storedValues(av)), upload(ref, ah.storedValues(bv))
		rsum, rh := ref.Alloc(n), ref.Alloc(n)
		ref.Add(rsum, ref1, ref2, n)
		ref.RMSNorm(rh, rsum, upload(ref, wv), c.rows, c.dim, eps)

		a, b := ah.inPlace(av), ah.inPlace(bv)
		sum := ah.output(n)
		switch c.inPlace {
		case "a":
			sum = a
		case "b":
			sum = b
		}
		out := ah.output(n)
		f.AddRMSNorm(sum.view, out.view, a.view, b.view, h.input(wv), c.rows, c.dim, eps)
		wantSum, wantH := download(ref, rsum, n), download(ref, rh, n)
		h.compare("AddRMSNorm sum", name, ah.read("AddRMSNorm sum", sum), widen(wantSum), tol.AddRMSNorm)
		h.compare("AddRMSNorm h", name, ah.read("AddRMSNorm h", out), widen(wantH), tol.AddRMSNorm)
	}
}

// storedValues returns v as a buffer of h.b stores it (rounded to its
// type), for the reference to start from the same inputs.
func (h *harness) storedValues(v []float32) []float32 {
	_, got := h.stored(v)
	return got
}
