//go:build cgo

package cuda

import (
	"testing"

	"github.com/tune-dev/tune/backend"
)

// The benchmarks of linear.cu and loss.cu, at Qwen2.5-7B's shapes with bf16
// weights and activations (the schedule's storage): a frozen o_proj, the
// LoRA weight gradient the unfused layer computes, and the loss head, the
// LM head 3584 -> 152064 with cross-entropy over 4096 tokens in chunks of
// 1024 rows, which never holds [tokens, vocab]. cuda/README.md gives the
// floors they are read against.

const benchVocab = 152064

// benchChunk is the rows of one logits chunk of the loss head.
func benchChunk() int { return 1024 / benchDiv() }

// measureFLOPs is measure for a GEMM-bound op of flops floating-point
// operations: it also reports TFLOP/s.
func measureFLOPs(b *testing.B, g *Backend, op func(), flops float64) {
	med := measure(b, g, op, 0)
	b.ReportMetric(flops/med.Seconds()/1e12, "TFLOP/s")
}

// BenchmarkLinear times the frozen linear ops: o_proj 3584 -> 3584 (fwd
// with a bias, and dx), and LinearWeightGrad at the shape of LoRA's A
// gradient, dA [16, 3584] += gᵀ·x over 4096 rows.
func BenchmarkLinear(b *testing.B) {
	g := gpu(b)
	rows, h := benchRows(), 3584/benchDiv()
	type data struct{ x, y, dy, dx, w, bias, dw, gr backend.Buffer }
	d := cached("frozen linear", func() data {
		return data{
			x:    upload(g, g.AllocActivation(rows*h), fill(rows*h, 1, 1)),
			y:    g.AllocActivation(rows * h),
			dy:   upload(g, g.AllocActivation(rows*h), fill(rows*h, 2, 1e-2)),
			dx:   g.AllocActivation(rows * h),
			w:    upload(g, g.AllocActivation(h*h), fill(h*h, 3, 0.02)),
			bias: upload(g, g.AllocActivation(h), fill(h, 4, 0.1)),
			dw:   g.Alloc(benchRank * h),
			gr:   upload(g, g.AllocActivation(rows*benchRank), fill(rows*benchRank, 5, 1e-2)),
		}
	})
	gemm := 2 * float64(rows) * float64(h) * float64(h)
	b.Run("3584to3584/fwd", func(b *testing.B) {
		measureFLOPs(b, g, func() { g.Linear(d.y, d.x, d.w, d.bias, rows, h, h) }, gemm)
	})
	b.Run("3584to3584/dx", func(b *testing.B) {
		measureFLOPs(b, g, func() { g.LinearBackward(d.dx, d.dy, d.w, rows, h, h) }, gemm)
	})
	b.Run("wgrad_r16", func(b *testing.B) {
		measureFLOPs(b, g, func() { g.LinearWeightGrad(d.dw, d.gr, d.x, rows, h, benchRank) },
			2*float64(rows)*float64(h)*benchRank)
	})
}

// lossHead holds the loss head's buffers: the LM head's weight, the final
// hidden states x and their gradient dx [rows, hidden], one logits chunk,
// the targets and the device loss sum.
type lossHead struct {
	w, x, dx, logits, sum backend.Buffer
	targets               []int32
}

func lossHeadBuffers(g *Backend) lossHead {
	rows, h, vocab, chunk := benchRows(), 3584/benchDiv(), benchVocab/benchDiv(), benchChunk()
	return cached("loss head", func() lossHead {
		targets := make([]int32, rows)
		for i := range targets {
			targets[i] = int32(i * 7919 % vocab)
			if i%10 == 0 {
				targets[i] = backend.IgnoreIndex // the prompt's tokens
			}
		}
		return lossHead{
			w:       upload(g, g.AllocActivation(vocab*h), fill(vocab*h, 11, 0.02)),
			x:       upload(g, g.AllocActivation(rows*h), fill(rows*h, 12, 1)),
			dx:      g.AllocActivation(rows * h),
			logits:  g.AllocActivation(chunk * vocab),
			sum:     g.Alloc(2),
			targets: targets,
		}
	})
}

// BenchmarkCrossEntropy times one [1024, 152064] bf16 chunk: fwd (read once,
// the losses to the device sum) and bwd (in place: read twice, written
// once). GB/s counts those bytes.
func BenchmarkCrossEntropy(b *testing.B) {
	g := gpu(b)
	d := lossHeadBuffers(g)
	chunk, vocab := benchChunk(), benchVocab/benchDiv()
	g.Upload(d.logits, fill(chunk*vocab, 13, 8))
	bytes := 2 * float64(chunk) * float64(vocab)
	b.Run("fwd", func(b *testing.B) {
		measure(b, g, func() { g.CrossEntropySum(d.sum, d.logits, d.targets[:chunk], chunk, vocab, 1) }, bytes)
	})
	// In place, each run takes the previous run's gradients as logits:
	// the same work (no early exit depends on the values).
	b.Run("bwd", func(b *testing.B) {
		measure(b, g, func() { g.CrossEntropyBackward(d.logits, d.logits, d.targets[:chunk], chunk, vocab, 1) }, 3*bytes)
	})
}

// BenchmarkLossHead times the whole loss head of one step: per chunk of
// 1024 rows, logits = x·Wᵀ, the loss added to the device sum, dlogits in
// place, and dx = dlogits·W. TFLOP/s counts the two GEMMs. Under
// -test.short it runs two chunks, not four: the emulation's cross-entropy
// blocks are slow, and make test-cuda-emu runs in CI.
func BenchmarkLossHead(b *testing.B) {
	g := gpu(b)
	d := lossHeadBuffers(g)
	rows, h, vocab, chunk := benchRows(), 3584/benchDiv(), benchVocab/benchDiv(), benchChunk()
	if testing.Short() {
		rows = 2 * chunk
	}
	scale := 1 / float32(rows)
	measureFLOPs(b, g, func() {
		for r := 0; r < rows; r += chunk {
			x, dx, t := g.Slice(d.x, r*h, chunk*h), g.Slice(d.dx, r*h, chunk*h), d.targets[r:r+chunk]
			g.Linear(d.logits, x, d.w, nil, chunk, h, vocab)
			g.CrossEntropySum(d.sum, d.logits, t, chunk, vocab, scale)
			g.CrossEntropyBackward(d.logits, d.logits, t, chunk, vocab, scale)
			g.LinearBackward(dx, d.logits, d.w, chunk, h, vocab)
		}
	}, 4*float64(rows)*float64(h)*float64(vocab))
}
