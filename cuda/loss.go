//go:build cgo

package cuda

/*
#include "tl.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/tune-dev/tune/backend"
)

// The library's ignore index is backend's: this fails to compile
// otherwise.
var _ = [1]struct{}{}[C.TUNE_IGNORE_INDEX-backend.IgnoreIndex]

// checkTargets panics, naming op and the row, on a target outside
// [0, vocab) that is not backend.IgnoreIndex: the kernels would give NaN.
func checkTargets(targets []int32, rows, vocab int, op string) {
	if len(targets) < rows {
		panic(fmt.Sprintf("cuda: %s: %d targets for %d rows", op, len(targets), rows))
	}
	for r, t := range targets[:rows] {
		if t != backend.IgnoreIndex && (t < 0 || int(t) >= vocab) {
			panic(fmt.Sprintf("cuda: %s: target %d of row %d is outside the vocabulary [0, %d)", op, t, r, vocab))
		}
	}
}

// lossInputs checks logits and targets for op and uploads the targets; ok
// is false when there are no rows, so nothing to do.
func (b *Backend) lossInputs(logits backend.Buffer, targets []int32, rows, vocab int, op string) (lb *buffer,
	tp C.tune_ptr, ok bool) {
	lb = dense(logits, rows*vocab, op, "logits")
	checkTargets(targets, rows, vocab, op)
	if rows == 0 {
		return lb, 0, false
	}
	return lb, b.uploadInts(argTargets, targets[:rows], op), true
}

func lossShapes(rows, vocab int) func() string {
	return func() string { return fmt.Sprintf("rows=%d vocab=%d", rows, vocab) }
}

// CrossEntropy implements backend.Forward (loss.cu): logits float32 or
// bfloat16, the losses computed in float32 on the device and downloaded
// once into loss.
func (b *Backend) CrossEntropy(loss []float64, logits backend.Buffer, targets []int32, rows, vocab int) {
	const op = "CrossEntropy"
	if len(loss) < rows {
		panic(fmt.Sprintf("cuda: %s: loss holds %d elements for %d rows", op, len(loss), rows))
	}
	lb, tp, ok := b.lossInputs(logits, targets, rows, vocab, op)
	if !ok {
		return
	}
	dev := b.indexScratch(argLoss, rows, op)
	b.do(op, lossShapes(rows, vocab), func() C.int {
		return C.tl_cross_entropy(b.lib.lib, b.ctx, dev, lb.addr(), lb.dt.c(), tp, C.int64_t(rows), C.int64_t(vocab), 0, 0)
	})
	host := make([]float32, rows)
	b.do(op, lossShapes(rows, vocab), func() C.int {
		return C.tl_download(b.lib.lib, b.ctx, unsafe.Pointer(&host[0]), dev, C.uint64_t(4*rows))
	})
	for i, v := range host {
		loss[i] = float64(v)
	}
}

// CrossEntropySum adds, on the device and without a host copy, scale times
// the chunk's summed loss into sum[0] and the number of rows whose target
// is not backend.IgnoreIndex into sum[1] (sum: a float32 buffer from
// Alloc, the chunk's sum taken in float64 and added in float32). The
// schedule accumulates a step's loss this way, chunk by chunk, and
// downloads the two numbers once.
func (b *Backend) CrossEntropySum(sum, logits backend.Buffer, targets []int32, rows, vocab int, scale float32) {
	const op = "CrossEntropySum"
	sb := typed(sum, 2, f32, op, "sum")
	lb, tp, ok := b.lossInputs(logits, targets, rows, vocab, op)
	if !ok {
		return
	}
	b.do(op, lossShapes(rows, vocab), func() C.int {
		return C.tl_cross_entropy(b.lib.lib, b.ctx, 0, lb.addr(), lb.dt.c(), tp, C.int64_t(rows), C.int64_t(vocab),
			sb.addr(), C.float(scale))
	})
}

// CrossEntropyBackward implements backend.Backward: dlogits =
// scale·(softmax - onehot), float32 or bfloat16; dlogits may be logits
// (in place), or else must not overlap it.
func (b *Backend) CrossEntropyBackward(dlogits, logits backend.Buffer, targets []int32, rows, vocab int, scale float32) {
	const op = "CrossEntropyBackward"
	db := dense(dlogits, rows*vocab, op, "dlogits")
	lb, tp, ok := b.lossInputs(logits, targets, rows, vocab, op)
	if !ok {
		return
	}
	b.do(op, lossShapes(rows, vocab), func() C.int {
		return C.tl_cross_entropy_backward(b.lib.lib, b.ctx, db.addr(), db.dt.c(), lb.addr(), lb.dt.c(), tp,
			C.int64_t(rows), C.int64_t(vocab), C.float(scale))
	})
}
