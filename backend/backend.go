package backend

import "github.com/tune-dev/tune/quant"

// Buffer is a run of float32-valued elements owned by one Backend. The CPU
// backend keeps float32 in host memory; an accelerator may keep another
// dtype in device memory. A Buffer is only ever passed back to the Backend
// that allocated it.
type Buffer interface {
	// Len is the number of elements.
	Len() int
}

// AttnShape describes one causal grouped-query attention call.
//
// Queries are laid out [Batch, Q, Heads*HeadDim]; keys and values are laid
// out [Batch, KVStride, KVHeads*HeadDim] of which the first KV rows of every
// batch entry are used. Query i of a row sits at absolute position QStart+i
// and may attend to key j only when j <= QStart+i (causal) and the key mask
// allows it. Query head h reads key/value head h / (Heads/KVHeads).
type AttnShape struct {
	Batch, Q, KV, KVStride  int
	Heads, KVHeads, HeadDim int
	QStart                  int
}

// DType is how a buffer stores its elements.
type DType uint8

const (
	Float32 DType = iota
	// BFloat16 stores the top 16 bits of a float32 (rounded to nearest,
	// ties to even); ops on such buffers accumulate in float32.
	BFloat16
)

func (d DType) String() string {
	if d == BFloat16 {
		return "bfloat16"
	}
	return "float32"
}

// Memory allocates buffers on one device and moves data to and from it.
// Every backend implements all of it.
type Memory interface {
	// Name says which implementation and device this is, for logs.
	Name() string

	// Ops declares the ops of the vocabulary (see Op) that the backend
	// implements. The conformance suite checks every one of them, and a
	// model refuses, with an error naming the op, a backend that lacks one
	// it needs.
	Ops() OpSet

	// Alloc returns a zero-filled float32 buffer of n elements: for
	// weights, adapter parameters, their gradients and optimizer state.
	Alloc(n int) Buffer
	// ActivationDType is how AllocActivation stores elements: Float32 on
	// the CPU, BFloat16 on the CUDA backend (whose ops accumulate in
	// float32).
	ActivationDType() DType
	// AllocActivation returns a zero-filled buffer of n elements in the
	// activation dtype: for activations and their gradients (a model's
	// activation arena and KV cache). Upload and Download convert to and
	// from float32.
	AllocActivation(n int) Buffer
	// WeightDType is how AllocWeight stores elements: Float32 on the
	// CPU, so its path stays bit-identical to a float32 model; BFloat16
	// on the CUDA backend, as a bf16 checkpoint stores them.
	WeightDType() DType
	// AllocWeight returns a zero-filled buffer of n elements in the
	// weight dtype: for a model's frozen base weights (embeddings,
	// norms, biases, unquantized projections), which ops only read.
	// Upload converts from float32.
	AllocWeight(n int) Buffer
	// Free releases a buffer; using it afterwards is a programmer error.
	Free(b Buffer)
	// Slice returns a view of n elements of b starting at element off.
	// Writes through the view land in b.
	Slice(b Buffer, off, n int) Buffer
	// Upload copies src into the first len(src) elements of dst.
	Upload(dst Buffer, src []float32)
	// Download copies the first len(dst) elements of src into dst.
	Download(dst []float32, src Buffer)
	// Zero sets the first n elements of b to 0.
	Zero(b Buffer, n int)
}

// Forward holds the ops of the decoder's forward pass.
type Forward interface {
	// Embedding gathers rows of table [vocab, dim]: out[i] = table[ids[i]].
	// An id outside [0, vocab) panics.
	Embedding(out, table Buffer, ids []int32, dim int)

	// RMSNorm computes out[r] = w * x[r] / sqrt(mean(x[r]^2) + eps) for
	// rows of dim elements.
	RMSNorm(out, x, w Buffer, rows, dim int, eps float32)

	// Linear computes out = x·wᵀ + bias for x [rows, in], w [outDim, in]
	// (the Hugging Face layout) and bias [outDim] (nil for none), giving
	// out [rows, outDim].
	Linear(out, x, w, bias Buffer, rows, in, outDim int)

	// RoPE rotates, in place, the heads of x [rows, heads*headDim], where
	// headDim = 2*len(invFreq), by the rotate-half (NeoX) convention: for
	// j < headDim/2, a = pos[r]*invFreq[j] and
	// (x1, x2) <- (x1 cos a - x2 sin a, x2 cos a + x1 sin a), where x1 is
	// element j and x2 is element j+headDim/2 of the head. invFreq is the
	// model's table of inverse frequencies (InvFreq, or a family's scaled
	// one), in float32 as Hugging Face computes it; as in Hugging Face, a
	// is rounded to float32 before the cosine and sine are taken (at
	// position 1000 that rounding alone moves the result by about 6e-5, so
	// an implementation must follow it to agree).
	RoPE(x Buffer, pos []int32, rows, heads int, invFreq []float32)

	// Attention computes softmax(q·kᵀ/sqrt(headDim) + mask)·v per query head
	// (see AttnShape) into out [Batch, Q, Heads*HeadDim].
	//
	// keyMask, when not nil, holds Batch*KVStride entries, one per key
	// position: 0 removes that key (padding); any other value is the
	// segment the token belongs to. A query at position p of row b whose
	// own entry keyMask[b*KVStride+p] is non-zero sees only keys of the
	// same segment, so packed sequences do not attend to each other; a
	// query whose own entry is 0 (a padding query) sees every non-zero
	// key, as in Hugging Face. A query with no key left gets zeros. The
	// softmax is taken in float32 or wider.
	//
	// lse, when not nil, is a float32 buffer (Alloc) of Batch*Heads*Q
	// elements laid out [Batch, Heads, Q] that receives each query's
	// log-sum-exp, log Σ_j exp(q·k_j/sqrt(headDim)) over the keys it sees
	// (0 for a query with no key): what AttentionBackward needs to
	// rebuild the probabilities without another pass. Inference passes nil.
	Attention(out, lse, q, k, v Buffer, keyMask []int32, s AttnShape)

	// SiLUMul computes out = silu(gate) * up elementwise over n elements,
	// with silu(x) = x / (1 + exp(-x)).
	SiLUMul(out, gate, up Buffer, n int)

	// Add computes out = a + b over n elements (out may alias a or b).
	Add(out, a, b Buffer, n int)

	// AddScaled computes out += s * x over n elements.
	AddScaled(out, x Buffer, s float32, n int)

	// CrossEntropy computes, for each of rows rows of logits [rows, vocab],
	// loss[r] = logsumexp(logits[r]) - logits[r][targets[r]], and 0 where
	// targets[r] is IgnoreIndex. It returns nothing on the device: loss is
	// a host slice of at least rows elements, filled in float64.
	CrossEntropy(loss []float64, logits Buffer, targets []int32, rows, vocab int)
}

// Backward holds the gradient ops of the training schedule. Each takes the
// upstream gradient dy of an op's output and writes the gradient of its
// inputs with `=`, except LinearWeightGrad, which accumulates with `+=`
// so that gradients sum over micro-batches. Norm weights, biases and base
// projection weights are frozen, so only input gradients exist for them.
type Backward interface {
	// RMSNormBackward computes dx [rows, dim] from dy, the forward input
	// x and the (frozen) weight w: with inv = 1/sqrt(mean(x^2)+eps) and
	// g = dy*w, dx = inv*g - x*inv^3*mean(g*x). dx may alias dy.
	RMSNormBackward(dx, dy, x, w Buffer, rows, dim int, eps float32)

	// LinearBackward computes dx = dy·w for dy [rows, outDim] and
	// w [outDim, in], giving dx [rows, in].
	LinearBackward(dx, dy, w Buffer, rows, in, outDim int)

	// LinearWeightGrad computes dw += dyᵀ·x for dy [rows, outDim] and
	// x [rows, in], accumulating into dw [outDim, in].
	LinearWeightGrad(dw, dy, x Buffer, rows, in, outDim int)

	// RoPEBackward maps, in place, the gradient of RoPE's output to the
	// gradient of its input: the rotation by -a (RoPE's transpose), with
	// the same float32 rounding of the angle.
	RoPEBackward(dx Buffer, pos []int32, rows, heads int, invFreq []float32)

	// AttentionBackward computes dq [Batch, Q, Heads*HeadDim] and dk, dv
	// [Batch, KVStride, KVHeads*HeadDim] (rows past KV are set to 0) from
	// dout, the forward inputs q, k, v, the forward's output out and its
	// log-sum-exp lse, with the same mask and shape as Attention. The
	// probabilities are recomputed from q, k and lse; a nil lse (a caller
	// that did not keep it) makes the op recompute it first. dk and dv sum
	// over the query heads that share a kv head.
	AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse Buffer, keyMask []int32, s AttnShape)

	// SiLUMulBackward computes dgate = dy*up*silu'(gate) and
	// dup = dy*silu(gate) over n elements, with
	// silu'(x) = sig(x)*(1 + x*(1-sig(x))). dgate may alias dy.
	SiLUMulBackward(dgate, dup, dy, gate, up Buffer, n int)

	// CrossEntropyBackward computes, for rows of logits [rows, vocab],
	// dlogits[r] = scale*(softmax(logits[r]) - onehot(targets[r])), and 0
	// for rows whose target is IgnoreIndex. dlogits may alias logits.
	CrossEntropyBackward(dlogits, logits Buffer, targets []int32, rows, vocab int, scale float32)

	// Dropout computes out = x * mask over n elements, where mask[i] is 0
	// or 1/(1-p) as backend.DropoutMask(mask, p, seed) draws it (a counter-
	// based hash, so the backward pass and every backend regenerate the
	// same mask from the seed). out may alias x.
	Dropout(out, x Buffer, p float32, seed uint64, n int)
}

// AdamWStep holds one optimizer step's hyperparameters. Step counts from 1.
// GradScale multiplies every gradient before the update (the global-norm
// clipping coefficient, 1 when not clipping).
type AdamWStep struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Step                               int
	GradScale                          float32
}

// Optimizer holds the ops of the parameter update.
type Optimizer interface {
	// SumSquares returns the sum of x[i]^2 over n elements, accumulated in
	// float64 (for the global gradient norm).
	SumSquares(x Buffer, n int) float64

	// AdamW updates params p in place from gradients g with the moment
	// buffers m and v, all of n elements, by PyTorch's AdamW rule in
	// float32: g' = g*GradScale; p *= 1 - lr*wd; m = b1*m + (1-b1)*g';
	// v = b2*v + (1-b2)*g'*g'; p -= (lr/(1-b1^t)) * m /
	// (sqrt(v)/sqrt(1-b2^t) + eps).
	AdamW(p, g, m, v Buffer, n int, s AdamWStep)
}

// Quant holds frozen 4-bit weights.
type Quant interface {
	// UploadNF4 stores a packed NF4 tensor on the device. The returned
	// buffer's Len is the number of logical elements; it is only passed to
	// Dequantize (and Free).
	UploadNF4(q *quant.NF4) Buffer
	// Dequantize writes the float values of the NF4 buffer q into out.
	Dequantize(out, q Buffer)
}

// Backend is the interface of a complete implementation, the one the
// decoder's schedule is written once against. Having the methods is not enough:
// a backend runs only the ops it declares (Memory.Ops, checked by
// Require). Every op writes its output with `=` (never `+=`) unless its
// documentation says otherwise, and panics when the buffers it is given
// are too small for the shape, naming both.
type Backend interface {
	Memory
	Forward
	Backward
	Optimizer
	Quant
}

// IgnoreIndex marks a target that does not count towards the loss, as in
// PyTorch's cross_entropy.
const IgnoreIndex = -100
