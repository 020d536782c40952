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

// attentionOps are the ops of attention.cu.
const attentionOps = backend.OpSet(1<<backend.OpAttention | 1<<backend.OpAttentionBackward)

func attnShapeString(s backend.AttnShape) func() string {
	return func() string { return fmt.Sprintf("%+v", s) }
}

// attnArgs checks the shape, the key mask and the sizes of an attention
// call's buffers for op: those named in queries have Batch·Q·Heads·HeadDim
// elements, those in keys Batch·KVStride·KVHeads·HeadDim, and all of them
// one dtype (the first's). It uploads the mask and returns the library's
// shape, the buffers in order, their dtype and the mask's device address.
func (b *Backend) attnArgs(op string, s backend.AttnShape, keyMask []int32, queries, keys map[string]backend.Buffer,
	order []string) (C.tune_attn_shape, []*buffer, dtype, C.tune_ptr) {
	if s.Batch < 1 || s.Q < 1 || s.KV < 0 || s.KV > s.KVStride || s.Heads < 1 || s.KVHeads < 1 ||
		s.Heads%s.KVHeads != 0 || s.HeadDim < 1 || s.QStart < 0 {
		panic(fmt.Sprintf("cuda: %s: shape %+v", op, s))
	}
	if keyMask != nil && len(keyMask) < s.Batch*s.KVStride {
		panic(fmt.Sprintf("cuda: %s: key mask has %d entries, needs %d", op, len(keyMask), s.Batch*s.KVStride))
	}
	nq, nk := s.Batch*s.Q*s.Heads*s.HeadDim, s.Batch*s.KVStride*s.KVHeads*s.HeadDim
	bufs := make([]*buffer, len(order))
	for i, name := range order {
		if x, ok := queries[name]; ok {
			bufs[i] = dense(x, nq, op, name)
		} else {
			bufs[i] = dense(keys[name], nk, op, name)
		}
		if bufs[i].dt != bufs[0].dt {
			panic(fmt.Sprintf("cuda: %s: %s is %s but %s is %s (one activation type per call)", op, name, bufs[i].dt,
				order[0], bufs[0].dt))
		}
	}
	var mask C.tune_ptr
	if keyMask != nil {
		mask = b.uploadInts(argMask, keyMask[:s.Batch*s.KVStride], op)
	}
	cs := C.tune_attn_shape{batch: C.int64_t(s.Batch), q: C.int64_t(s.Q), kv: C.int64_t(s.KV),
		kv_stride: C.int64_t(s.KVStride), heads: C.int64_t(s.Heads), kv_heads: C.int64_t(s.KVHeads),
		head_dim: C.int64_t(s.HeadDim), q_start: C.int64_t(s.QStart)}
	return cs, bufs, bufs[0].dt, mask
}

// lseArg returns the address of the float32 log-sum-exp buffer of s, or 0
// for nil.
func lseArg(lse backend.Buffer, s backend.AttnShape, op string) C.tune_ptr {
	if lse == nil {
		return 0
	}
	return typed(lse, s.Batch*s.Heads*s.Q, f32, op, "lse").addr()
}

// Attention implements backend.Forward with attention.cu's flash kernel:
// q, k, v and out all bfloat16 (AllocActivation) or all float32 (Alloc),
// lse float32 or nil.
func (b *Backend) Attention(out, lse, q, k, v backend.Buffer, keyMask []int32, s backend.AttnShape) {
	const op = "Attention"
	cs, bufs, dt, mask := b.attnArgs(op, s, keyMask, map[string]backend.Buffer{"out": out, "q": q},
		map[string]backend.Buffer{"k": k, "v": v}, []string{"out", "q", "k", "v"})
	l := lseArg(lse, s, op)
	b.do(op, attnShapeString(s), func() C.int {
		return C.tl_attention_forward(b.lib.lib, b.ctx, bufs[0].addr(), l, bufs[1].addr(), bufs[2].addr(),
			bufs[3].addr(), mask, dt.c(), &cs)
	})
}

// AttentionBackward implements backend.Backward with attention.cu's flash
// kernels: every activation of one type, as for Attention; a nil lse is
// recomputed on the device.
func (b *Backend) AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse backend.Buffer, keyMask []int32, s backend.AttnShape) {
	const op = "AttentionBackward"
	cs, bufs, dt, mask := b.attnArgs(op, s, keyMask,
		map[string]backend.Buffer{"dq": dq, "dout": dout, "q": q, "out": out},
		map[string]backend.Buffer{"dk": dk, "dv": dv, "k": k, "v": v},
		[]string{"dq", "dk", "dv", "dout", "q", "k", "v", "out"})
	l := lseArg(lse, s, op)
	b.do(op, attnShapeString(s), func() C.int {
		return C.tl_attention_backward(b.lib.lib, b.ctx, bufs[0].addr(), bufs[1].addr(), bufs[2].addr(),
			bufs[3].addr(), bufs[4].addr(), bufs[5].addr(), bufs[6].addr(), bufs[7].addr(), l, mask, dt.c(), &cs)
	})
}
