package conformance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
)

// guard is the number of elements on each side of every buffer the suite
// hands to an op. Input guards hold NaN, so a read past the end poisons
// the result; output guards hold sentinel, so a write past the end shows.
const guard = 13

const sentinel = float32(-12345.5)

type harness struct {
	t   *testing.T
	b   backend.Memory
	rng *rand.Rand
	// act places the activations of the ops that take them (see
	// TestActivations) in AllocActivation's storage instead of Alloc's.
	act bool
}

type guarded struct {
	whole, view backend.Buffer
	n           int
}

func (h *harness) alloc(inside []float32, guardVal float32) guarded {
	return h.allocIn(h.b.Alloc, inside, guardVal)
}

func (h *harness) allocIn(alloc func(int) backend.Buffer, inside []float32, guardVal float32) guarded {
	n := len(inside)
	whole := alloc(n + 2*guard)
	host := make([]float32, n+2*guard)
	for i := range host {
		host[i] = guardVal
	}
	copy(host[guard:], inside)
	h.b.Upload(whole, host)
	return guarded{whole: whole, view: h.b.Slice(whole, guard, n), n: n}
}

// input places vals in a buffer whose guards are NaN.
func (h *harness) input(vals []float32) backend.Buffer {
	return h.alloc(vals, float32(math.NaN())).view
}

// output returns a NaN-poisoned buffer of n elements with sentinel guards.
func (h *harness) output(n int) guarded {
	poison := make([]float32, n)
	for i := range poison {
		poison[i] = float32(math.NaN())
	}
	return h.alloc(poison, sentinel)
}

// inPlace returns a buffer holding vals with sentinel guards.
func (h *harness) inPlace(vals []float32) guarded { return h.alloc(vals, sentinel) }

// read downloads g, checks its guards and returns the inside. The guards
// must hold the sentinel as b stores it: a buffer of a narrower type (such
// as bfloat16 activations) rounds it.
func (h *harness) read(op string, g guarded) []float32 {
	h.t.Helper()
	return h.readStoredIn(h.b.Alloc, op, g)
}

func (h *harness) randn(n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(h.rng.NormFloat64() * scale)
	}
	return v
}

func widen(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

// check compares got with want under tol and fails naming the op, case and
// worst element; it logs the measured error, max|got-want|/max|want|, so
// that a verbose run documents the tolerances. Every element of got must
// be finite.
func check(t *testing.T, op, name string, got []float32, want []float64, tol Tol) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s %s: got %d elements, want %d", op, name, len(got), len(want))
	}
	var maxWant float64
	for _, w := range want {
		maxWant = math.Max(maxWant, math.Abs(w))
	}
	limit := tol.Atol + tol.Rtol*maxWant
	worst, at := 0.0, -1
	for i, g := range got {
		if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
			t.Fatalf("%s %s: element %d is %v (output not fully written?)", op, name, i, g)
		}
		if d := math.Abs(float64(g) - want[i]); d > worst {
			worst, at = d, i
		}
	}
	if maxWant > 0 {
		t.Logf("%s %s: measured error %.2e of max|want| %.3g (rule: %g + %g*max|want|)", op, name, worst/maxWant, maxWant, tol.Atol, tol.Rtol)
	}
	if !(worst <= limit) {
		t.Errorf("%s %s: max |got-want| = %.3g at %d (got %v, want %v) exceeds %.3g", op, name, worst, at, got[at], want[at], limit)
	}
}

// Test checks backend b op by op. Every op b declares (Memory.Ops) is
// compared with the float64 oracle under tol, or, for a fused op, with the
// composition its documentation gives, run on the CPU backend, under
// tol.Fused. A declared op that is wrong, that panics, or whose interface
// b does not implement fails the test; the ops b declares missing are
// logged. Memory.Zero is checked on every backend.
func Test(t *testing.T, b backend.Memory, tol Tolerances) {
	h := &harness{t: t, b: b, rng: rand.New(rand.NewPCG(2024, 11))}
	t.Run("Zero", func(t *testing.T) { h.t = t; h.zero() })
	h.run(t, backend.AllOps, tol)
}

// TestActivations runs the checks of the Forward and Backward ops b
// declares again, with their activations (inputs, outputs and gradients
// of activations) in AllocActivation's storage, as a schedule holds them,
// under tol, the rules of that storage. The oracle sees the inputs as
// stored, so tol covers the op's own arithmetic and the rounding of its
// outputs (and of a float32 weight the op converts: the checks of ops with
// a weight, the embedding table or a bias give every other case that
// weight in the storage the activations do not use, here and in Test).
// Dropout keeps float32 buffers, so its check stays exact. On a backend
// whose activations are float32 this repeats Test's checks of those ops.
func TestActivations(t *testing.T, b backend.Memory, tol Tolerances) {
	h := &harness{t: t, b: b, rng: rand.New(rand.NewPCG(2024, 12)), act: true}
	h.run(t, backend.ForwardOps|backend.BackwardOps, tol)
}

// run checks the ops of set that b declares and logs those it does not.
func (h *harness) run(t *testing.T, set backend.OpSet, tol Tolerances) {
	b := h.b
	checks := h.checks(tol)
	var missing []string
	for _, op := range set.Ops() {
		if !b.Ops().Has(op) {
			missing = append(missing, op.String())
			continue
		}
		t.Run(op.String(), func(t *testing.T) {
			h.t = t
			if err := backend.Require(b, backend.Set(op), "the conformance suite"); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s panicked: %v", op, r)
				}
			}()
			checks[op]()
		})
	}
	if len(missing) > 0 {
		t.Logf("%s declares these ops missing (not tested): %s", b.Name(), strings.Join(missing, ", "))
	}
}

// checks returns the check of every op of the vocabulary, each run only
// after backend.Require has confirmed b implements the op (its method, for
// the ops of Forward and Backward; see methods.go).
func (h *harness) checks(tol Tolerances) map[backend.Op]func() {
	o := func() backend.Optimizer { return h.b.(backend.Optimizer) }
	q := func() backend.Quant { return h.b.(backend.Quant) }
	b := h.b
	return map[backend.Op]func(){
		backend.OpEmbedding:            func() { h.embedding(b.(embeddingOp), tol.Embedding) },
		backend.OpRMSNorm:              func() { h.rmsnorm(b.(rmsNormOp), tol.RMSNorm) },
		backend.OpLinear:               func() { h.linear(b.(linearOp), tol.Linear) },
		backend.OpRoPE:                 func() { h.rope(b.(ropeOp), tol.RoPE) },
		backend.OpAttention:            func() { h.attn().attention(b.(attentionOp), tol.Attention) },
		backend.OpSiLUMul:              func() { h.siluMul(b.(siluMulOp), tol.SiLUMul) },
		backend.OpAdd:                  func() { h.add(b.(addOp), tol.Add) },
		backend.OpAddScaled:            func() { h.addScaled(b.(addScaledOp), tol.AddScaled) },
		backend.OpCrossEntropy:         func() { h.crossEntropy(b.(crossEntropyOp), tol.CrossEntropy) },
		backend.OpRMSNormBackward:      func() { h.rmsnormBackward(b.(rmsNormBackwardOp), tol.Grad) },
		backend.OpLinearBackward:       func() { h.linearBackward(b.(linearBackwardOp), tol.Grad) },
		backend.OpLinearWeightGrad:     func() { h.linearWeightGrad(b.(linearWeightGradOp), tol.Grad) },
		backend.OpRoPEBackward:         func() { h.ropeBackward(b.(ropeBackwardOp), tol.Grad) },
		backend.OpAttentionBackward:    func() { h.attn().attentionBackward(b.(attentionBackwardOp), tol.Grad) },
		backend.OpSiLUMulBackward:      func() { h.siluMulBackward(b.(siluMulBackwardOp), tol.Grad) },
		backend.OpCrossEntropyBackward: func() { h.crossEntropyBackward(b.(crossEntropyBackwardOp), tol.Grad) },
		backend.OpDropout:              func() { h.dropout(b.(dropoutOp)) },
		backend.OpSumSquares:           func() { h.sumSquares(o(), tol.SumSquares) },
		backend.OpAdamW:                func() { h.adamw(o(), tol.AdamW) },
		backend.OpUploadNF4:            func() { h.uploadNF4(q()) },
		backend.OpDequantize:           func() { h.dequantize(q(), tol.Dequantize) },
		backend.OpLoRALinear: func() {
			h.loraLinear(h.b.(backend.LoRALinear), cpu.New(0), tol.Fused)
		},
		backend.OpAdamWClipped: func() {
			c := h.b.(backend.ClippedAdamW)
			h.adamwClipped(c, cpu.New(0), tol.Fused)
			h.adamwUnclipped(c, tol.Fused)
		},
		backend.OpQuantizeNF4: func() { h.quantizeNF4(h.b.(backend.NF4Quantizer)) },
		backend.OpCrossEntropySum: func() {
			h.crossEntropySum(h.b.(backend.LossSum), tol.CrossEntropy)
		},
		backend.OpAddRMSNorm: func() {
			h.addRMSNorm(h.b.(backend.ResidualRMSNorm), cpu.New(0), tol.Fused)
		},
	}
}

func (h *harness) zero() {
	for _, n := range []int{1, 37, 1000} {
		g := h.inPlace(h.randn(n, 1))
		h.b.Zero(g.view, n)
		check(h.t, "Zero", fmt.Sprintf("n=%d", n), h.read("Zero", g), make([]float64, n), Tol{})
	}
}

func (h *harness) embedding(f embeddingOp, tol Tol) {
	for i, c := range []struct{ vocab, dim, n int }{{1, 1, 1}, {13, 5, 1}, {997, 67, 9}, {50, 64, 33}} {
		table, tw := h.weightInput(h.randn(c.vocab*c.dim, 1), i)
		ids := make([]int32, c.n)
		for j := range ids {
			ids[j] = int32(h.rng.IntN(c.vocab))
		}
		ids[len(ids)-1] = int32(c.vocab - 1)
		out := h.actOutput(c.n * c.dim)
		f.Embedding(out.view, table, ids, c.dim)
		want := make([]float64, 0, c.n*c.dim)
		for _, id := range ids {
			want = append(want, tw[int(id)*c.dim:(int(id)+1)*c.dim]...)
		}
		check(h.t, "Embedding", fmt.Sprintf("vocab=%d dim=%d n=%d", c.vocab, c.dim, c.n), h.actRead("Embedding", out), want, tol)
	}
}

func (h *harness) rmsnorm(f rmsNormOp, tol Tol) {
	// Rows of 1000 and 3584 elements are longer than a GPU block's threads.
	for i, c := range []struct{ rows, dim int }{{1, 1}, {1, 64}, {3, 17}, {33, 67}, {7, 200}, {3, 1000}, {2, 3584}} {
		x, xw := h.actInput(h.randn(c.rows*c.dim, 3))
		w, ww := h.weightInput(h.randn(c.dim, 1), i)
		out := h.actOutput(c.rows * c.dim)
		f.RMSNorm(out.view, x, w, c.rows, c.dim, 1e-6)
		check(h.t, "RMSNorm", fmt.Sprintf("rows=%d dim=%d", c.rows, c.dim), h.actRead("RMSNorm", out),
			refRMSNorm(xw, ww, c.rows, c.dim, 1e-6), tol)
	}
}

func (h *harness) linear(f linearOp, tol Tol) {
	for i, c := range []struct {
		rows, in, out int
		bias          bool
	}{{1, 1, 1, false}, {1, 64, 7, true}, {3, 13, 33, true}, {5, 67, 130, false}, {33, 211, 45, true}, {70, 31, 9, true}} {
		x, xw := h.actInput(h.randn(c.rows*c.in, 1))
		w, ww := h.weightInput(h.randn(c.out*c.in, 1/math.Sqrt(float64(c.in))), i)
		var bias backend.Buffer
		var bw []float64
		if c.bias {
			bias, bw = h.weightInput(h.randn(c.out, 0.1), i)
		}
		out := h.actOutput(c.rows * c.out)
		f.Linear(out.view, x, w, bias, c.rows, c.in, c.out)
		check(h.t, "Linear", fmt.Sprintf("rows=%d in=%d out=%d bias=%v", c.rows, c.in, c.out, c.bias), h.actRead("Linear", out),
			refLinear(xw, ww, bw, c.rows, c.in, c.out), tol)
	}
}

func (h *harness) rope(f ropeOp, tol Tol) {
	for _, c := range []struct {
		rows, heads, headDim int
		theta                float64
		start                int32
	}{{1, 1, 2, 10000, 0}, {1, 4, 16, 1e6, 37}, {7, 3, 10, 1e6, 0}, {33, 2, 64, 1e6, 1000}, {3, 4, 128, 1e6, 30000}} {
		pos := make([]int32, c.rows)
		for i := range pos {
			pos[i] = c.start + int32(i)
		}
		buf, xw := h.actInPlace(h.randn(c.rows*c.heads*c.headDim, 1))
		f.RoPE(buf.view, pos, c.rows, c.heads, backend.InvFreq(c.headDim, c.theta))
		check(h.t, "RoPE", fmt.Sprintf("rows=%d heads=%d headDim=%d start=%d", c.rows, c.heads, c.headDim, c.start), h.actRead("RoPE", buf),
			refRoPE(xw, pos, c.rows, c.heads, backend.InvFreq(c.headDim, c.theta)), tol)
	}
}

func (h *harness) siluMul(f siluMulOp, tol Tol) {
	for _, n := range []int{1, 7, 176, 1001} {
		g, gw := h.actInput(h.randn(n, 4))
		u, uw := h.actInput(h.randn(n, 1))
		out := h.actOutput(n)
		f.SiLUMul(out.view, g, u, n)
		check(h.t, "SiLUMul", fmt.Sprintf("n=%d", n), h.actRead("SiLUMul", out), refSiLUMul(gw, uw), tol)
	}
}

func (h *harness) add(f addOp, tol Tol) {
	for _, n := range []int{1, 33, 1001} {
		a, aw := h.actInput(h.randn(n, 1))
		c, cw := h.actInput(h.randn(n, 1))
		out := h.actOutput(n)
		f.Add(out.view, a, c, n)
		want := make([]float64, n)
		for i := range want {
			want[i] = aw[i] + cw[i]
		}
		check(h.t, "Add", fmt.Sprintf("n=%d", n), h.actRead("Add", out), want, tol)
	}
}

func (h *harness) addScaled(f addScaledOp, tol Tol) {
	for _, n := range []int{1, 33, 1001} {
		acc, aw := h.actInPlace(h.randn(n, 1))
		c, cw := h.actInput(h.randn(n, 1))
		f.AddScaled(acc.view, c, 0.37, n)
		want := make([]float64, n)
		for i := range want {
			want[i] = aw[i] + float64(float32(0.37))*cw[i]
		}
		check(h.t, "AddScaled", fmt.Sprintf("n=%d", n), h.actRead("AddScaled", acc), want, tol)
	}
}

// targets draws one random target per row, every third one IgnoreIndex.
func (h *harness) targets(rows, vocab int) []int32 {
	targets := make([]int32, rows)
	for i := range targets {
		targets[i] = int32(h.rng.IntN(vocab))
		if i%3 == 1 {
			targets[i] = backend.IgnoreIndex
		}
	}
	return targets
}

func (h *harness) crossEntropy(f crossEntropyOp, tol Tol) {
	for _, c := range []struct{ rows, vocab int }{{1, 1}, {1, 997}, {9, 33}, {14, 1000}, {3, 4099}} {
		logits, lw := h.actInput(h.randn(c.rows*c.vocab, 3))
		targets := h.targets(c.rows, c.vocab)
		loss := make([]float64, c.rows)
		for i := range loss {
			loss[i] = math.NaN()
		}
		f.CrossEntropy(loss, logits, targets, c.rows, c.vocab)
		got := make([]float32, c.rows)
		for i, l := range loss {
			got[i] = float32(l)
		}
		check(h.t, "CrossEntropy", fmt.Sprintf("rows=%d vocab=%d", c.rows, c.vocab), got,
			refCrossEntropy(lw, targets, c.rows, c.vocab), tol)
	}
}

// crossEntropySum checks CrossEntropySum against the float64 reference:
// three chunks added into one sum that starts non-zero, with a scale, an
// odd vocabulary and ignored rows. The sum's error is held to the
// CrossEntropy rule against the largest chunk's summed loss, plus the
// float32 rounding of the sum: at most two roundings per chunk (of the
// chunk's sum and of the addition), half a float32 ulp each, of the
// running total.
func (h *harness) crossEntropySum(f backend.LossSum, tol Tol) {
	sum := h.inPlace([]float32{0.25, 3})
	want := []float64{0.25, 3}
	const scale = 0.5
	var worst, rounding float64
	for _, c := range []struct{ rows, vocab int }{{1, 997}, {9, 33}, {14, 1000}} {
		logits := h.randn(c.rows*c.vocab, 3)
		targets := h.targets(c.rows, c.vocab)
		f.CrossEntropySum(sum.view, h.input(logits), targets, c.rows, c.vocab, scale)
		var chunk float64
		for r, l := range refCrossEntropy(widen(logits), targets, c.rows, c.vocab) {
			chunk += l
			if targets[r] != backend.IgnoreIndex {
				want[1]++
			}
		}
		want[0] += scale * chunk
		worst = max(worst, scale*chunk)
		rounding += 2 * 0x1p-24 * math.Abs(want[0])
	}
	got := h.read("CrossEntropySum", sum)
	if !(math.Abs(float64(got[0])-want[0]) <= tol.Atol+tol.Rtol*worst+rounding) || float64(got[1]) != want[1] {
		h.t.Errorf("CrossEntropySum: sum %v, counted %v; want %v and %v", got[0], got[1], want[0], want[1])
	}
}

// adamwUnclipped checks AdamWClipped with maxNorm +Inf, which must not
// clip (the coefficient is 1) yet return the norm, against SumSquares and
// AdamW on the CPU backend.
func (h *harness) adamwUnclipped(o backend.ClippedAdamW, tol FusedTol) {
	ref := cpu.New(0)
	n := 1000
	p := h.randn(n, 1)
	pb, mb, vb := h.inPlace(p), h.inPlace(make([]float32, n)), h.inPlace(make([]float32, n))
	rp, rm, rv := upload(ref, p), ref.Alloc(n), ref.Alloc(n)
	for step := 1; step <= 2; step++ {
		gr := h.randn(n, 10) // a norm of about 300: clipping at any usual maxNorm would show
		s := backend.AdamWStep{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: step, GradScale: 7}
		norm := o.AdamWClipped(pb.view, h.input(gr), mb.view, vb.view, n, s, math.Inf(1))
		rg := upload(ref, gr)
		want := math.Sqrt(ref.SumSquares(rg, n))
		s.GradScale = 1
		ref.AdamW(rp, rg, rm, rv, n, s)
		name := fmt.Sprintf("n=%d max_norm=+Inf step=%d", n, step)
		if !(math.Abs(norm-want) <= tol.Norm.Atol+tol.Norm.Rtol*want) {
			h.t.Errorf("AdamWClipped norm %s: got %v, want %v", name, norm, want)
		}
		check(h.t, "AdamWClipped p", name, h.read("AdamWClipped p", pb), widen(download(ref, rp, n)), tol.AdamW)
		check(h.t, "AdamWClipped m", name, h.read("AdamWClipped m", mb), widen(download(ref, rm, n)), tol.AdamW)
		check(h.t, "AdamWClipped v", name, h.read("AdamWClipped v", vb), widen(download(ref, rv, n)), tol.AdamW)
	}
}
