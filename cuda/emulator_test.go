package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/conformance"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/quant"
)

// emulator is the CPU backend with the fused LoRA linear layer computed the
// way lora_linear.cu computes it: float32 sums, with bfloat16 rounding where
// the GPU stores bfloat16. That is the activations; W, A and B as the build
// kernel writes them into the concatenated weight; the bias; the adapter's
// activations s·x·Aᵀ and s·dy·B; in the C-operand forms, z = s·t·Bᵀ + bias
// and e = g·A; and y and dx, each once. The emulation takes the same form as
// the kernels for each shape: the K-concatenated GEMM when the operand it
// copies (x forward, dy backward) is no wider than the output, else the C
// operand (always for dx with dropout). Dropout is applied as the kernels
// apply it: x0 = x with the dropped elements zeroed, and keep = 1/(1-p) in
// the alpha of the GEMMs that read x0 (t = (s·keep)·x0·Aᵀ, dA += keep·gᵀ·x0)
// and of e = keep·g·A, whose dropped elements are then zeroed.
// TestFusedAlgebra runs conformance.TestFused on it, so the algebra of the
// kernels and the bfloat16 tolerances are checked on every machine; the GPU
// runs the same test on the real kernels.
type emulator struct {
	*cpu.Backend
}

// act is an activation buffer of the emulator: it holds bfloat16 values.
type act struct{ backend.Buffer }

// packed is an NF4 buffer of the emulator.
type packed struct{ backend.Buffer }

func inner(x backend.Buffer) backend.Buffer {
	switch v := x.(type) {
	case act:
		return v.Buffer
	case packed:
		return v.Buffer
	}
	return x
}

func roundBF16(v []float32) {
	for i, f := range v {
		v[i] = bf16Float(bf16Bits(f))
	}
}

func (e emulator) AllocActivation(n int) backend.Buffer { return act{e.Backend.Alloc(n)} }

func (e emulator) UploadNF4(q *quant.NF4) backend.Buffer { return packed{e.Backend.UploadNF4(q)} }

func (e emulator) Slice(x backend.Buffer, off, n int) backend.Buffer {
	if a, ok := x.(act); ok {
		return act{e.Backend.Slice(a.Buffer, off, n)}
	}
	return e.Backend.Slice(x, off, n)
}

func (e emulator) Upload(dst backend.Buffer, src []float32) {
	if a, ok := dst.(act); ok {
		r := append([]float32(nil), src...)
		roundBF16(r)
		e.Backend.Upload(a.Buffer, r)
		return
	}
	e.Backend.Upload(dst, src)
}

func (e emulator) Download(dst []float32, src backend.Buffer) { e.Backend.Download(dst, inner(src)) }
func (e emulator) Free(x backend.Buffer)                      { e.Backend.Free(inner(x)) }

// host returns the first n values of x.
func (e emulator) host(x backend.Buffer, n int) []float32 {
	v := make([]float32, n)
	e.Backend.Download(v, inner(x))
	return v
}

// roundedCopy returns a copy of v rounded to bfloat16.
func roundedCopy(v []float32) []float32 {
	r := append([]float32(nil), v...)
	roundBF16(r)
	return r
}

// scaledBF16 returns bf16(s·v), as a GEMM with alpha = s stores it.
func scaledBF16(v []float32, s float32) []float32 {
	r := make([]float32, len(v))
	for i, f := range v {
		r[i] = s * f
	}
	roundBF16(r)
	return r
}

// cols returns [a | b] for a [m,ka] and b [m,kb].
func cols(a, b []float32, m, ka, kb int) []float32 {
	r := make([]float32, 0, m*(ka+kb))
	for i := 0; i < m; i++ {
		r = append(append(r, a[i*ka:(i+1)*ka]...), b[i*kb:(i+1)*kb]...)
	}
	return r
}

// transpose returns vᵀ for v [m,n].
func transpose(v []float32, m, n int) []float32 {
	r := make([]float32, len(v))
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			r[j*m+i] = v[i*n+j]
		}
	}
	return r
}

// mm returns a·bᵀ (+ bias) for a [m,k] and b [n,k]: float32 dot products
// on the CPU backend, like the GPU's fp32 accumulation in another order.
func (e emulator) mm(a, b, bias []float32, m, k, n int) []float32 {
	up := func(v []float32) backend.Buffer {
		buf := e.Backend.Alloc(len(v))
		e.Backend.Upload(buf, v)
		return buf
	}
	ab, bb, out := up(a), up(b), e.Backend.Alloc(m*n)
	var biasb backend.Buffer
	if bias != nil {
		biasb = up(bias)
		defer e.Backend.Free(biasb)
	}
	e.Backend.Linear(out, ab, bb, biasb, m, k, n)
	r := e.host(out, m*n)
	e.Backend.Free(ab)
	e.Backend.Free(bb)
	e.Backend.Free(out)
	return r
}

// add returns a + b elementwise in float32 (a GEMM's beta·C with beta = 1).
func add(a, b []float32) []float32 {
	r := make([]float32, len(a))
	for i := range a {
		r[i] = a[i] + b[i]
	}
	return r
}

// factors returns W [Out,In] (nil unless withW), A [Rank,In] and B [Out,Rank]
// rounded to bfloat16, as the build kernel writes them: W dequantized or
// read in float32, then one rounding.
func (e emulator) factors(w, a, b backend.Buffer, s backend.LoRAShape, withW bool) (w16, a16, b16 []float32) {
	if withW {
		if q, ok := w.(packed); ok {
			wf := e.Backend.Alloc(s.Out * s.In)
			e.Backend.Dequantize(wf, q.Buffer)
			w16 = e.host(wf, s.Out*s.In)
			e.Backend.Free(wf)
		} else {
			w16 = e.host(w, s.Out*s.In)
		}
		roundBF16(w16)
	}
	return w16, roundedCopy(e.host(a, s.Rank*s.In)), roundedCopy(e.host(b, s.Out*s.Rank))
}

// dropout returns the kernels' dropout of s: keep = float32(1/(1-p)) and
// the dropped elements of a [Rows, In] matrix (nil without dropout).
func dropout(s backend.LoRAShape) (keep float32, dropped []bool) {
	if s.Dropout == 0 {
		return 1, nil
	}
	mask := make([]float32, s.Rows*s.In)
	backend.DropoutMask(mask, float64(s.Dropout), s.DropoutSeed)
	dropped = make([]bool, len(mask))
	for i, m := range mask {
		dropped[i] = m == 0
		if m != 0 {
			keep = m
		}
	}
	return keep, dropped
}

// zeroDropped returns v with the dropped elements zeroed.
func zeroDropped(v []float32, dropped []bool) []float32 {
	if dropped == nil {
		return v
	}
	r := append([]float32(nil), v...)
	for i, d := range dropped {
		if d {
			r[i] = 0
		}
	}
	return r
}

func (e emulator) LoRALinearForward(y, x, w, bias, a, b backend.Buffer, s backend.LoRAShape) {
	w16, a16, b16 := e.factors(w, a, b, s, true)
	xv := e.host(x, s.Rows*s.In)
	var bias16 []float32
	if bias != nil {
		bias16 = roundedCopy(e.host(bias, s.Out))
	}
	keep, dropped := dropout(s)
	t := scaledBF16(e.mm(zeroDropped(xv, dropped), a16, nil, s.Rows, s.In, s.Rank), s.Scale*keep) // s·x0·Aᵀ
	var out []float32
	if s.In <= s.Out {
		// y = [x | s·t]·[W | B]ᵀ + bias: one float32 sum over K = In + Rank.
		out = e.mm(cols(xv, t, s.Rows, s.In, s.Rank), cols(w16, b16, s.Out, s.In, s.Rank), bias16,
			s.Rows, s.In+s.Rank, s.Out)
	} else {
		// z = bf16(s·t·Bᵀ + bias); y = x·Wᵀ + z.
		z := roundedCopy(e.mm(t, b16, bias16, s.Rows, s.Rank, s.Out))
		out = add(e.mm(xv, w16, nil, s.Rows, s.In, s.Out), z)
	}
	e.Upload(y, out)
}

func (e emulator) LoRALinearBackward(dx, da, db, dy, x, w, a, b backend.Buffer, s backend.LoRAShape) {
	w16, a16, b16 := e.factors(w, a, b, s, dx != nil)
	xv, dyv := e.host(x, s.Rows*s.In), e.host(dy, s.Rows*s.Out)
	keep, dropped := dropout(s)
	g := scaledBF16(e.mm(dyv, transpose(b16, s.Out, s.Rank), nil, s.Rows, s.Out, s.Rank), s.Scale) // s·dy·B
	if dx != nil {
		wt, at := transpose(w16, s.Out, s.In), transpose(a16, s.Rank, s.In) // Wᵀ [In,Out], Aᵀ [In,Rank]
		var out []float32
		if s.Out <= s.In && dropped == nil {
			// dx = [dy | g]·[W ; A]: one float32 sum over K = Out + Rank.
			out = e.mm(cols(dyv, g, s.Rows, s.Out, s.Rank), cols(wt, at, s.In, s.Out, s.Rank), nil,
				s.Rows, s.Out+s.Rank, s.In)
		} else {
			// e = bf16(keep·g·A), zeroed where dropped; dx = dy·W + e.
			ev := zeroDropped(scaledBF16(e.mm(g, at, nil, s.Rows, s.Rank, s.In), keep), dropped)
			out = add(e.mm(dyv, wt, nil, s.Rows, s.Out, s.In), ev)
		}
		e.Upload(dx, out)
	}
	x0 := zeroDropped(xv, dropped)
	t := scaledBF16(e.mm(x0, a16, nil, s.Rows, s.In, s.Rank), s.Scale*keep) // s·x0·Aᵀ
	// dA += keep·(gᵀ·x0) and dB += dyᵀ·t: float32 sums over rows, scaled by
	// the GEMM's alpha and added to the float32 gradients.
	e.addWeightGrad(da, g, x0, keep, s.Rows, s.In, s.Rank)
	e.addWeightGrad(db, dyv, t, 1, s.Rows, s.Rank, s.Out)
}

// addWeightGrad adds alpha·(dyᵀ·x) to grad [out, in] for dy [rows, out] and
// x [rows, in], as a GEMM with beta = 1 does: the float32 sum, times alpha,
// then added.
func (e emulator) addWeightGrad(grad backend.Buffer, dy, x []float32, alpha float32, rows, in, out int) {
	dyb, xb, sum := e.Backend.Alloc(len(dy)), e.Backend.Alloc(len(x)), e.Backend.Alloc(out*in)
	e.Backend.Upload(dyb, dy)
	e.Backend.Upload(xb, x)
	e.Backend.LinearWeightGrad(sum, dyb, xb, rows, in, out)
	v, acc := e.host(grad, out*in), e.host(sum, out*in)
	for i := range v {
		v[i] += float32(alpha * acc[i]) // the conversion rounds the product: no fused multiply-add
	}
	e.Backend.Upload(inner(grad), v)
	e.Backend.Free(dyb)
	e.Backend.Free(xb)
	e.Backend.Free(sum)
}

func TestFusedAlgebra(t *testing.T) {
	conformance.TestFused(t, emulator{cpu.New(0)}, cpu.New(0), fusedTolerances)
}

// fusedOps is what checkTinyAdapter needs of a backend: the emulator, or
// the GPU backend where there is one.
type fusedOps interface {
	backend.Memory
	backend.Quant
	backend.LoRALinear
}

// tinyErrors are the measured errors of one checkTinyAdapter run, each
// max|got-want|/max|want| against the exact (float64) result.
type tinyErrors struct{ y, dx, da, db float64 }

// checkTinyAdapter runs the fused layer with an adapter whose B is rel·|W|,
// on a weight of |W| ≈ 0.02 (bf16 ulp 1.2e-4) that lies in the null space
// of x and dy: W's columns come in pairs (w, -w) and x's in pairs (v, v);
// W's rows come in equal pairs and dy's columns in pairs (v, -v). x, dy and
// W hold few significant bits, so x·Wᵀ and dy·W are exactly 0 in any fp32
// summation order, and y and dx are the adapter's terms alone, which the
// exact float64 reference gives. A kernel that loses the adapter, or keeps
// it only to W's resolution, fails by up to 100% of max|want|.
func checkTinyAdapter(t *testing.T, f fusedOps, weightKind string, rows, in, out int, rel float64) tinyErrors {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, uint64(in*1000+out)))
	const rank, scale, wmag = 4, 2, 0.02
	s := backend.LoRAShape{Rows: rows, In: in, Out: out, Rank: rank, Scale: scale}
	grid := func() float32 { return float32(rng.IntN(65)-32) / 16 } // 7 bits: exact in bf16
	sign := func() float32 { return float32(2*rng.IntN(2) - 1) }
	wv := make([]float32, out*in)
	for j := 0; j < out/2; j++ {
		for k := 0; k < in/2; k++ {
			m := float32(wmag) * sign() // NF4: code ±1 times the block's absmax
			if weightKind == "float32" {
				m = sign() * float32(96+rng.IntN(160)) / 8192 // 0.012 .. 0.031, 8 bits
			}
			for p := 0; p < 2; p++ {
				wv[(2*j+p)*in+2*k], wv[(2*j+p)*in+2*k+1] = m, -m
			}
		}
	}
	xv := make([]float32, rows*in)
	for i := 0; i < len(xv); i += 2 {
		xv[i] = grid()
		xv[i+1] = xv[i]
	}
	dyv := make([]float32, rows*out)
	for i := 0; i < len(dyv); i += 2 {
		dyv[i] = grid()
		dyv[i+1] = -dyv[i]
	}
	av, bv := make([]float32, rank*in), make([]float32, out*rank)
	for i := range av {
		av[i] = float32(rng.NormFloat64() / math.Sqrt(float64(in)))
	}
	for i := range bv {
		bv[i] = float32(rel * wmag * rng.NormFloat64())
	}

	var w backend.Buffer
	w64 := make([]float64, len(wv)) // W as the backend holds it
	if weightKind == "nf4" {
		nf, err := quant.Quantize(wv, []int{out, in}, 64, false)
		if err != nil {
			t.Fatal(err)
		}
		w = f.UploadNF4(nf)
		deq := make([]float32, len(wv))
		nf.Dequantize(deq)
		for i, v := range deq {
			w64[i] = float64(v)
		}
	} else {
		w = f.Alloc(len(wv))
		f.Upload(w, wv)
		for i, v := range wv {
			w64[i] = float64(v)
		}
	}
	up := func(buf backend.Buffer, v []float32) backend.Buffer { f.Upload(buf, v); return buf }
	x, dy := up(f.AllocActivation(len(xv)), xv), up(f.AllocActivation(len(dyv)), dyv)
	a, bm := up(f.Alloc(len(av)), av), up(f.Alloc(len(bv)), bv)
	y, dx := f.AllocActivation(rows*out), f.AllocActivation(rows*in)
	da, db := f.Alloc(len(av)), f.Alloc(len(bv))
	f.Zero(da, len(av))
	f.Zero(db, len(bv))
	f.LoRALinearForward(y, x, w, nil, a, bm, s)
	f.LoRALinearBackward(dx, da, db, dy, x, w, a, bm, s)
	get := func(buf backend.Buffer, n int) []float32 { v := make([]float32, n); f.Download(v, buf); return v }
	gotY, gotDx, gotDa, gotDb := get(y, rows*out), get(dx, rows*in), get(da, len(av)), get(db, len(bv))
	for _, buf := range []backend.Buffer{w, x, dy, a, bm, y, dx, da, db} {
		f.Free(buf)
	}

	// The exact result, in float64.
	tx, u := make([]float64, rows*rank), make([]float64, rows*rank) // x·Aᵀ, dy·B
	for i := 0; i < rows; i++ {
		for r := 0; r < rank; r++ {
			for k := 0; k < in; k++ {
				tx[i*rank+r] += float64(xv[i*in+k]) * float64(av[r*in+k])
			}
			for o := 0; o < out; o++ {
				u[i*rank+r] += float64(dyv[i*out+o]) * float64(bv[o*rank+r])
			}
		}
	}
	wantY, wantDx := make([]float64, rows*out), make([]float64, rows*in)
	var base float64 // max |x·Wᵀ|, |dy·W|: 0 by construction
	for i := 0; i < rows; i++ {
		for o := 0; o < out; o++ {
			var xw, ad float64
			for k := 0; k < in; k++ {
				xw += float64(xv[i*in+k]) * w64[o*in+k]
			}
			for r := 0; r < rank; r++ {
				ad += tx[i*rank+r] * float64(bv[o*rank+r])
			}
			base = math.Max(base, math.Abs(xw))
			wantY[i*out+o] = xw + scale*ad
		}
		for k := 0; k < in; k++ {
			var dw, ad float64
			for o := 0; o < out; o++ {
				dw += float64(dyv[i*out+o]) * w64[o*in+k]
			}
			for r := 0; r < rank; r++ {
				ad += u[i*rank+r] * float64(av[r*in+k])
			}
			base = math.Max(base, math.Abs(dw))
			wantDx[i*in+k] = dw + scale*ad
		}
	}
	if base != 0 {
		t.Fatalf("the test's weight is not in the null space of x and dy: max |x·Wᵀ|, |dy·W| = %g", base)
	}
	wantDa, wantDb := make([]float64, rank*in), make([]float64, out*rank)
	for i := 0; i < rows; i++ {
		for r := 0; r < rank; r++ {
			for k := 0; k < in; k++ {
				wantDa[r*in+k] += scale * u[i*rank+r] * float64(xv[i*in+k])
			}
			for o := 0; o < out; o++ {
				wantDb[o*rank+r] += scale * float64(dyv[i*out+o]) * tx[i*rank+r]
			}
		}
	}
	return tinyErrors{relError(gotY, wantY), relError(gotDx, wantDx), relError(gotDa, wantDa), relError(gotDb, wantDb)}
}

// runTinyAdapter checks adapters from 1e-6 of |W| (early in training: PEFT
// starts B at zero) to |W|, with float32 and NF4 weights, in both
// forms of each direction (in > out and in < out), against the fused
// layer's rule, relative to the adapter's own term (no absolute slack: the
// terms are ~1e-7 at 1e-6).
//
// The merged-weight kernels this replaced (W' = bf16(W + s·B·A), one GEMM)
// failed it. Their CPU emulation measured, as error of max|want| for y and
// dx over the 8 cases of each size:
//
//	|B|/|W| = 1e-6, 1e-4: 1.00 everywhere: the adapter was rounded away
//	|B|/|W| = 1e-2:       y 0.22 .. 0.26, dx 0.19 .. 0.30
//	|B|/|W| = 1:          y 2.3e-3 .. 4.0e-3, dx 2.6e-3 .. 4.6e-3
//
// The concatenated kernels' emulation measures 2.9e-3 .. 5.1e-3 for y and
// dx at every size; dA and dB, which never went through W, 1.7e-3 .. 4.4e-3
// in both.
func runTinyAdapter(t *testing.T, f fusedOps) {
	rule := fusedTolerances.Forward.Rtol
	for _, kind := range []string{"float32", "nf4"} {
		for _, sh := range [][3]int{{16, 64, 48}, {16, 48, 64}} {
			for _, rel := range []float64{1e-6, 1e-4, 1e-2, 1} {
				got := checkTinyAdapter(t, f, kind, sh[0], sh[1], sh[2], rel)
				name := fmt.Sprintf("%s weight, rows=%d in=%d out=%d, |B|/|W|=%g", kind, sh[0], sh[1], sh[2], rel)
				t.Logf("%s: measured error y %.2e dx %.2e dA %.2e dB %.2e of max|want| (rule %g)", name, got.y, got.dx,
					got.da, got.db, rule)
				for _, c := range []struct {
					what string
					err  float64
				}{{"y", got.y}, {"dx", got.dx}, {"dA", got.da}, {"dB", got.db}} {
					if !(c.err <= rule) {
						t.Errorf("%s: %s is off by %.3g of max|want|, rule %g", name, c.what, c.err, rule)
					}
				}
			}
		}
	}
}

func TestTinyAdapter(t *testing.T) { runTinyAdapter(t, emulator{cpu.New(0)}) }

// relError is max|got-want| / max|want|. A NaN anywhere makes it NaN, so
// callers compare with !(err <= tol).
func relError[W float32 | float64](got []float32, want []W) float64 {
	var worst, maxWant float64
	for i, w := range want {
		worst = math.Max(worst, math.Abs(float64(got[i])-float64(w)))
		maxWant = math.Max(maxWant, math.Abs(float64(w)))
	}
	return worst / maxWant
}
