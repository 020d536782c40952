//go:build cgo

package cuda

import (
	"testing"

	"github.com/tune-dev/tune/backend"
)

// The benchmarks of the norm, RoPE, embedding and elementwise kernels, at
// Qwen2.5-7B's shapes (see bench_test.go; 1/64 of each size with
// -test.short): 4096 tokens, hidden 3584, 28 query and 4 key/value heads
// of 128, intermediate 18944, vocabulary 152064. Activations are bf16 and
// norm weights fp32; each reports GB/s over the bytes it must move, whose
// floor at 3.0 TB/s cuda/README.md's kernel table gives. RoPE and the
// embedding are timed as kernels, their int32 positions or ids already
// on the device: the ops upload them first (16 KiB), which the schedule
// is to do once per step.

// opShape returns the benchmark sizes: rows, hidden, intermediate, vocab,
// head dim.
func opShape() (rows, h, ff, vocab, hd int) {
	d := benchDiv()
	return 4096 / d, 3584 / d, 18944 / d, 152064 / d, 128 / d
}

// acts returns count bf16 activation buffers of n random elements each,
// made once per key.
func acts(g *Backend, key string, count, n int) []backend.Buffer {
	return cached(key, func() []backend.Buffer {
		bufs := make([]backend.Buffer, count)
		for i := range bufs {
			bufs[i] = upload(g, g.AllocActivation(n), fill(n, uint64(i+1), 1))
		}
		return bufs
	})
}

func normWeight(g *Backend, h int) backend.Buffer {
	return cached("norm weight", func() backend.Buffer { return upload(g, g.Alloc(h), fill(h, 9, 1)) })
}

// BenchmarkRMSNorm: x read, out written (bf16), per 3584-wide row.
func BenchmarkRMSNorm(b *testing.B) {
	g := gpu(b)
	rows, h, _, _, _ := opShape()
	x := acts(g, "rows x2", 2, rows*h)
	w := normWeight(g, h)
	measure(b, g, func() { g.RMSNorm(x[1], x[0], w, rows, h, 1e-6) }, float64(4*rows*h+4*h))
}

// BenchmarkRMSNormBackward: dy and x read, dx written in place of dy.
func BenchmarkRMSNormBackward(b *testing.B) {
	g := gpu(b)
	rows, h, _, _, _ := opShape()
	x := acts(g, "rows x2", 2, rows*h)
	w := normWeight(g, h)
	// dx in place of dy: the values drift from run to run, which does not
	// change the work.
	measure(b, g, func() { g.RMSNormBackward(x[1], x[1], x[0], w, rows, h, 1e-6) }, float64(6*rows*h+4*h))
}

// BenchmarkAddRMSNorm: the fused residual add + RMSNorm (a, b read; sum and
// h written) and, for the ratio, Add then RMSNorm (sum read back).
func BenchmarkAddRMSNorm(b *testing.B) {
	g := gpu(b)
	rows, h, _, _, _ := opShape()
	x := acts(g, "rows x4", 4, rows*h)
	w := normWeight(g, h)
	b.Run("fused", func(b *testing.B) {
		measure(b, g, func() { g.AddRMSNorm(x[2], x[3], x[0], x[1], w, rows, h, 1e-6) }, float64(8*rows*h+4*h))
	})
	b.Run("unfused", func(b *testing.B) {
		measure(b, g, func() {
			g.Add(x[2], x[0], x[1], rows*h)
			g.RMSNorm(x[3], x[2], w, rows, h, 1e-6)
		}, float64(10*rows*h+4*h))
	})
}

// BenchmarkRoPE rotates q (28 heads) and k (4 heads) in place.
func BenchmarkRoPE(b *testing.B) {
	g := gpu(b)
	rows, _, _, _, hd := opShape()
	pos := make([]int32, rows)
	for i := range pos {
		pos[i] = int32(i)
	}
	for _, c := range []struct {
		name  string
		heads int
	}{{"q", 28}, {"k", 4}} {
		x := acts(g, "rope "+c.name, 1, rows*c.heads*hd)[0]
		xb := dense(x, rows*c.heads*hd, "RoPE", "x")
		b.Run(c.name, func(b *testing.B) {
			p := g.uploadInts(argPos, pos, "RoPE")
			inv := g.invFreq(backend.InvFreq(hd, 1e6), "RoPE")
			measure(b, g, func() { g.launchRoPE("RoPE", xb, p, inv, rows, c.heads, hd, 0) },
				float64(4*rows*c.heads*hd))
		})
	}
}

// BenchmarkEmbedding gathers 4096 rows of a bf16 [vocab, hidden] table.
func BenchmarkEmbedding(b *testing.B) {
	g := gpu(b)
	rows, h, _, vocab, _ := opShape()
	table := acts(g, "embedding table", 1, vocab*h)[0]
	out := acts(g, "rows x2", 2, rows*h)[0]
	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32((i * 7919) % vocab)
	}
	p := g.uploadInts(argIDs, ids, "Embedding")
	ob, tb := dense(out, rows*h, "Embedding", "out"), dense(table, vocab*h, "Embedding", "table")
	measure(b, g, func() { g.launchEmbedding(ob, tb, p, rows, h, vocab) }, float64(4*rows*h))
}

// BenchmarkSiLUMul and BenchmarkSiLUMulBackward run over the 18944-wide MLP
// activations.
func BenchmarkSiLUMul(b *testing.B) {
	g := gpu(b)
	rows, _, ff, _, _ := opShape()
	n := rows * ff
	x := acts(g, "mlp x5", 5, n)
	measure(b, g, func() { g.SiLUMul(x[2], x[0], x[1], n) }, float64(6*n))
}

func BenchmarkSiLUMulBackward(b *testing.B) {
	g := gpu(b)
	rows, _, ff, _, _ := opShape()
	n := rows * ff
	x := acts(g, "mlp x5", 5, n)
	measure(b, g, func() { g.SiLUMulBackward(x[3], x[4], x[2], x[0], x[1], n) }, float64(10*n))
}

// BenchmarkAdd, BenchmarkAddScaled and BenchmarkDropout run over one
// [4096, 3584] activation.
func BenchmarkAdd(b *testing.B) {
	g := gpu(b)
	rows, h, _, _, _ := opShape()
	x := acts(g, "rows x4", 4, rows*h)
	measure(b, g, func() { g.Add(x[2], x[0], x[1], rows*h) }, float64(6*rows*h))
}

func BenchmarkAddScaled(b *testing.B) {
	g := gpu(b)
	rows, h, _, _, _ := opShape()
	x := acts(g, "rows x4", 4, rows*h)
	measure(b, g, func() { g.AddScaled(x[2], x[0], 1e-3, rows*h) }, float64(6*rows*h))
}

func BenchmarkDropout(b *testing.B) {
	g := gpu(b)
	rows, h, _, _, _ := opShape()
	x := acts(g, "rows x4", 4, rows*h)
	measure(b, g, func() { g.Dropout(x[2], x[0], 0.05, 42, rows*h) }, float64(4*rows*h))
}
