package backend

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

// Backend is the op vocabulary every implementation provides. The Qwen2
// schedule is written once against it. Every op writes its output with `=`
// (never `+=`) unless its documentation says otherwise, and panics when the
// buffers it is given are too small for the shape, naming both.
type Backend interface {
	// Name says which implementation and device this is, for logs.
	Name() string

	// Alloc returns a zero-filled buffer of n elements.
	Alloc(n int) Buffer
	// Free releases a buffer; using it afterwards is a programmer error.
	Free(b Buffer)
	// Slice returns a view of n elements of b starting at element off.
	// Writes through the view land in b.
	Slice(b Buffer, off, n int) Buffer
	// Upload copies src into the first len(src) elements of dst.
	Upload(dst Buffer, src []float32)
	// Download copies the first len(dst) elements of src into dst.
	Download(dst []float32, src Buffer)

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

	// RoPE rotates, in place, the heads of x [rows, heads*headDim] by the
	// rotate-half (NeoX) convention: for j < headDim/2,
	// inv = theta^(-2j/headDim), a = pos[r]*inv and
	// (x1, x2) <- (x1 cos a - x2 sin a, x2 cos a + x1 sin a), where x1 is
	// element j and x2 is element j+headDim/2 of the head. As in Hugging
	// Face, inv and a are rounded to float32 before the cosine and sine are
	// taken (at position 1000 that rounding alone moves the result by
	// about 6e-5, so an implementation must follow it to agree).
	RoPE(x Buffer, pos []int32, rows, heads, headDim int, theta float64)

	// Attention computes softmax(q·kᵀ/sqrt(headDim) + mask)·v per query head
	// (see AttnShape) into out [Batch, Q, Heads*HeadDim]. keyMask, when not
	// nil, holds Batch*KVStride entries; a zero removes that key. A query
	// with no key left gets zeros. The softmax is taken in float32 or wider.
	Attention(out, q, k, v Buffer, keyMask []int32, s AttnShape)

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

// IgnoreIndex marks a target that does not count towards the loss, as in
// PyTorch's cross_entropy.
const IgnoreIndex = -100
