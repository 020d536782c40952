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
	"github.com/tune-dev/tune/backend/cpu"
)

// ropeKey names one table of RoPE inverse frequencies.
type ropeKey struct {
	headDim int
	theta   float64
}

// invFreq returns the device table of headDim/2 float32 inverse
// frequencies for theta, computed on the host exactly as backend/cpu
// computes them (cpu.InvFreq) and uploaded once per (theta, headDim): the
// kernel takes the table, not theta, so a scaled variant changes only
// this table.
func (b *Backend) invFreq(headDim int, theta float64, op string) C.tune_ptr {
	k := ropeKey{headDim, theta}
	if m, ok := b.rope[k]; ok {
		return C.tune_ptr(m.ptr)
	}
	inv := cpu.InvFreq(headDim, theta)
	m := b.alloc(4*len(inv), op)
	b.do(op, func() string { return fmt.Sprintf("upload of %d inverse frequencies", len(inv)) }, func() C.int {
		return C.tl_upload(b.lib.lib, b.ctx, C.tune_ptr(m.ptr), unsafe.Pointer(&inv[0]), C.uint64_t(4*len(inv)))
	})
	if b.rope == nil {
		b.rope = map[ropeKey]*allocation{}
	}
	b.rope[k] = m
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
func (b *Backend) RoPE(x backend.Buffer, pos []int32, rows, heads, headDim int, theta float64) {
	b.ropeOp("RoPE", x, pos, rows, heads, headDim, theta, 0)
}

// RoPEBackward implements backend.Backward: the rotation by -a.
func (b *Backend) RoPEBackward(dx backend.Buffer, pos []int32, rows, heads, headDim int, theta float64) {
	b.ropeOp("RoPEBackward", dx, pos, rows, heads, headDim, theta, 1)
}

func (b *Backend) ropeOp(op string, x backend.Buffer, pos []int32, rows, heads, headDim int, theta float64,
	transpose C.int) {
	if headDim < 2 || headDim%2 != 0 || heads < 1 || rows < 0 {
		panic(fmt.Sprintf("cuda: %s: rows=%d heads=%d headDim=%d (headDim must be even)", op, rows, heads, headDim))
	}
	if len(pos) < rows {
		panic(fmt.Sprintf("cuda: %s has %d positions for %d rows", op, len(pos), rows))
	}
	xb := dense(x, rows*heads*headDim, op, "x")
	if rows == 0 {
		return
	}
	b.launchRoPE(op, xb, b.uploadInts(argPos, pos[:rows], op), b.invFreq(headDim, theta, op), rows, heads, headDim,
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
