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

// The norms (norm.cu). Activations may be float32 or bfloat16 buffers and
// the weight w [dim] a float32 or bfloat16 buffer; the sums are float32.

func rowsShape(rows, dim int) func() string {
	return func() string { return fmt.Sprintf("rows=%d dim=%d", rows, dim) }
}

// RMSNorm implements backend.Forward.
func (b *Backend) RMSNorm(out, x, w backend.Buffer, rows, dim int, eps float32) {
	const op = "RMSNorm"
	ob, xb, wb := dense(out, rows*dim, op, "out"), dense(x, rows*dim, op, "x"), dense(w, dim, op, "w")
	b.do(op, rowsShape(rows, dim), func() C.int {
		return C.tl_rmsnorm(b.lib.lib, b.ctx, ob.addr(), ob.dt.c(), xb.addr(), xb.dt.c(), wb.addr(), wb.dt.c(),
			C.int64_t(rows), C.int64_t(dim), C.float(eps))
	})
}

// RMSNormBackward implements backend.Backward (dx may alias dy).
func (b *Backend) RMSNormBackward(dx, dy, x, w backend.Buffer, rows, dim int, eps float32) {
	const op = "RMSNormBackward"
	dxb, dyb := dense(dx, rows*dim, op, "dx"), dense(dy, rows*dim, op, "dy")
	xb, wb := dense(x, rows*dim, op, "x"), dense(w, dim, op, "w")
	b.do(op, rowsShape(rows, dim), func() C.int {
		return C.tl_rmsnorm_backward(b.lib.lib, b.ctx, dxb.addr(), dxb.dt.c(), dyb.addr(), dyb.dt.c(), xb.addr(),
			xb.dt.c(), wb.addr(), wb.dt.c(), C.int64_t(rows), C.int64_t(dim), C.float(eps))
	})
}

// AddRMSNorm implements backend.ResidualRMSNorm in one kernel: sum = a + c
// (sum may alias either), then h = RMSNorm(sum, w) of sum as stored.
func (b *Backend) AddRMSNorm(sum, h, a, c, w backend.Buffer, rows, dim int, eps float32) {
	const op = "AddRMSNorm"
	n := rows * dim
	sb, hb := dense(sum, n, op, "sum"), dense(h, n, op, "h")
	ab, cb, wb := dense(a, n, op, "a"), dense(c, n, op, "b"), dense(w, dim, op, "w")
	b.do(op, rowsShape(rows, dim), func() C.int {
		return C.tl_add_rmsnorm(b.lib.lib, b.ctx, sb.addr(), sb.dt.c(), hb.addr(), hb.dt.c(), ab.addr(), ab.dt.c(),
			cb.addr(), cb.dt.c(), wb.addr(), wb.dt.c(), C.int64_t(rows), C.int64_t(dim), C.float(eps))
	})
}
