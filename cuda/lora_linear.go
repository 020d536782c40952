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

// weight describes the frozen weight w of n elements for the library: an
// NF4 buffer from UploadNF4 or a dense float32 or bfloat16 buffer.
func weight(w backend.Buffer, n int, op string) C.tune_weight {
	var cw C.tune_weight
	if q, ok := w.(*nf4Buffer); ok {
		q = nf4(q, op)
		if q.Len() != n {
			panic(fmt.Sprintf("cuda: %s: NF4 weight of %d elements, op needs %d", op, q.Len(), n))
		}
		cw.is_nf4 = 1
		cw.nf4 = q.desc
		return cw
	}
	d := dense(w, n, op, "w")
	cw.ptr = d.addr()
	cw.dtype = d.dt.c()
	return cw
}

// loraShape converts s for the library, which checks the dropout
// probability (its error names it).
func loraShape(s backend.LoRAShape, op string) C.tune_lora_shape {
	if s.Rows < 1 || s.In < 1 || s.Out < 1 || s.Rank < 1 {
		panic(fmt.Sprintf("cuda: %s: shape %+v (every size must be at least 1)", op, s))
	}
	return C.tune_lora_shape{rows: C.int64_t(s.Rows), in: C.int64_t(s.In), out: C.int64_t(s.Out),
		rank: C.int64_t(s.Rank), scale: C.float(s.Scale), dropout: C.float(s.Dropout),
		dropout_seed: C.uint64_t(s.DropoutSeed)}
}

func shapeString(s backend.LoRAShape) func() string {
	return func() string {
		return fmt.Sprintf("rows=%d in=%d out=%d rank=%d scale=%g dropout=%g seed=%d", s.Rows, s.In, s.Out, s.Rank,
			s.Scale, s.Dropout, s.DropoutSeed)
	}
}

// LoRALinearForward implements backend.LoRALinear with the fused kernels
// of lora_linear.cu: x and y are bfloat16 (AllocActivation), A and B
// float32 (Alloc), w NF4 or dense, bias float32, bfloat16 or nil. The
// dropout mask is drawn on the device from s.DropoutSeed.
func (b *Backend) LoRALinearForward(y, x, w, bias, loraA, loraB backend.Buffer, s backend.LoRAShape) {
	const op = "LoRALinearForward"
	cs := loraShape(s, op)
	yb := typed(y, s.Rows*s.Out, bf16, op, "y")
	xb := typed(x, s.Rows*s.In, bf16, op, "x")
	ab := typed(loraA, s.Rank*s.In, f32, op, "A")
	bb := typed(loraB, s.Out*s.Rank, f32, op, "B")
	cw := weight(w, s.Out*s.In, op)
	var biasPtr C.tune_ptr
	biasType := f32.c()
	if bias != nil {
		d := dense(bias, s.Out, op, "bias")
		biasPtr, biasType = d.addr(), d.dt.c()
	}
	b.do(op, shapeString(s), func() C.int {
		return C.tl_lora_linear_forward(b.lib.lib, b.ctx, yb.addr(), xb.addr(), &cw, biasPtr, biasType, ab.addr(), bb.addr(), &cs)
	})
}

// LoRALinearBackward implements backend.LoRALinear: dx and dy bfloat16
// (dx may be nil), x bfloat16, dA, dB, A and B float32.
func (b *Backend) LoRALinearBackward(dx, da, db, dy, x, w, loraA, loraB backend.Buffer, s backend.LoRAShape) {
	const op = "LoRALinearBackward"
	cs := loraShape(s, op)
	var dxPtr C.tune_ptr
	if dx != nil {
		dxPtr = typed(dx, s.Rows*s.In, bf16, op, "dx").addr()
	}
	dab := typed(da, s.Rank*s.In, f32, op, "dA")
	dbb := typed(db, s.Out*s.Rank, f32, op, "dB")
	dyb := typed(dy, s.Rows*s.Out, bf16, op, "dy")
	xb := typed(x, s.Rows*s.In, bf16, op, "x")
	ab := typed(loraA, s.Rank*s.In, f32, op, "A")
	bb := typed(loraB, s.Out*s.Rank, f32, op, "B")
	cw := weight(w, s.Out*s.In, op)
	b.do(op, shapeString(s), func() C.int {
		return C.tl_lora_linear_backward(b.lib.lib, b.ctx, dxPtr, dab.addr(), dbb.addr(), dyb.addr(), xb.addr(), &cw,
			ab.addr(), bb.addr(), &cs)
	})
}

// MatMulBF16 is a plain cuBLASLt GEMM on bfloat16 buffers with float32
// accumulation, the baseline the fused layer is measured against:
// c [rows, n] = a [rows, k] · wᵀ for w [n, k] when transW, else a · w for
// w [k, n].
func (b *Backend) MatMulBF16(c, a, w backend.Buffer, rows, k, n int, transW bool) {
	const op = "MatMulBF16"
	cb := typed(c, rows*n, bf16, op, "c")
	ab := typed(a, rows*k, bf16, op, "a")
	wb := typed(w, k*n, bf16, op, "w")
	trans := C.int(0)
	if transW {
		trans = 1
	}
	b.do(op, func() string { return fmt.Sprintf("rows=%d k=%d n=%d transW=%v", rows, k, n, transW) }, func() C.int {
		return C.tl_matmul_bf16(b.lib.lib, b.ctx, cb.addr(), ab.addr(), wb.addr(), C.int64_t(rows), C.int64_t(k), C.int64_t(n), trans)
	})
}
