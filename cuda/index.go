//go:build cgo

package cuda

/*
#include "tl.h"
*/
import "C"

import (
	"fmt"
	"slices"
	"unsafe"
)

// indexArg names the device scratch that one host int32 argument of an op
// (token ids, positions, a key mask, targets) is uploaded to. backend's ops
// take these as host slices; the kernels read them from device memory. An
// op with two such arguments uses two slots, so neither overwrites the
// other before the kernel reads it. The copy is queued on the stream like
// the kernel, so reusing a slot in the next op is safe.
type indexArg int

const (
	argIDs indexArg = iota
	argPos
	argMask
	argTargets
	// argLoss is not an argument but CrossEntropy's float32 per-row
	// losses, which it downloads: the same kind of grown 4-byte scratch.
	argLoss
	numIndexArgs
)

// indexScratch is the device memory behind the index slots, grown as
// needed and freed with the backend, and a host copy of what each slot
// holds.
type indexScratch struct {
	mem  [numIndexArgs]*allocation
	cap  [numIndexArgs]int // elements
	held [numIndexArgs][]int32
}

// uploadInts copies v to the device scratch of slot and returns its address
// (0 for an empty v), for op's error messages. When the slot already holds
// v it is not copied again: the ops of one pass share their positions and
// key mask, and the loss's targets, so a training step uploads each once
// rather than once per layer (a copy waits for the device). Comparing on
// the host costs a read of v, far less than a copy.
func (b *Backend) uploadInts(slot indexArg, v []int32, op string) C.tune_ptr {
	if len(v) == 0 {
		return 0
	}
	p := b.indexScratch(slot, len(v), op)
	if slices.Equal(b.index.held[slot], v) {
		return p
	}
	b.count.Uploads++
	b.do(op, func() string { return fmt.Sprintf("upload of %d int32 indices", len(v)) }, func() C.int {
		return C.tl_upload(b.lib.lib, b.ctx, p, unsafe.Pointer(&v[0]), C.uint64_t(4*len(v)))
	})
	b.index.held[slot] = append(b.index.held[slot][:0], v...)
	return p
}

// indexScratch returns the address of slot's device scratch, grown to at
// least n 4-byte elements (n > 0) for op.
func (b *Backend) indexScratch(slot indexArg, n int, op string) C.tune_ptr {
	s := &b.index
	if s.cap[slot] < n {
		if s.mem[slot] != nil {
			b.free(s.mem[slot])
		}
		n = max(n, 2*s.cap[slot])
		s.mem[slot], s.cap[slot], s.held[slot] = b.alloc(4*n, op), n, nil
	}
	return C.tune_ptr(s.mem[slot].ptr)
}

// freeIndex releases the index scratch.
func (b *Backend) freeIndex() {
	for i, m := range b.index.mem {
		if m != nil {
			b.free(m)
		}
		b.index.mem[i], b.index.cap[i], b.index.held[i] = nil, 0, nil
	}
}
