//go:build cgo

package cuda

/*
#include "tl.h"
*/
import "C"

import (
	"fmt"
	"math"

	"github.com/tune-dev/tune/backend"
)

// SumSquares implements backend.Optimizer on a float32 buffer, summing in
// float64 on the device.
func (b *Backend) SumSquares(x backend.Buffer, n int) float64 {
	xb := typed(x, n, f32, "SumSquares", "x")
	var sum C.double
	b.count.Waits++
	b.do("SumSquares", func() string { return fmt.Sprintf("n=%d", n) }, func() C.int {
		return C.tl_sum_squares(b.lib.lib, b.ctx, xb.addr(), C.int64_t(n), &sum)
	})
	return float64(sum)
}

// AdamW implements backend.Optimizer on float32 buffers, in one launch
// (see adamw.cu for the operation order, which is backend/cpu's).
func (b *Backend) AdamW(p, g, m, v backend.Buffer, n int, s backend.AdamWStep) {
	b.adamw("AdamW", p, g, m, v, n, s, 0)
}

// AdamWClipped implements backend.ClippedAdamW: the norm, the clipping
// coefficient and the update stay on the device; only the norm comes back.
func (b *Backend) AdamWClipped(p, g, m, v backend.Buffer, n int, s backend.AdamWStep, maxNorm float64) float64 {
	if !(maxNorm > 0) {
		panic(fmt.Sprintf("cuda: AdamWClipped: max norm %v (want > 0)", maxNorm))
	}
	return b.adamw("AdamWClipped", p, g, m, v, n, s, float32(maxNorm))
}

// adamw runs one step, clipping when maxNorm > 0, and returns the gradient
// norm when clipping (NaN otherwise).
func (b *Backend) adamw(op string, p, g, m, v backend.Buffer, n int, s backend.AdamWStep, maxNorm float32) float64 {
	pb := typed(p, n, f32, op, "p")
	gb := typed(g, n, f32, op, "g")
	mb := typed(m, n, f32, op, "m")
	vb := typed(v, n, f32, op, "v")
	cs := C.tune_adamw_step{lr: C.double(s.LR), beta1: C.double(s.Beta1), beta2: C.double(s.Beta2), eps: C.double(s.Eps),
		weight_decay: C.double(s.WeightDecay), step: C.int64_t(s.Step), grad_scale: C.float(s.GradScale),
		max_norm: C.float(maxNorm)}
	norm := C.double(math.NaN())
	if maxNorm > 0 {
		b.count.Waits++ // the norm comes back
	}
	b.do(op, func() string { return fmt.Sprintf("n=%d step=%d", n, s.Step) }, func() C.int {
		return C.tl_adamw(b.lib.lib, b.ctx, pb.addr(), gb.addr(), mb.addr(), vb.addr(), C.int64_t(n), &cs, &norm)
	})
	return float64(norm)
}
