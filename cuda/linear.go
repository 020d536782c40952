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

func linearShapes(rows, in, outDim int) func() string {
	return func() string { return fmt.Sprintf("rows=%d in=%d out=%d", rows, in, outDim) }
}

// Linear implements backend.Forward with cuBLASLt (linear.cu): x and out
// are float32 or bfloat16 buffers (a bfloat16 out needs a bfloat16 x), w
// dense float32 or bfloat16 or NF4 (UploadNF4), converted to x's type when
// it has another; bias float32, bfloat16 or nil. Sums are float32.
func (b *Backend) Linear(out, x, w, bias backend.Buffer, rows, in, outDim int) {
	const op = "Linear"
	ob := dense(out, rows*outDim, op, "out")
	xb := dense(x, rows*in, op, "x")
	cw := weight(w, outDim*in, op)
	var biasPtr C.tune_ptr
	biasType := f32.c()
	if bias != nil {
		d := dense(bias, outDim, op, "bias")
		biasPtr, biasType = d.addr(), d.dt.c()
	}
	b.do(op, linearShapes(rows, in, outDim), func() C.int {
		return C.tl_linear(b.lib.lib, b.ctx, ob.addr(), ob.dt.c(), xb.addr(), xb.dt.c(), &cw, biasPtr, biasType,
			C.int64_t(rows), C.int64_t(in), C.int64_t(outDim))
	})
}

// LinearBackward implements backend.Backward: dx = dy·w, in dy's type
// (dx float32, or bfloat16 when dy is).
func (b *Backend) LinearBackward(dx, dy, w backend.Buffer, rows, in, outDim int) {
	const op = "LinearBackward"
	dxb := dense(dx, rows*in, op, "dx")
	dyb := dense(dy, rows*outDim, op, "dy")
	cw := weight(w, outDim*in, op)
	b.do(op, linearShapes(rows, in, outDim), func() C.int {
		return C.tl_linear_backward(b.lib.lib, b.ctx, dxb.addr(), dxb.dt.c(), dyb.addr(), dyb.dt.c(), &cw,
			C.int64_t(rows), C.int64_t(in), C.int64_t(outDim))
	})
}

// LinearWeightGrad implements backend.Backward: dw (float32, from Alloc)
// += dyᵀ·x, with dy and x of one type.
func (b *Backend) LinearWeightGrad(dw, dy, x backend.Buffer, rows, in, outDim int) {
	const op = "LinearWeightGrad"
	dwb := typed(dw, outDim*in, f32, op, "dw")
	dyb := dense(dy, rows*outDim, op, "dy")
	xb := dense(x, rows*in, op, "x")
	b.do(op, linearShapes(rows, in, outDim), func() C.int {
		return C.tl_linear_weight_grad(b.lib.lib, b.ctx, dwb.addr(), dyb.addr(), dyb.dt.c(), xb.addr(), xb.dt.c(),
			C.int64_t(rows), C.int64_t(in), C.int64_t(outDim))
	})
}
