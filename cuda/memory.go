//go:build cgo

package cuda

/*
#include "tl.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/tune-dev/tune/backend"
)

// Backend runs tune's ops on one CUDA GPU through libtune_cuda. It
// implements backend.Memory, backend.Optimizer, backend.Quant, the fused
// backend.LoRALinear, backend.ClippedAdamW, backend.NF4Quantizer,
// backend.LossSum and backend.ResidualRMSNorm, and of the Forward and
// Backward groups the norms, RoPE, the embedding gather, the elementwise
// ops, the linear layers, cross-entropy and attention (Ops lists them).
// Like every backend it runs one op at a time: it is not safe for
// concurrent use.
//
// Storage: Alloc returns float32 buffers, so the optimizer state, LoRA
// factors and their gradients stay float32; AllocActivation and
// AllocWeight return bfloat16 buffers (float32 with Options.Float32), for
// activations and frozen base weights. Upload and Download convert, so
// every buffer reads and writes as float32.
type Backend struct {
	lib   *library
	ctx   *C.tune_ctx
	info  DeviceInfo
	opts  Options
	index indexScratch
	count transfers
	rope  map[ropeKey]*allocation // RoPE inverse-frequency tables (rope.go)
}

// Options selects how a Backend stores activations and frozen weights.
type Options struct {
	// Float32 keeps activations and frozen weights in float32 instead of
	// bfloat16 (tune --bf16=false): twice the memory and slower, but
	// within float32 rounding of the CPU backend, which helps testing.
	// The fused LoRA linear layer needs bfloat16 activations, so it is
	// not declared then and the layer is composed from Linear and its
	// backward ops.
	Float32 bool
}

// transfers counts the calls that cross between host and device or wait
// for the device, so that a test can hold a training step to a constant
// number of them (export_test.go).
type transfers struct {
	Uploads, Downloads int // host-to-device and device-to-host copies (each waits for the stream)
	Waits              int // other calls that wait for the stream: host scalars (sums, norms), frees, events
	Allocs             int // device allocations
}

var (
	_ backend.Memory       = (*Backend)(nil)
	_ backend.Optimizer    = (*Backend)(nil)
	_ backend.Quant        = (*Backend)(nil)
	_ backend.LoRALinear   = (*Backend)(nil)
	_ backend.ClippedAdamW = (*Backend)(nil)
	_ backend.NF4Quantizer = (*Backend)(nil)
	_ backend.LossSum      = (*Backend)(nil)

	_ backend.ResidualRMSNorm = (*Backend)(nil)
	_ backend.MemoryReporter  = (*Backend)(nil)
)

// DeviceInfo describes the GPU a Backend runs on.
type DeviceInfo struct {
	Name            string
	Major, Minor    int // compute capability
	Multiprocessors int
	Memory, L2      uint64 // bytes
	Driver, Runtime int    // CUDA versions as the runtime reports them, e.g. 12080
}

// Open loads the CUDA library (see the package documentation for where it
// looks) and opens GPU 0. Its error says what is missing: the library
// (errors.Is ErrNotFound), a usable GPU or driver (ErrNoDevice), or a
// library of the right ABI version.
func Open() (*Backend, error) { return OpenWith(Options{}) }

// OpenWith is Open with options.
func OpenWith(o Options) (*Backend, error) {
	l, err := load()
	if err != nil {
		return nil, err
	}
	b, err := l.open(0)
	if err != nil {
		return nil, err
	}
	b.opts = o
	return b, nil
}

func (l *library) open(device int) (*Backend, error) {
	var ctx *C.tune_ctx
	if err := l.call(func() C.int { return C.tl_create(l.lib, C.int(device), &ctx) }); err != nil {
		if errors.Is(err, ErrNoDevice) {
			v := int(C.tl_cuda_version(l.lib))
			return nil, fmt.Errorf("cuda: %w: %v (library %s, built for CUDA %s)", ErrNoDevice, err, l.path, cudaVersion(v))
		}
		return nil, fmt.Errorf("cuda: %s: %w", l.path, err)
	}
	b := &Backend{lib: l, ctx: ctx}
	var d C.tune_device_info
	if err := l.call(func() C.int { return C.tl_device(l.lib, ctx, &d) }); err != nil {
		b.Close()
		return nil, fmt.Errorf("cuda: %w", err)
	}
	b.info = DeviceInfo{
		Name:  C.GoString(&d.name[0]),
		Major: int(d.major), Minor: int(d.minor),
		Multiprocessors: int(d.multiprocessors),
		Memory:          uint64(d.total_memory), L2: uint64(d.l2_bytes),
		Driver: int(d.driver_version), Runtime: int(d.runtime_version),
	}
	return b, nil
}

// cudaVersion formats a CUDA version number such as 12080 as "12.8".
func cudaVersion(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// Close releases the GPU context (stream, cuBLASLt handle, scratch). Free
// buffers first; the backend cannot be used afterwards.
func (b *Backend) Close() error {
	if b.ctx == nil {
		return nil
	}
	b.freeIndex()
	b.freeRoPE()
	ctx := b.ctx
	b.ctx = nil
	return b.lib.call(func() C.int { return C.tl_destroy(b.lib.lib, ctx) })
}

// Name implements backend.Memory.
func (b *Backend) Name() string {
	d := b.info
	return fmt.Sprintf("cuda (%s, sm_%d%d, %d SMs, %.0f GiB, CUDA %s)", d.Name, d.Major, d.Minor, d.Multiprocessors,
		float64(d.Memory)/(1<<30), cudaVersion(d.Runtime))
}

// Device describes the GPU.
func (b *Backend) Device() DeviceInfo { return b.info }

// Storage implements backend.MemoryReporter: the package's Storage, with
// this backend's activation dtype and ops.
func (b *Backend) Storage() backend.Storage {
	s := Storage
	s.Weights, s.Activations = b.WeightDType(), b.ActivationDType()
	s.FusedLoRA = b.Ops().Has(backend.OpLoRALinear)
	return s
}

// MemoryInfo implements backend.MemoryReporter: the device's free and
// total bytes, as the CUDA runtime reports them.
func (b *Backend) MemoryInfo() (free, total int64, err error) {
	if b.ctx == nil {
		return 0, 0, fmt.Errorf("cuda: memory info: %w", errNoContext)
	}
	var f, t C.uint64_t
	if err := b.lib.call(func() C.int { return C.tl_memory_info(b.lib.lib, b.ctx, &f, &t) }); err != nil {
		return 0, 0, fmt.Errorf("cuda: memory info: %w", err)
	}
	return int64(f), int64(t), nil
}

// Library is the path of the loaded libtune_cuda.
func (b *Backend) Library() string { return b.lib.path }

// do runs a library call for op, panicking with the library's message, the
// op and its shapes when it fails: a device failure inside an op.
func (b *Backend) do(op string, shapes func() string, f func() C.int) {
	if b.ctx == nil {
		panic(fmt.Sprintf("cuda: %s: %v", op, errNoContext))
	}
	if err := b.lib.call(f); err != nil {
		panic(fmt.Sprintf("cuda: %s (%s): %v", op, shapes(), err))
	}
}

// dtype is how a buffer stores its elements; its values are the library's
// tune_dtype.
type dtype int

const (
	f32  dtype = C.TUNE_F32
	bf16 dtype = C.TUNE_BF16
)

func (d dtype) size() int {
	if d == bf16 {
		return 2
	}
	return 4
}

func (d dtype) c() C.tune_dtype { return C.tune_dtype(d) }

// public is d as package backend names it.
func (d dtype) public() backend.DType {
	if d == bf16 {
		return backend.BFloat16
	}
	return backend.Float32
}

func (d dtype) String() string {
	switch d {
	case f32:
		return backend.Float32.String()
	case bf16:
		return backend.BFloat16.String()
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// allocation is one piece of device memory.
type allocation struct {
	ptr   uint64
	freed bool
}

// buffer is a dense run of elements in an allocation: the whole of it, or
// a view from Slice.
type buffer struct {
	mem  *allocation
	off  int // elements into mem
	n    int
	dt   dtype
	view bool
	dead bool // a view passed to Free
}

func (x *buffer) Len() int { return x.n }

// addr is the device address of the first element.
func (x *buffer) addr() C.tune_ptr {
	if x.mem.freed || x.dead {
		panic("cuda: use of a freed buffer")
	}
	return C.tune_ptr(x.mem.ptr + uint64(x.off*x.dt.size()))
}

// dense returns x as a dense buffer of at least n elements, panicking with
// op and what when it is another kind of buffer or too small.
func dense(x backend.Buffer, n int, op, what string) *buffer {
	d, ok := x.(*buffer)
	if !ok {
		panic(fmt.Sprintf("cuda: %s: %s is a %T, not a dense CUDA buffer", op, what, x))
	}
	if d.n < n {
		panic(fmt.Sprintf("cuda: %s: %s holds %d elements, op needs %d", op, what, d.n, n))
	}
	return d
}

// typed is dense that also requires the element type t.
func typed(x backend.Buffer, n int, t dtype, op, what string) *buffer {
	d := dense(x, n, op, what)
	if d.dt != t {
		from := "Alloc"
		if t == bf16 {
			from = "AllocActivation"
		}
		panic(fmt.Sprintf("cuda: %s: %s must be a %s buffer (from %s), got %s", op, what, t, from, d.dt))
	}
	return d
}

func (b *Backend) alloc(bytes int, op string) *allocation {
	if bytes < 0 {
		panic(fmt.Sprintf("cuda: %s of %d bytes", op, bytes))
	}
	var p C.tune_ptr
	b.count.Allocs++
	b.do(op, func() string { return fmt.Sprintf("%d bytes", bytes) }, func() C.int {
		return C.tl_alloc(b.lib.lib, b.ctx, C.uint64_t(bytes), &p)
	})
	return &allocation{ptr: uint64(p)}
}

func (b *Backend) allocTyped(n int, t dtype, op string) backend.Buffer {
	if n < 0 {
		panic(fmt.Sprintf("cuda: %s of %d elements", op, n))
	}
	x := &buffer{mem: b.alloc(n*t.size(), op), n: n, dt: t}
	b.Zero(x, n)
	return x
}

// Alloc implements backend.Memory: a zero-filled float32 buffer.
func (b *Backend) Alloc(n int) backend.Buffer { return b.allocTyped(n, f32, "Alloc") }

// Ops implements backend.Memory: the optimizer, NF4 and fused ops, and the
// ops of Forward and Backward that libtune_cuda runs so far. With float32
// activations the fused LoRA linear layer, which reads and writes
// bfloat16, is left out.
func (b *Backend) Ops() backend.OpSet {
	ops := backend.OptimizerOps | backend.QuantOps | backend.FusedOps |
		backend.Set(backend.OpEmbedding, backend.OpRMSNorm, backend.OpRoPE, backend.OpSiLUMul, backend.OpAdd,
			backend.OpAddScaled, backend.OpRMSNormBackward, backend.OpRoPEBackward, backend.OpSiLUMulBackward,
			backend.OpDropout, backend.OpLinear, backend.OpLinearBackward, backend.OpLinearWeightGrad,
			backend.OpCrossEntropy, backend.OpCrossEntropyBackward) | attentionOps
	if b.opts.Float32 {
		ops &^= backend.Set(backend.OpLoRALinear)
	}
	return ops
}

// stored is the dtype of activations and frozen weights: bfloat16 unless
// Options.Float32.
func (b *Backend) stored() dtype {
	if b.opts.Float32 {
		return f32
	}
	return bf16
}

// ActivationDType implements backend.Memory: bfloat16 (float32 with
// Options.Float32), with the kernels accumulating in float32.
func (b *Backend) ActivationDType() backend.DType { return b.stored().public() }

// AllocActivation implements backend.Memory: a zero-filled buffer of the
// activation dtype.
func (b *Backend) AllocActivation(n int) backend.Buffer {
	return b.allocTyped(n, b.stored(), "AllocActivation")
}

// WeightDType implements backend.Memory: bfloat16 (float32 with
// Options.Float32), as a bf16 checkpoint stores the weights.
func (b *Backend) WeightDType() backend.DType { return b.stored().public() }

// AllocWeight implements backend.Memory: a zero-filled buffer of the
// weight dtype.
func (b *Backend) AllocWeight(n int) backend.Buffer {
	return b.allocTyped(n, b.stored(), "AllocWeight")
}

// Free implements backend.Memory. Freeing a buffer frees its device memory
// and ends every view of it; freeing a view ends only the view.
func (b *Backend) Free(x backend.Buffer) {
	switch v := x.(type) {
	case *buffer:
		if v.view {
			v.dead = true
			return
		}
		b.free(v.mem)
	case *nf4Buffer:
		b.free(v.mem)
	default:
		panic(fmt.Sprintf("cuda: Free of a %T", x))
	}
}

func (b *Backend) free(m *allocation) {
	if m.freed {
		return
	}
	m.freed = true
	if m.ptr == 0 {
		return
	}
	b.count.Waits++ // cudaFree waits for the device
	b.do("Free", func() string { return "" }, func() C.int { return C.tl_free(b.lib.lib, b.ctx, C.tune_ptr(m.ptr)) })
}

// Slice implements backend.Memory.
func (b *Backend) Slice(x backend.Buffer, off, n int) backend.Buffer {
	d := dense(x, 0, "Slice", "buffer")
	if off < 0 || n < 0 || off+n > d.n {
		panic(fmt.Sprintf("cuda: Slice [%d:%d] of a buffer of %d elements", off, off+n, d.n))
	}
	return &buffer{mem: d.mem, off: d.off + off, n: n, dt: d.dt, view: true}
}

// Upload implements backend.Memory, rounding to bfloat16 (to nearest, ties
// to even) for bfloat16 buffers.
func (b *Backend) Upload(dst backend.Buffer, src []float32) {
	d := dense(dst, len(src), "Upload", "dst")
	if len(src) == 0 {
		return
	}
	p, bytes := unsafe.Pointer(&src[0]), 4*len(src)
	if d.dt == bf16 {
		h := make([]uint16, len(src))
		encodeBF16(h, src)
		p, bytes = unsafe.Pointer(&h[0]), 2*len(h)
	}
	b.count.Uploads++
	b.do("Upload", func() string { return fmt.Sprintf("%d elements", len(src)) }, func() C.int {
		return C.tl_upload(b.lib.lib, b.ctx, d.addr(), p, C.uint64_t(bytes))
	})
}

// Download implements backend.Memory.
func (b *Backend) Download(dst []float32, src backend.Buffer) {
	s := dense(src, len(dst), "Download", "src")
	if len(dst) == 0 {
		return
	}
	shapes := func() string { return fmt.Sprintf("%d elements", len(dst)) }
	b.count.Downloads++
	if s.dt == f32 {
		b.do("Download", shapes, func() C.int {
			return C.tl_download(b.lib.lib, b.ctx, unsafe.Pointer(&dst[0]), s.addr(), C.uint64_t(4*len(dst)))
		})
		return
	}
	h := make([]uint16, len(dst))
	b.do("Download", shapes, func() C.int {
		return C.tl_download(b.lib.lib, b.ctx, unsafe.Pointer(&h[0]), s.addr(), C.uint64_t(2*len(h)))
	})
	decodeBF16(dst, h)
}

// Zero implements backend.Memory.
func (b *Backend) Zero(x backend.Buffer, n int) {
	d := dense(x, n, "Zero", "buffer")
	if n == 0 {
		return
	}
	b.do("Zero", func() string { return fmt.Sprintf("%d elements", n) }, func() C.int {
		return C.tl_zero(b.lib.lib, b.ctx, d.addr(), C.uint64_t(n*d.dt.size()))
	})
}

// Copy copies the first n elements of src to dst on the device; both must
// store the same type.
func (b *Backend) Copy(dst, src backend.Buffer, n int) {
	d, s := dense(dst, n, "Copy", "dst"), dense(src, n, "Copy", "src")
	if d.dt != s.dt {
		panic(fmt.Sprintf("cuda: Copy from a %s buffer to a %s one", s.dt, d.dt))
	}
	if n == 0 {
		return
	}
	b.do("Copy", func() string { return fmt.Sprintf("%d elements", n) }, func() C.int {
		return C.tl_copy(b.lib.lib, b.ctx, d.addr(), s.addr(), C.uint64_t(n*d.dt.size()))
	})
}

// Time runs op reps times and returns the GPU time of each run, measured
// with CUDA events recorded between the runs on the backend's stream.
func (b *Backend) Time(reps int, op func()) []time.Duration {
	events := make([]*C.tune_event, reps+1)
	for i := range events {
		b.do("Time", func() string { return "event" }, func() C.int { return C.tl_event_create(b.lib.lib, b.ctx, &events[i]) })
	}
	defer func() {
		for _, e := range events {
			b.do("Time", func() string { return "event" }, func() C.int { return C.tl_event_destroy(b.lib.lib, b.ctx, e) })
		}
	}()
	record := func(e *C.tune_event) {
		b.do("Time", func() string { return "event" }, func() C.int { return C.tl_event_record(b.lib.lib, b.ctx, e) })
	}
	record(events[0])
	for i := 0; i < reps; i++ {
		op()
		record(events[i+1])
	}
	times := make([]time.Duration, reps)
	for i := range times {
		var ms C.float
		b.count.Waits++
		b.do("Time", func() string { return "event" }, func() C.int {
			return C.tl_event_elapsed(b.lib.lib, b.ctx, events[i], events[i+1], &ms)
		})
		times[i] = time.Duration(float64(ms) * float64(time.Millisecond))
	}
	return times
}
