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
	"slices"
	"unsafe"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
)

// nf4Buffer is a packed NF4 tensor in device memory: one allocation holding
// the codes, the block scales (or their double quantization) and the
// nested code table, each part 256-byte aligned, described by desc.
type nf4Buffer struct {
	mem   *allocation
	desc  C.tune_nf4
	shape []int
}

func (q *nf4Buffer) Len() int { return int(q.desc.n) }

// describe returns the descriptor of an NF4 tensor laid out by l at mem.
func (l nf4Layout) describe(mem *allocation, n, blockSize, nested int) C.tune_nf4 {
	at := func(off uint64) C.tune_ptr { return C.tune_ptr(mem.ptr + off) }
	var desc C.tune_nf4
	desc.n = C.int64_t(n)
	desc.block_size = C.int32_t(blockSize)
	for i, c := range quant.NF4Code {
		desc.code[i] = C.float(c)
	}
	desc.data = at(l.data)
	if nested == 0 {
		desc.absmax = at(l.absmax)
		return desc
	}
	desc.block_size2 = C.int32_t(nested)
	desc.qabsmax, desc.absmax2, desc.code2 = at(l.qabsmax), at(l.absmax2), at(l.code2)
	return desc
}

// UploadNF4 implements backend.Quant: the packed layout of q, double
// quantization included, is copied as it is.
func (b *Backend) UploadNF4(q *quant.NF4) backend.Buffer {
	n := q.Len()
	if n == 0 || len(q.Data) != (n+1)/2 {
		panic(fmt.Sprintf("cuda: UploadNF4: %d packed bytes for shape %v", len(q.Data), q.Shape))
	}
	nested := 0
	if q.Double != nil {
		nested = q.Double.BlockSize
	}
	l := layoutNF4(n, q.BlockSize, nested)
	host := make([]byte, l.bytes)
	copy(host[l.data:], q.Data)
	if d := q.Double; d != nil {
		copy(host[l.qabsmax:], d.QAbsmax)
		copy(host[l.absmax2:], floatBytes(d.Absmax))
		copy(host[l.code2:], floatBytes(d.Code[:]))
	} else {
		copy(host[l.absmax:], floatBytes(q.Absmax))
	}
	mem := b.alloc(len(host), "UploadNF4")
	b.count.Uploads++
	b.do("UploadNF4", func() string { return fmt.Sprintf("shape %v", q.Shape) }, func() C.int {
		return C.tl_upload(b.lib.lib, b.ctx, C.tune_ptr(mem.ptr), unsafe.Pointer(&host[0]), C.uint64_t(len(host)))
	})
	desc := l.describe(mem, n, q.BlockSize, nested)
	if q.Double != nil {
		desc.offset = C.float(q.Double.Offset)
	}
	return &nf4Buffer{mem: mem, desc: desc, shape: slices.Clone(q.Shape)}
}

// QuantizeNF4 implements backend.NF4Quantizer on the device (nf4.cu):
// w's values (a float32 buffer, or a bfloat16 one, whose values are
// quantized as they are) are quantized bit for bit as quant.Quantize does
// with double quantization. Only the nested code table goes up and the
// offset comes back.
func (b *Backend) QuantizeNF4(w backend.Buffer, shape []int, blockSize int) backend.Buffer {
	const op = "QuantizeNF4"
	n := 1
	for _, d := range shape {
		n *= d
	}
	if n < 1 || blockSize < 32 || blockSize > 4096 || blockSize&(blockSize-1) != 0 {
		panic(fmt.Sprintf("cuda: %s: shape %v, block size %d (want elements and a power of two from 32 to 4096)", op, shape, blockSize))
	}
	wb := dense(w, n, op, "w")
	l := layoutNF4(n, blockSize, nestedBlock)
	mem := b.alloc(l.bytes, op)
	code := quant.DynamicMap()
	code2 := floatBytes(code[:])
	b.count.Uploads++
	shapes := func() string { return fmt.Sprintf("shape %v block %d", shape, blockSize) }
	b.do(op, shapes, func() C.int {
		return C.tl_upload(b.lib.lib, b.ctx, C.tune_ptr(mem.ptr+l.code2), unsafe.Pointer(&code2[0]), C.uint64_t(len(code2)))
	})
	desc := l.describe(mem, n, blockSize, nestedBlock)
	b.count.Waits++ // the offset comes back
	b.do(op, shapes, func() C.int { return C.tl_nf4_quantize(b.lib.lib, b.ctx, &desc, wb.addr(), wb.dt.c()) })
	return &nf4Buffer{mem: mem, desc: desc, shape: slices.Clone(shape)}
}

// DownloadNF4 reads an NF4 buffer back into package quant's form (for
// checks, and to save a model quantized on the device); DType is left
// "float32".
func (b *Backend) DownloadNF4(x backend.Buffer) *quant.NF4 {
	q := nf4(x, "DownloadNF4")
	d := q.desc
	n, bs, nested := int(d.n), int(d.block_size), int(d.block_size2)
	if d.absmax != 0 {
		nested = 0
	}
	l := layoutNF4(n, bs, nested)
	host := make([]byte, l.bytes)
	b.count.Downloads++
	b.do("DownloadNF4", func() string { return fmt.Sprintf("%d elements", n) }, func() C.int {
		return C.tl_download(b.lib.lib, b.ctx, unsafe.Pointer(&host[0]), C.tune_ptr(q.mem.ptr), C.uint64_t(len(host)))
	})
	blocks := (n + bs - 1) / bs
	out := &quant.NF4{Shape: slices.Clone(q.shape), BlockSize: bs, Data: slices.Clone(host[l.data : l.data+uint64((n+1)/2)]), DType: "float32"}
	if nested == 0 {
		out.Absmax = bytesFloats(host[l.absmax : l.absmax+uint64(4*blocks)])
		return out
	}
	dq := &quant.DoubleQuant{QAbsmax: slices.Clone(host[l.qabsmax : l.qabsmax+uint64(blocks)]), BlockSize: nested, Offset: float32(d.offset),
		Absmax: bytesFloats(host[l.absmax2 : l.absmax2+uint64(4*((blocks+nested-1)/nested))])}
	copy(dq.Code[:], bytesFloats(host[l.code2:l.code2+4*256]))
	out.Double = dq
	return out
}

// bytesFloats decodes little-endian float32s.
func bytesFloats(p []byte) []float32 {
	v := make([]float32, len(p)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return v
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
