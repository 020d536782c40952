package backend

import (
	"math"

	"github.com/tune-dev/tune/quant"
)

// The helpers callers use for the fused ops: each runs the backend's fused
// op when the backend declares it and otherwise the composition its
// interface documents (fused.go), written here once.

// LoRAScratch is the working memory of the LoRA linear composition, unused
// when the backend fuses the op. For a layer of shape s:
//
//   - Rank1 and Rank2 hold Rows·Rank elements each: t and u of the forward
//     composition; g and gs, then t and ts (which reuse them), of the
//     backward one;
//   - Wide holds Rows·max(In, Out) elements: dropout(x), then u, in the
//     forward composition; e, then dropout(x), in the backward one;
//   - Deq is nil when w is a float buffer; when w is an NF4 buffer from
//     Quant.UploadNF4, it holds the Out·In float elements w is dequantized
//     into.
//
// The buffers may be larger than that and are clobbered.
type LoRAScratch struct {
	Rank1, Rank2, Wide, Deq Buffer
}

// LoRALinearOps is what LoRALinearForward and LoRALinearBackward run on b:
// OpLoRALinear when b supports it, else the ops of the composition (with
// OpDropout only when the layer has dropout and OpDequantize only for an
// NF4 weight).
func LoRALinearOps(b Memory, dropout, nf4 bool) OpSet {
	if Supports(b, OpLoRALinear) {
		return Set(OpLoRALinear)
	}
	s := Set(OpLinear, OpAddScaled, OpLinearBackward, OpLinearWeightGrad)
	if dropout {
		s |= Set(OpDropout)
	}
	if nf4 {
		s |= Set(OpDequantize)
	}
	return s
}

// weight returns the float weight of a LoRA layer: w, or w dequantized into
// sc.Deq when w is an NF4 buffer.
func (sc LoRAScratch) weight(b Backend, w Buffer, s LoRAShape) Buffer {
	if sc.Deq == nil {
		return w
	}
	wf := b.Slice(sc.Deq, 0, s.Out*s.In)
	b.Dequantize(wf, w)
	return wf
}

// dropped returns dropout(x) for the layer's adapter: x itself without
// dropout, else the mask of (s.Dropout, s.DropoutSeed) applied into
// sc.Wide.
func (sc LoRAScratch) dropped(b Backend, x Buffer, s LoRAShape) Buffer {
	if s.Dropout == 0 {
		return x
	}
	xd := b.Slice(sc.Wide, 0, s.Rows*s.In)
	b.Dropout(xd, x, s.Dropout, s.DropoutSeed, s.Rows*s.In)
	return xd
}

// LoRALinearForward computes y = x·Wᵀ + bias + Scale·(dropout(x)·Aᵀ)·Bᵀ
// (see LoRALinear.LoRALinearForward) on b: its fused op when b supports
// OpLoRALinear, else the documented composition in sc.
func LoRALinearForward(b Backend, y, x, w, bias, a, bm Buffer, s LoRAShape, sc LoRAScratch) {
	if Supports(b, OpLoRALinear) {
		b.(LoRALinear).LoRALinearForward(y, x, w, bias, a, bm, s)
		return
	}
	b.Linear(y, x, sc.weight(b, w, s), bias, s.Rows, s.In, s.Out)
	xd := sc.dropped(b, x, s)
	t := b.Slice(sc.Rank1, 0, s.Rows*s.Rank)
	b.Linear(t, xd, a, nil, s.Rows, s.In, s.Rank)
	u := b.Slice(sc.Wide, 0, s.Rows*s.Out) // dropout(x) is no longer needed
	b.Linear(u, t, bm, nil, s.Rows, s.Rank, s.Out)
	b.AddScaled(y, u, s.Scale, s.Rows*s.Out)
}

// LoRALinearBackward computes the input gradient dx (with `=`; nil skips
// it) and accumulates the adapter's gradients dA and dB (with `+=`) of a
// LoRA layer (see LoRALinear.LoRALinearBackward) on b: its fused op when b
// supports OpLoRALinear, else the documented composition in sc.
func LoRALinearBackward(b Backend, dx, da, db, dy, x, w, a, bm Buffer, s LoRAShape, sc LoRAScratch) {
	if Supports(b, OpLoRALinear) {
		b.(LoRALinear).LoRALinearBackward(dx, da, db, dy, x, w, a, bm, s)
		return
	}
	rows, r := s.Rows, s.Rank
	g, gs := b.Slice(sc.Rank1, 0, rows*r), b.Slice(sc.Rank2, 0, rows*r)
	b.LinearBackward(g, dy, bm, rows, r, s.Out)
	if dx != nil {
		b.LinearBackward(dx, dy, sc.weight(b, w, s), rows, s.In, s.Out)
		e := b.Slice(sc.Wide, 0, rows*s.In)
		b.LinearBackward(e, g, a, rows, s.In, r)
		if s.Dropout != 0 {
			b.Dropout(e, e, s.Dropout, s.DropoutSeed, rows*s.In)
		}
		b.AddScaled(dx, e, s.Scale, rows*s.In)
	}
	b.Zero(gs, rows*r)
	b.AddScaled(gs, g, s.Scale, rows*r)
	xd := sc.dropped(b, x, s) // e is no longer needed
	b.LinearWeightGrad(da, gs, xd, rows, s.In, r)
	t, ts := g, gs
	b.Linear(t, xd, a, nil, rows, s.In, r)
	b.Zero(ts, rows*r)
	b.AddScaled(ts, t, s.Scale, rows*r)
	b.LinearWeightGrad(db, dy, ts, rows, r, s.Out)
}

// AdamWClippedOps is what AdamWClipped runs on b: OpAdamWClipped when b
// supports it, else SumSquares and AdamW.
func AdamWClippedOps(b Memory) OpSet {
	if Supports(b, OpAdamWClipped) {
		return Set(OpAdamWClipped)
	}
	return OptimizerOps
}

// AdamWClipped takes one AdamW step with gradient clipping at the global
// norm maxNorm (0: no clipping) and returns the norm before clipping (see
// ClippedAdamW.AdamWClipped) on b: its fused op when b supports
// OpAdamWClipped, else the documented composition, whose norm is a host
// round trip.
func AdamWClipped(b Backend, p, g, m, v Buffer, n int, s AdamWStep, maxNorm float64) float64 {
	if !(maxNorm > 0) {
		maxNorm = math.Inf(1)
	}
	if Supports(b, OpAdamWClipped) {
		return b.(ClippedAdamW).AdamWClipped(p, g, m, v, n, s, maxNorm)
	}
	norm := math.Sqrt(b.SumSquares(g, n))
	// torch computes the coefficient as a float32 tensor.
	s.GradScale = min(1, float32(maxNorm)/(float32(norm)+1e-6))
	b.AdamW(p, g, m, v, n, s)
	return norm
}

// QuantizeNF4 quantizes the float32 weight w of the given shape to NF4 with
// double quantization (see NF4Quantizer.QuantizeNF4) on b: its op when b
// supports OpQuantizeNF4, else the documented composition through the
// host. The error is quant.Quantize's (a bad block size, a non-finite
// element) on the composed path.
func QuantizeNF4(b Backend, w Buffer, shape []int, blockSize int) (Buffer, error) {
	if Supports(b, OpQuantizeNF4) {
		return b.(NF4Quantizer).QuantizeNF4(w, shape, blockSize), nil
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	b.Download(v, w)
	q, err := quant.Quantize(v, shape, blockSize, true)
	if err != nil {
		return nil, err
	}
	return b.UploadNF4(q), nil
}

// CrossEntropySum adds scale times the rows' summed cross-entropy into
// sum[0] and their counted targets into sum[1] (see
// LossSum.CrossEntropySum) on b: its op when b supports
// OpCrossEntropySum, else the documented composition through the host.
func CrossEntropySum(b Backend, sum, logits Buffer, targets []int32, rows, vocab int, scale float32) {
	if Supports(b, OpCrossEntropySum) {
		b.(LossSum).CrossEntropySum(sum, logits, targets, rows, vocab, scale)
		return
	}
	loss := make([]float64, rows)
	b.CrossEntropy(loss, logits, targets, rows, vocab)
	var total float64
	counted := 0
	for r, l := range loss {
		total += l
		if targets[r] != IgnoreIndex {
			counted++
		}
	}
	s := make([]float32, 2)
	b.Download(s, sum)
	s[0] += float32(float64(scale) * total)
	s[1] += float32(counted)
	b.Upload(sum, s)
}

// AddRMSNormOps is what AddRMSNorm runs on b: OpAddRMSNorm when b supports
// it, else Add and RMSNorm.
func AddRMSNormOps(b Memory) OpSet {
	if Supports(b, OpAddRMSNorm) {
		return Set(OpAddRMSNorm)
	}
	return Set(OpAdd, OpRMSNorm)
}

// AddRMSNorm computes sum = a + b and h = RMSNorm(sum, w) (see
// ResidualRMSNorm.AddRMSNorm) on bk: its fused op when bk supports
// OpAddRMSNorm, else the documented composition.
func AddRMSNorm(bk Backend, sum, h, a, b, w Buffer, rows, dim int, eps float32) {
	if Supports(bk, OpAddRMSNorm) {
		bk.(ResidualRMSNorm).AddRMSNorm(sum, h, a, b, w, rows, dim, eps)
		return
	}
	bk.Add(sum, a, b, rows*dim)
	bk.RMSNorm(h, sum, w, rows, dim, eps)
}
