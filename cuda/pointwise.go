//go:build cgo

package cuda

/*
#include "tl.h"
*/
import "C"

import (
	"fmt"

	"github.com/tune-dev/tune/backend"
)

// The elementwise ops and the embedding gather (pointwise.cu). Their
// buffers may be float32 (Alloc) or bfloat16 (AllocActivation), in any
// mix: the kernels compute in float32 and round each output to its
// buffer's type.

// nShape formats an element count for an op's panic message.
func nShape(n int) func() string { return func() string { return fmt.Sprintf("n=%d", n) } }

// Embedding implements backend.Forward: the table may be a weight (float32
// or bfloat16) or an activation, such as the residual stream whose rows
// the LM head gathers. An id outside [0, vocab) panics before anything
// reaches the device.
func (b *Backend) Embedding(out, table backend.Buffer, ids []int32, dim int) {
	const op = "Embedding"
	if dim < 1 {
		panic(fmt.Sprintf("cuda: %s: dim %d", op, dim))
	}
	tb := dense(table, 0, op, "table")
	vocab := tb.n / dim
	for i, id := range ids {
		if id < 0 || int(id) >= vocab {
			panic(fmt.Sprintf("cuda: %s id %d at position %d outside vocab [0, %d)", op, id, i, vocab))
		}
	}
	ob := dense(out, len(ids)*dim, op, "out")
	if len(ids) == 0 {
		return
	}
	b.launchEmbedding(ob, tb, b.uploadInts(argIDs, ids, op), len(ids), dim, vocab)
}

// launchEmbedding queues the gather of rows ids, checked and already on
// the device (the benchmarks time it alone).
func (b *Backend) launchEmbedding(ob, tb *buffer, ids C.tune_ptr, rows, dim, vocab int) {
	b.do("Embedding", func() string { return fmt.Sprintf("rows=%d dim=%d vocab=%d", rows, dim, vocab) }, func() C.int {
		return C.tl_embedding(b.lib.lib, b.ctx, ob.addr(), ob.dt.c(), tb.addr(), tb.dt.c(), ids, C.int64_t(rows),
			C.int64_t(dim), C.int64_t(vocab))
	})
}

// SiLUMul implements backend.Forward.
func (b *Backend) SiLUMul(out, gate, up backend.Buffer, n int) {
	const op = "SiLUMul"
	ob, gb, ub := dense(out, n, op, "out"), dense(gate, n, op, "gate"), dense(up, n, op, "up")
	b.do(op, nShape(n), func() C.int {
		return C.tl_silu_mul(b.lib.lib, b.ctx, ob.addr(), ob.dt.c(), gb.addr(), gb.dt.c(), ub.addr(), ub.dt.c(),
			C.int64_t(n))
	})
}

// SiLUMulBackward implements backend.Backward (dgate may alias dy).
func (b *Backend) SiLUMulBackward(dgate, dup, dy, gate, up backend.Buffer, n int) {
	const op = "SiLUMulBackward"
	dg, du, d := dense(dgate, n, op, "dgate"), dense(dup, n, op, "dup"), dense(dy, n, op, "dy")
	gb, ub := dense(gate, n, op, "gate"), dense(up, n, op, "up")
	b.do(op, nShape(n), func() C.int {
		return C.tl_silu_mul_backward(b.lib.lib, b.ctx, dg.addr(), dg.dt.c(), du.addr(), du.dt.c(), d.addr(), d.dt.c(),
			gb.addr(), gb.dt.c(), ub.addr(), ub.dt.c(), C.int64_t(n))
	})
}

// Add implements backend.Forward (out may alias a or b).
func (b *Backend) Add(out, x, y backend.Buffer, n int) {
	const op = "Add"
	ob, xb, yb := dense(out, n, op, "out"), dense(x, n, op, "a"), dense(y, n, op, "b")
	b.do(op, nShape(n), func() C.int {
		return C.tl_add(b.lib.lib, b.ctx, ob.addr(), ob.dt.c(), xb.addr(), xb.dt.c(), yb.addr(), yb.dt.c(), C.int64_t(n))
	})
}

// AddScaled implements backend.Forward: out += s*x, the product rounded to
// float32 before the sum, as backend/cpu computes it.
func (b *Backend) AddScaled(out, x backend.Buffer, s float32, n int) {
	const op = "AddScaled"
	ob, xb := dense(out, n, op, "out"), dense(x, n, op, "x")
	b.do(op, nShape(n), func() C.int {
		return C.tl_add_scaled(b.lib.lib, b.ctx, ob.addr(), ob.dt.c(), xb.addr(), xb.dt.c(), C.float(s), C.int64_t(n))
	})
}

// Dropout implements backend.Backward: the mask of backend.DropoutMask,
// drawn on the device from (p, seed) (out may alias x). A p outside
// [0, 1) panics with the library's message.
func (b *Backend) Dropout(out, x backend.Buffer, p float32, seed uint64, n int) {
	const op = "Dropout"
	ob, xb := dense(out, n, op, "out"), dense(x, n, op, "x")
	b.do(op, func() string { return fmt.Sprintf("n=%d p=%g seed=%d", n, p, seed) }, func() C.int {
		return C.tl_dropout(b.lib.lib, b.ctx, ob.addr(), ob.dt.c(), xb.addr(), xb.dt.c(), C.float(p), C.uint64_t(seed),
			C.int64_t(n))
	})
}
