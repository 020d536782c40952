//go:build cgo

package cuda

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
)

// The kernel benchmarks that scripts/gpu-check.sh runs and tabulates. Each
// reports the median GPU time of b.N runs, measured with CUDA events, as
// ns/op, and the memory-bound ones their rate in GB/s (bytes read plus
// bytes written). Shapes are Qwen2.5-7B's: hidden 3584, intermediate 18944,
// 512-wide k and v projections, a 4096-token batch and LoRA rank 16 on
// every projection (40,370,176 adapter parameters). With -test.short every
// size but the rank is divided by 64, so that the benchmarks can be tried
// quickly, for example on the emulated library.

const benchRank = 16

// benchDiv divides the benchmarks' sizes: 64 with -test.short, else 1.
func benchDiv() int {
	if testing.Short() {
		return 64
	}
	return 1
}

func benchRows() int { return 4096 / benchDiv() }

func adapterSize() int {
	h, kv, ff := 3584/benchDiv(), 512/benchDiv(), 18944/benchDiv()
	return 28 * benchRank * (2*(h+h) + 2*(h+kv) + 3*(h+ff))
}

type benchShape struct {
	name    string
	in, out int
}

func benchShapes() []benchShape {
	h, kv, ff := 3584/benchDiv(), 512/benchDiv(), 18944/benchDiv()
	return []benchShape{
		{"3584to3584", h, h},   // q_proj, o_proj
		{"3584to512", h, kv},   // k_proj, v_proj
		{"3584to18944", h, ff}, // gate_proj, up_proj
		{"18944to3584", ff, h}, // down_proj
	}
}

var (
	benchOnce sync.Once
	benchGPU  *Backend
	benchErr  error
	benchData = map[string]any{} // buffers by benchmark, kept across b.N rounds
)

// gpu returns the one backend the benchmarks share (their buffers outlive
// each benchmark function), or skips.
func gpu(b *testing.B) *Backend {
	benchOnce.Do(func() { benchGPU, benchErr = Open() })
	if benchErr != nil {
		b.Skipf("no CUDA backend here: %v", benchErr)
	}
	return benchGPU
}

// cached returns the value build makes for key, built once per process.
func cached[T any](key string, build func() T) T {
	if v, ok := benchData[key]; ok {
		return v.(T)
	}
	v := build()
	benchData[key] = v
	return v
}

// fill returns n pseudo-random values in [-scale, scale) (xorshift: fast
// enough for hundreds of millions; timing zeros would flatter the kernels).
func fill(n int, seed uint64, scale float32) []float32 {
	v := make([]float32, n)
	x := seed*0x9e3779b97f4a7c15 | 1
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = scale * (float32(x>>40)/(1<<23) - 1)
	}
	return v
}

func randomBytes(n int, seed uint64) []byte {
	v := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 | 1
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = byte(x >> 56)
	}
	return v
}

// randomNF4 is a double-quantized NF4 tensor [out, in] of random codes and
// scales in bitsandbytes' default layout (blocks of 64, nested blocks of
// 256): its values are as costly to dequantize as a real weight's.
func randomNF4(out, in int, seed uint64) *quant.NF4 {
	n := out * in
	blocks := (n + 63) / 64
	absmax2 := fill((blocks+255)/256, seed+1, 0.01)
	for i := range absmax2 {
		absmax2[i] += 0.02
	}
	return &quant.NF4{Shape: []int{out, in}, BlockSize: 64, Data: randomBytes((n+1)/2, seed), DType: "bfloat16",
		Double: &quant.DoubleQuant{QAbsmax: randomBytes(blocks, seed+2), Code: quant.DynamicMap(), Absmax: absmax2,
			BlockSize: 256, Offset: 0.03}}
}

func upload(g *Backend, buf backend.Buffer, v []float32) backend.Buffer {
	g.Upload(buf, v)
	return buf
}

// measure times op on the GPU after two warm-up runs (plans, scratch) and
// reports the median as ns/op and, when bytes > 0, the rate in GB/s. It
// returns the median.
func measure(b *testing.B, g *Backend, op func(), bytes float64) time.Duration {
	op()
	op()
	b.ResetTimer()
	times := g.Time(b.N, op)
	slices.Sort(times)
	med := times[len(times)/2]
	b.ReportMetric(float64(med.Nanoseconds()), "ns/op")
	if bytes > 0 {
		b.ReportMetric(bytes/med.Seconds()/1e9, "GB/s")
	}
	return med
}

func BenchmarkCopy(b *testing.B) {
	g := gpu(b)
	n := (1 << 28) / benchDiv() // 1 GiB of float32
	bufs := cached("copy", func() [2]backend.Buffer {
		return [2]backend.Buffer{upload(g, g.Alloc(n), fill(n, 1, 1)), g.Alloc(n)}
	})
	measure(b, g, func() { g.Copy(bufs[1], bufs[0], n) }, float64(8*n))
}

func BenchmarkDequantNF4(b *testing.B) {
	g := gpu(b)
	out, in := 18944/benchDiv(), 3584/benchDiv()
	type data struct {
		q, y  backend.Buffer
		bytes float64
	}
	d := cached("dequant", func() data {
		nf := randomNF4(out, in, 7)
		bytes := len(nf.Data) + len(nf.Double.QAbsmax) + 4*len(nf.Double.Absmax) + 2*out*in
		return data{g.UploadNF4(nf), g.AllocActivation(out * in), float64(bytes)}
	})
	measure(b, g, func() { g.Dequantize(d.y, d.q) }, d.bytes)
}

func BenchmarkAdamW(b *testing.B) {
	g := gpu(b)
	n := adapterSize()
	bufs := cached("adamw", func() [4]backend.Buffer {
		v := fill(n, 4, 1e-6)
		for i := range v {
			v[i] *= v[i]
		}
		return [4]backend.Buffer{upload(g, g.Alloc(n), fill(n, 1, 0.02)), upload(g, g.Alloc(n), fill(n, 2, 1e-3)),
			upload(g, g.Alloc(n), fill(n, 3, 1e-4)), upload(g, g.Alloc(n), v)}
	})
	s := backend.AdamWStep{LR: 2e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0, Step: 10, GradScale: 1}
	// The training step: norm (read g), clip and update, the norm copied
	// back; 32 bytes per parameter.
	b.Run("clipped", func(b *testing.B) {
		measure(b, g, func() { g.AdamWClipped(bufs[0], bufs[1], bufs[2], bufs[3], n, s, 1) }, float64(32*n))
	})
	// The update alone: 28 bytes per parameter.
	b.Run("update", func(b *testing.B) {
		measure(b, g, func() { g.AdamW(bufs[0], bufs[1], bufs[2], bufs[3], n, s) }, float64(28*n))
	})
}

// linearData holds one layer shape's buffers: the fused layer's, and for
// the baseline's weight-gradient GEMMs gᵀ [rank, rows], dyᵀ [out, rows] and
// t [rows, rank] with bf16 results dA16 and dB16.
type linearData struct {
	x, y, dy, dx, w16, w, a, bm, da, db backend.Buffer
	gT, dyT, t, da16, db16              backend.Buffer
}

func linearBuffers(g *Backend, in, out int) linearData {
	rows := benchRows()
	return cached(fmt.Sprintf("linear %dx%d", in, out), func() linearData {
		return linearData{
			x:    upload(g, g.AllocActivation(rows*in), fill(rows*in, 1, 1)),
			y:    g.AllocActivation(rows * out),
			dy:   upload(g, g.AllocActivation(rows*out), fill(rows*out, 2, 1e-2)),
			dx:   g.AllocActivation(rows * in),
			w16:  upload(g, g.AllocActivation(out*in), fill(out*in, 3, 0.02)),
			w:    g.UploadNF4(randomNF4(out, in, 4)),
			a:    upload(g, g.Alloc(benchRank*in), fill(benchRank*in, 5, 0.02)),
			bm:   upload(g, g.Alloc(out*benchRank), fill(out*benchRank, 6, 0.01)),
			da:   g.Alloc(benchRank * in),
			db:   g.Alloc(out * benchRank),
			gT:   upload(g, g.AllocActivation(benchRank*rows), fill(benchRank*rows, 7, 1e-2)),
			dyT:  upload(g, g.AllocActivation(out*rows), fill(out*rows, 8, 1e-2)),
			t:    upload(g, g.AllocActivation(rows*benchRank), fill(rows*benchRank, 9, 1)),
			da16: g.AllocActivation(benchRank * in),
			db16: g.AllocActivation(out * benchRank),
		}
	})
}

// BenchmarkGEMM times the baselines, plain cuBLASLt bf16 GEMMs of the
// products a LoRA layer cannot do without: fwd is y = x·Wᵀ; bwd is
// dx = dy·W plus the adapter's two weight-gradient GEMMs, dA = gᵀ·x
// [rank, in] and dB = dyᵀ·t [out, rank] (g = s·dy·B and t = s·x·Aᵀ being
// [rows, rank]), in one timed run. scripts/gpu-check.sh divides the fused
// layer's times by these.
func BenchmarkGEMM(b *testing.B) {
	g := gpu(b)
	rows := benchRows()
	for _, sh := range benchShapes() {
		d := linearBuffers(g, sh.in, sh.out)
		b.Run(sh.name+"/fwd", func(b *testing.B) {
			measure(b, g, func() { g.MatMulBF16(d.y, d.x, d.w16, rows, sh.in, sh.out, true) }, 0)
		})
		b.Run(sh.name+"/bwd", func(b *testing.B) {
			measure(b, g, func() {
				g.MatMulBF16(d.dx, d.dy, d.w16, rows, sh.out, sh.in, false)
				g.MatMulBF16(d.da16, d.gT, d.x, benchRank, rows, sh.in, false)
				g.MatMulBF16(d.db16, d.dyT, d.t, sh.out, rows, benchRank, false)
			}, 0)
		})
	}
}

// BenchmarkLoRALinearForward and BenchmarkLoRALinearBackward time the fused
// layer (NF4 weight, no bias, no dropout), everything it does included: the
// weight build, the copy of x or dy (or the C operand), the adapter's GEMMs.
// See cuda/README.md for the ratios to BenchmarkGEMM they are expected to
// reach.
func BenchmarkLoRALinearForward(b *testing.B) {
	g := gpu(b)
	for _, sh := range benchShapes() {
		d := linearBuffers(g, sh.in, sh.out)
		s := backend.LoRAShape{Rows: benchRows(), In: sh.in, Out: sh.out, Rank: benchRank, Scale: 2}
		b.Run(sh.name, func(b *testing.B) {
			measure(b, g, func() { g.LoRALinearForward(d.y, d.x, d.w, nil, d.a, d.bm, s) }, 0)
		})
	}
}

func BenchmarkLoRALinearBackward(b *testing.B) {
	g := gpu(b)
	for _, sh := range benchShapes() {
		d := linearBuffers(g, sh.in, sh.out)
		s := backend.LoRAShape{Rows: benchRows(), In: sh.in, Out: sh.out, Rank: benchRank, Scale: 2}
		b.Run(sh.name, func(b *testing.B) {
			measure(b, g, func() { g.LoRALinearBackward(d.dx, d.da, d.db, d.dy, d.x, d.w, d.a, d.bm, s) }, 0)
		})
	}
}

// BenchmarkAttention times the flash attention kernels at Qwen2.5-7B's
// attention (28 query heads, 4 kv heads, head dim 128, bf16) over one
// packed sequence of 2048 or 4096 tokens (32 or 64 with -test.short): the
// forward with its lse, and the backward from the saved lse (the D pass
// and both kernels). Besides ns/op each reports model TFLOP/s: a causal
// forward does two T x T x d products per head, half of them masked, so
// 2·T²·d·heads FLOPs; the backward counts 2.5 times that (five products,
// FlashAttention's convention; the kernels compute seven).
func BenchmarkAttention(b *testing.B) {
	g := gpu(b)
	const heads, kvHeads, dim = 28, 4, 128
	for _, full := range []int{2048, 4096} {
		t := full / benchDiv()
		s := backend.AttnShape{Batch: 1, Q: t, KV: t, KVStride: t, Heads: heads, KVHeads: kvHeads, HeadDim: dim}
		nq, nk := t*heads*dim, t*kvHeads*dim
		d := cached(fmt.Sprintf("attention %d", t), func() [9]backend.Buffer {
			act := func(n int, seed uint64) backend.Buffer { return upload(g, g.AllocActivation(n), fill(n, seed, 1)) }
			return [9]backend.Buffer{act(nq, 1), act(nk, 2), act(nk, 3), act(nq, 4), g.Alloc(heads * t),
				act(nq, 5), g.AllocActivation(nq), g.AllocActivation(nk), g.AllocActivation(nk)}
		})
		q, k, v, out, lse, dout, dq, dk, dv := d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8]
		flops := 2 * float64(t) * float64(t) * dim * heads
		b.Run(fmt.Sprintf("%d/fwd", full), func(b *testing.B) {
			med := measure(b, g, func() { g.Attention(out, lse, q, k, v, nil, s) }, 0)
			b.ReportMetric(flops/med.Seconds()/1e12, "TFLOP/s")
		})
		b.Run(fmt.Sprintf("%d/bwd", full), func(b *testing.B) {
			med := measure(b, g, func() { g.AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, nil, s) }, 0)
			b.ReportMetric(2.5*flops/med.Seconds()/1e12, "TFLOP/s")
		})
	}
}
