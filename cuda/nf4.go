//go:build cgo

package cuda

/*
#include "tl.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
)

// nf4Buffer is a packed NF4 tensor in device memory: one allocation holding
// the codes, the block scales (or their double quantization) and the
// nested code table, each part 256-byte aligned, described by desc.
type nf4Buffer struct {
	mem  *allocation
	desc C.tune_nf4
}

func (q *nf4Buffer) Len() int { return int(q.desc.n) }

// UploadNF4 implements backend.Quant: the packed layout of q, double
// quantization included, is copied as it is.
func (b *Backend) UploadNF4(q *quant.NF4) backend.Buffer {
	n := q.Len()
	if n == 0 || len(q.Data) != (n+1)/2 {
		panic(fmt.Sprintf("cuda: UploadNF4: %d packed bytes for shape %v", len(q.Data), q.Shape))
	}
	var host []byte
	place := func(part []byte) uint64 {
		off := (len(host) + 255) &^ 255
		host = append(host, make([]byte, off-len(host))...)
		host = append(host, part...)
		return uint64(off)
	}
	var desc C.tune_nf4
	desc.n = C.int64_t(n)
	desc.block_size = C.int32_t(q.BlockSize)
	for i, c := range quant.NF4Code {
		desc.code[i] = C.float(c)
	}
	offData := place(q.Data)
	var offAbsmax, offQ, offAbsmax2, offCode2 uint64
	if d := q.Double; d != nil {
		offQ = place(d.QAbsmax)
		offAbsmax2 = place(floatBytes(d.Absmax))
		offCode2 = place(floatBytes(d.Code[:]))
		desc.block_size2 = C.int32_t(d.BlockSize)
		desc.offset = C.float(d.Offset)
	} else {
		offAbsmax = place(floatBytes(q.Absmax))
	}
	mem := b.alloc(len(host), "UploadNF4")
	b.do("UploadNF4", func() string { return fmt.Sprintf("shape %v", q.Shape) }, func() C.int {
		return C.tl_upload(b.lib.lib, b.ctx, C.tune_ptr(mem.ptr), unsafe.Pointer(&host[0]), C.uint64_t(len(host)))
	})
	at := func(off uint64) C.tune_ptr { return C.tune_ptr(mem.ptr + off) }
	desc.data = at(offData)
	if q.Double != nil {
		desc.qabsmax, desc.absmax2, desc.code2 = at(offQ), at(offAbsmax2), at(offCode2)
	} else {
		desc.absmax = at(offAbsmax)
	}
	return &nf4Buffer{mem: mem, desc: desc}
}

// floatBytes returns the little-endian bytes of v.
func floatBytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f))
	}
	return out
}

// nf4 returns x as an NF4 buffer, panicking with op otherwise.
func nf4(x backend.Buffer, op string) *nf4Buffer {
	q, ok := x.(*nf4Buffer)
	if !ok {
		panic(fmt.Sprintf("cuda: %s: the weight is a %T, not a buffer from UploadNF4", op, x))
	}
	if q.mem.freed {
		panic("cuda: use of a freed buffer")
	}
	return q
}

// Dequantize implements backend.Quant: out (float32 or bfloat16) receives
// the values bitsandbytes' dequantize_4bit computes, rounded to bfloat16
// for a bfloat16 buffer.
func (b *Backend) Dequantize(out, q backend.Buffer) {
	nq := nf4(q, "Dequantize")
	o := dense(out, nq.Len(), "Dequantize", "out")
	b.do("Dequantize", func() string { return fmt.Sprintf("%d elements to %s", nq.Len(), o.dt) }, func() C.int {
		return C.tl_nf4_dequantize(b.lib.lib, b.ctx, o.addr(), o.dt.c(), &nq.desc)
	})
}
