//go:build cgo

package cuda

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
)

// The kernel benchmarks that scripts/gpu-check.sh runs and tabulates. Each
// reports the median GPU time of b.N runs, measured with CUDA events, as
// ns/op, and its rate as GB/s (bytes read plus bytes written) or TFLOP/s.
// Shapes are Qwen2.5-7B's: hidden 3584, intermediate 18944, 512-wide k and
// v projections, a 4096-token batch and LoRA rank 16 on every projection
// (40,370,176 adapter parameters).

const (
	benchRows   = 4096
	benchRank   = 16
	adapterSize = 28 * 16 * (2*(3584+3584) + 2*(3584+512) + 3*(3584+18944))
)

var benchShapes = []struct {
	name    string
	in, out int
}{
	{"3584to3584", 3584, 3584},   // q_proj, o_proj
	{"3584to512", 3584, 512},     // k_proj, v_proj
	{"3584to18944", 3584, 18944}, // gate_proj, up_proj
	{"18944to3584", 18944, 3584}, // down_proj
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
// reports the median as ns/op and work per second in unit (work is bytes
// for GB/s, floating-point operations for TFLOP/s).
func measure(b *testing.B, g *Backend, op func(), work float64, unit string) {
	op()
	op()
	b.ResetTimer()
	times := g.Time(b.N, op)
	slices.Sort(times)
	med := times[len(times)/2]
	b.ReportMetric(float64(med.Nanoseconds()), "ns/op")
	scale := 1e9
	if unit == "TFLOP/s" {
		scale = 1e12
	}
	b.ReportMetric(work/med.Seconds()/scale, unit)
}

func BenchmarkCopy(b *testing.B) {
	g := gpu(b)
	const n = 1 << 28 // 1 GiB of float32
	bufs := cached("copy", func() [2]backend.Buffer {
		return [2]backend.Buffer{upload(g, g.Alloc(n), fill(n, 1, 1)), g.Alloc(n)}
	})
	measure(b, g, func() { g.Copy(bufs[1], bufs[0], n) }, 2*4*n, "GB/s")
}

func BenchmarkDequantNF4(b *testing.B) {
	g := gpu(b)
	const out, in = 18944, 3584
	type data struct {
		q, y  backend.Buffer
		bytes float64
	}
	d := cached("dequant", func() data {
		nf := randomNF4(out, in, 7)
		bytes := len(nf.Data) + len(nf.Double.QAbsmax) + 4*len(nf.Double.Absmax) + 2*out*in
		return data{g.UploadNF4(nf), g.AllocActivation(out * in), float64(bytes)}
	})
	measure(b, g, func() { g.Dequantize(d.y, d.q) }, d.bytes, "GB/s")
}

func BenchmarkAdamW(b *testing.B) {
	g := gpu(b)
	const n = adapterSize
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
		measure(b, g, func() { g.AdamWClipped(bufs[0], bufs[1], bufs[2], bufs[3], n, s, 1) }, 32*n, "GB/s")
	})
	// The update alone: 28 bytes per parameter.
	b.Run("update", func(b *testing.B) {
		measure(b, g, func() { g.AdamW(bufs[0], bufs[1], bufs[2], bufs[3], n, s) }, 28*n, "GB/s")
	})
}

// linearData holds one layer shape's buffers.
type linearData struct {
	x, y, dy, dx, w16, w, a, bm, da, db backend.Buffer
}

func linearBuffers(g *Backend, in, out int) linearData {
	return cached(fmt.Sprintf("linear %dx%d", in, out), func() linearData {
		return linearData{
			x:   upload(g, g.AllocActivation(benchRows*in), fill(benchRows*in, 1, 1)),
			y:   g.AllocActivation(benchRows * out),
			dy:  upload(g, g.AllocActivation(benchRows*out), fill(benchRows*out, 2, 1e-2)),
			dx:  g.AllocActivation(benchRows * in),
			w16: upload(g, g.AllocActivation(out*in), fill(out*in, 3, 0.02)),
			w:   g.UploadNF4(randomNF4(out, in, 4)),
			a:   upload(g, g.Alloc(benchRank*in), fill(benchRank*in, 5, 0.02)),
			bm:  upload(g, g.Alloc(out*benchRank), fill(out*benchRank, 6, 0.01)),
			da:  g.Alloc(benchRank * in),
			db:  g.Alloc(out * benchRank),
		}
	})
}

// BenchmarkGEMM is the baseline: plain cuBLASLt bf16 GEMMs of the layer's
// shapes, y = x·Wᵀ (fwd) and dx = dy·W (bwd).
func BenchmarkGEMM(b *testing.B) {
	g := gpu(b)
	for _, sh := range benchShapes {
		d := linearBuffers(g, sh.in, sh.out)
		flops := 2 * float64(benchRows) * float64(sh.in) * float64(sh.out)
		b.Run(sh.name+"/fwd", func(b *testing.B) {
			measure(b, g, func() { g.MatMulBF16(d.y, d.x, d.w16, benchRows, sh.in, sh.out, true) }, flops, "TFLOP/s")
		})
		b.Run(sh.name+"/bwd", func(b *testing.B) {
			measure(b, g, func() { g.MatMulBF16(d.dx, d.dy, d.w16, benchRows, sh.out, sh.in, false) }, flops, "TFLOP/s")
		})
	}
}

// BenchmarkLoRALinearForward and BenchmarkLoRALinearBackward count the
// floating-point operations of the unfused math (the base GEMM and the
// adapter's products), not what the kernels add to them: the weight build,
// the copy of x or dy (or the C operand), the zero padding of K. See
// cuda/README.md for the rates these are expected to reach.
func BenchmarkLoRALinearForward(b *testing.B) {
	g := gpu(b)
	for _, sh := range benchShapes {
		d := linearBuffers(g, sh.in, sh.out)
		s := backend.LoRAShape{Rows: benchRows, In: sh.in, Out: sh.out, Rank: benchRank, Scale: 2}
		flops := 2 * float64(benchRows) * (float64(sh.in)*float64(sh.out) + benchRank*float64(sh.in+sh.out))
		b.Run(sh.name, func(b *testing.B) {
			measure(b, g, func() { g.LoRALinearForward(d.y, d.x, d.w, nil, d.a, d.bm, s) }, flops, "TFLOP/s")
		})
	}
}

func BenchmarkLoRALinearBackward(b *testing.B) {
	g := gpu(b)
	for _, sh := range benchShapes {
		d := linearBuffers(g, sh.in, sh.out)
		s := backend.LoRAShape{Rows: benchRows, In: sh.in, Out: sh.out, Rank: benchRank, Scale: 2}
		flops := 2 * float64(benchRows) * (float64(sh.in)*float64(sh.out) + benchRank*float64(3*sh.in+2*sh.out))
		b.Run(sh.name, func(b *testing.B) {
			measure(b, g, func() { g.LoRALinearBackward(d.dx, d.da, d.db, d.dy, d.x, d.w, d.a, d.bm, s) }, flops, "TFLOP/s")
		})
	}
}
