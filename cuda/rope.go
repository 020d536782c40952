//go:build cgo

package cuda

/*
#include "tl.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/tune-dev/tune/backend"
)

// ropeKey names one table of RoPE inverse frequencies by its float32 bits.
type ropeKey string

// invFreq returns the device copy of the table of inverse frequencies
// inv (the model's: backend.InvFreq, or a family's scaled table), uploaded
// once per table: the kernel takes the table, so a scaled variant changes
// only what is uploaded.
func (b *Backend) invFreq(inv []float32, op string) C.tune_ptr {
	k := ropeKey(unsafe.String((*byte)(unsafe.Pointer(&inv[0])), 4*len(inv)))
	if m, ok := b.rope[k]; ok {
		return C.tune_ptr(m.ptr)
	}
	m := b.alloc(4*len(inv), op)
	b.do(op, func() string { return fmt.Sprintf("upload of %d inverse frequencies", len(inv)) }, func() C.int {
		return C.tl_upload(b.lib.lib, b.ctx, C.tune_ptr(m.ptr), unsafe.Pointer(&inv[0]), C.uint64_t(4*len(inv)))
	})
	if b.rope == nil {
		b.rope = map[ropeKey]*allocation{}
	}
	b.rope[ropeKey(strings.Clone(string(k)))] = m // k aliases inv, which the caller may change
	return C.tune_ptr(m.ptr)
}

// freeRoPE releases the inverse-frequency tables.
func (b *Backend) freeRoPE() {
	for k, m := range b.rope {
		b.free(m)
		delete(b.rope, k)
	}
}

// RoPE implements backend.Forward on a float32 or bfloat16 buffer.
func (b *Backend) RoPE(x backend.Buffer, pos []int32, rows, heads int, invFreq []float32) {
	b.ropeOp("RoPE", x, pos, rows, heads, invFreq, 0)
}

// RoPEBackward implements backend.Backward: the rotation by -a.
func (b *Backend) RoPEBackward(dx backend.Buffer, pos []int32, rows, heads int, invFreq []float32) {
	b.ropeOp("RoPEBackward", dx, pos, rows, heads, invFreq, 1)
}

func (b *Backend) ropeOp(op string, x backend.Buffer, pos []int32, rows, heads int, invFreq []float32, transpose C.int) {
	headDim := 2 * len(invFreq)
	if headDim < 2 || heads < 1 || rows < 0 {
		panic(fmt.Sprintf("cuda: %s: rows=%d heads=%d headDim=%d (want a frequency table, heads and rows)", op, rows, heads, headDim))
	}
	if len(pos) < rows {
		panic(fmt.Sprintf("cuda: %s has %d positions for %d rows", op, len(pos), rows))
	}
	xb := dense(x, rows*heads*headDim, op, "x")
	if rows == 0 {
		return
	}
	b.launchRoPE(op, xb, b.uploadInts(argPos, pos[:rows], op), b.invFreq(invFreq, op), rows, heads, headDim,
		transpose)
}

// launchRoPE queues the RoPE kernel on x with positions pos and the
// inverse frequencies inv already on the device (the benchmarks time it
// alone).
func (b *Backend) launchRoPE(op string, xb *buffer, pos, inv C.tune_ptr, rows, heads, headDim int, transpose C.int) {
	b.do(op, func() string { return fmt.Sprintf("rows=%d heads=%d headDim=%d", rows, heads, headDim) }, func() C.int {
		return C.tl_rope(b.lib.lib, b.ctx, xb.addr(), xb.dt.c(), pos, inv, C.int64_t(rows), C.int64_t(heads),
			C.int64_t(headDim), transpose)
	})
}
