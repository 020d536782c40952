package backend

// Optional fused ops. A backend implements and declares them (OpLoRALinear,
// OpAdamWClipped, OpQuantizeNF4, OpCrossEntropySum, OpAddRMSNorm) where
// fusing pays, as the CUDA backend does; the CPU needs none of them.
// Callers do not type-assert: they call the helpers LoRALinearForward,
// LoRALinearBackward, AdamWClipped, QuantizeNF4, CrossEntropySum and
// AddRMSNorm of this package
// (compose.go), which run the fused op when the backend declares it and
// otherwise compose the same result from the ops of Backend, exactly as
// each op's documentation below shows. backend/conformance checks a fused
// op against that composition on the CPU backend.

// LoRAShape gives the sizes of one LoRA-adapted linear layer: Rows tokens
// of In features in, Out features out, adapter rank Rank, and the adapter's
// scaling Scale (PEFT's lora_alpha/r).
//
// Dropout is the probability p in [0, 1) of PEFT's lora_dropout on the
// adapter's input (0: none), and DropoutSeed the seed of its mask:
// mask = DropoutMask(p, DropoutSeed) laid out [Rows, In] like x, and
// dropout(x) = x ⊙ mask. The backward pass regenerates the same mask from
// the seed; nothing is stored between the two calls.
type LoRAShape struct {
	Rows, In, Out, Rank int
	Scale               float32
	Dropout             float32
	DropoutSeed         uint64
}

// LoRALinear is the linear layer of a (Q)LoRA-adapted projection, fused:
// the frozen weight W [Out, In] and the adapter A [Rank, In], B [Out, Rank]
// (PEFT's lora_A and lora_B weights) in one op, forward and backward.
//
// W is a buffer from Quant.UploadNF4 (QLoRA) or a float buffer (LoRA);
// bias [Out] is a float buffer or nil; A, B, dA and dB are buffers from
// Memory.Alloc. The activations x, y [Rows, In|Out] and dy, dx are buffers
// from Memory.AllocActivation, which may store a narrower type (bfloat16
// on the CUDA backend), so the fused op is checked with that type's
// tolerances.
type LoRALinear interface {
	Memory

	// LoRALinearForward computes y = x·Wᵀ + bias + Scale·(dropout(x)·Aᵀ)·Bᵀ,
	// writing y with `=`. Its unfused equivalent, with t [Rows, Rank],
	// u [Rows, Out], xd [Rows, In] and, for an NF4 weight, wf [Out, In]
	// scratch buffers (without dropout, xd is x itself):
	//
	//	Dequantize(wf, w)                          // NF4 only; then use wf as w
	//	Linear(y, x, w, bias, Rows, In, Out)       // y = x·Wᵀ + bias
	//	Dropout(xd, x, Dropout, DropoutSeed, Rows*In) // xd = dropout(x)
	//	Linear(t, xd, A, nil, Rows, In, Rank)      // t = xd·Aᵀ
	//	Linear(u, t, B, nil, Rows, Rank, Out)      // u = t·Bᵀ
	//	AddScaled(y, u, Scale, Rows*Out)           // y += Scale·u
	LoRALinearForward(y, x, w, bias, a, b Buffer, s LoRAShape)

	// LoRALinearBackward computes, from dy [Rows, Out] and the forward
	// input x, the input gradient dx = dy·W + Scale·mask⊙((dy·B)·A) with `=`
	// (dx may be nil to skip it) and accumulates the adapter's gradients
	// dA += Scale·(dy·B)ᵀ·dropout(x) and dB += Scale·dyᵀ·(dropout(x)·Aᵀ)
	// with `+=`, as LinearWeightGrad does. Its unfused equivalent, with g,
	// gs, t, ts [Rows, Rank], e and xd [Rows, In] scratch buffers and wf as
	// above (without dropout, xd is x and the second Dropout is skipped):
	//
	//	LinearBackward(dx, dy, w, Rows, In, Out)   // dx = dy·W
	//	LinearBackward(g, dy, B, Rows, Rank, Out)  // g = dy·B
	//	LinearBackward(e, g, A, Rows, In, Rank)    // e = g·A
	//	Dropout(e, e, Dropout, DropoutSeed, Rows*In) // e = mask⊙e
	//	AddScaled(dx, e, Scale, Rows*In)           // dx += Scale·e
	//	Zero(gs, Rows*Rank)
	//	AddScaled(gs, g, Scale, Rows*Rank)         // gs = Scale·g
	//	Dropout(xd, x, Dropout, DropoutSeed, Rows*In) // xd = dropout(x)
	//	LinearWeightGrad(dA, gs, xd, Rows, In, Rank) // dA += gsᵀ·xd
	//	Linear(t, xd, A, nil, Rows, In, Rank)      // t = xd·Aᵀ
	//	Zero(ts, Rows*Rank)
	//	AddScaled(ts, t, Scale, Rows*Rank)         // ts = Scale·t
	//	LinearWeightGrad(dB, dy, ts, Rows, Rank, Out) // dB += dyᵀ·ts
	LoRALinearBackward(dx, da, db, dy, x, w, a, b Buffer, s LoRAShape)
}

// ClippedAdamW is one optimizer step with global gradient-norm clipping,
// fused so that the clipping coefficient never leaves the device.
type ClippedAdamW interface {
	Memory

	// AdamWClipped clips the gradients g of n elements by their global L2
	// norm as torch.nn.utils.clip_grad_norm_(max_norm=maxNorm) does, takes
	// one AdamW step (s.GradScale is ignored) and returns the norm before
	// clipping. maxNorm is positive; +Inf does not clip (the coefficient
	// is 1) but still returns the norm. Its unfused equivalent:
	//
	//	norm := math.Sqrt(SumSquares(g, n))
	//	s.GradScale = min(1, float32(maxNorm)/(float32(norm)+1e-6))
	//	AdamW(p, g, m, v, n, s)
	//	return norm
	AdamWClipped(p, g, m, v Buffer, n int, s AdamWStep, maxNorm float64) float64
}

// NF4Quantizer quantizes a frozen weight to NF4 where it lives, so that a
// loader uploads the float weight piece by piece and neither the float
// tensor nor its NF4 form is ever whole in host memory.
type NF4Quantizer interface {
	Memory

	// QuantizeNF4 returns a buffer like Quant.UploadNF4's holding the
	// first n = Π shape elements of w (a float32 buffer from Alloc, every
	// element finite) quantized with double quantization, bit for bit as
	// quant.Quantize(w, shape, blockSize, true) quantizes them; blockSize
	// is a power of two from 32 to 4096. Its unfused equivalent:
	//
	//	v := make([]float32, n)
	//	Download(v, w)
	//	q, _ := quant.Quantize(v, shape, blockSize, true)
	//	return UploadNF4(q)
	QuantizeNF4(w Buffer, shape []int, blockSize int) Buffer
}

// LossSum sums a loss where the logits are, so that a training step reads
// its loss back once instead of once per chunk of logits.
type LossSum interface {
	Memory

	// CrossEntropySum adds scale times the sum of CrossEntropy's loss[r]
	// over the rows into sum[0] and the number of rows whose target is
	// not IgnoreIndex into sum[1], with `+=`; sum is a float32 buffer
	// from Alloc. The rows' sum is taken in float64 and added in float32.
	// Its unfused equivalent:
	//
	//	loss := make([]float64, rows)
	//	CrossEntropy(loss, logits, targets, rows, vocab)
	//	s := make([]float32, 2)
	//	Download(s, sum)
	//	s[0] += float32(float64(scale) * Σ loss)
	//	s[1] += float32(count of targets != IgnoreIndex)
	//	Upload(sum, s)
	CrossEntropySum(sum, logits Buffer, targets []int32, rows, vocab int, scale float32)
}

// ResidualRMSNorm is a residual add followed by the RMSNorm of its result,
// as a decoder layer does between its attention and MLP blocks, fused so
// that the sum is read back from registers rather than from memory.
type ResidualRMSNorm interface {
	Memory

	// AddRMSNorm computes sum = a + b over rows·dim elements (sum may
	// alias a or b) and h = RMSNorm(sum, w) for rows of dim elements, the
	// norm reading sum as stored (rounded to its buffer's type). Its
	// unfused equivalent:
	//
	//	Add(sum, a, b, rows*dim)
	//	RMSNorm(h, sum, w, rows, dim, eps)
	AddRMSNorm(sum, h, a, b, w Buffer, rows, dim int, eps float32)
}
