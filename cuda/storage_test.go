//go:build cgo

package cuda

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
)

// inUse is the device memory the live allocations take, as
// tune_memory_info reports it.
func inUse(t *testing.T, b *Backend) int64 {
	t.Helper()
	free, total, err := b.MemoryInfo()
	if err != nil {
		t.Fatal(err)
	}
	return total - free
}

// TestWorkspaceMatchesAllocationsCUDA holds Storage to what the library
// really allocates: a context's own memory, UploadNF4's allocation
// against Storage.NF4Bytes, and against Workspace what a step leaves
// behind: the scratch of the fused LoRA layer's forward and backward calls
// (both forms of each, with and without dropout, bias and dx), the
// embedding's ids, RoPE's positions and table, a chunk's targets and
// losses (CrossEntropy and CrossEntropySum), and a clipped AdamW step.
// The key mask's slot, which attention fills, is filled directly.
func TestWorkspaceMatchesAllocationsCUDA(t *testing.T) {
	b := openOrSkip(t)
	before := inUse(t, b)
	b2 := openOrSkip(t)
	if got := inUse(t, b) - before; got != cublasWorkspaceBytes+sumBytes {
		t.Errorf("a context takes %d bytes, Workspace counts %d for it", got, cublasWorkspaceBytes+sumBytes)
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(11, 12))
	const rows, rank = 7, 3
	var calls []backend.LoRACall
	type layer struct {
		s                  backend.LoRAShape
		w, bias, a, bb     backend.Buffer
		x, y, dx, da, dbuf backend.Buffer
	}
	var layers []layer
	for i, shape := range [][2]int{{40, 72}, {72, 40}, {33, 33}, {96, 17}} {
		in, out := shape[0], shape[1]
		s := backend.LoRAShape{Rows: rows, In: in, Out: out, Rank: rank, Scale: 2}
		if i%2 == 1 {
			s.Dropout, s.DropoutSeed = 0.1, uint64(i)
		}
		q, err := quant.Quantize(randn(rng, in*out, 0.02), []int{out, in}, 64, true)
		if err != nil {
			t.Fatal(err)
		}
		at := inUse(t, b)
		w := b.UploadNF4(q)
		if got, want := inUse(t, b)-at, Storage.NF4Bytes(in*out, 64); got != want {
			t.Errorf("UploadNF4 of [%d, %d] took %d bytes, Storage.NF4Bytes says %d", out, in, got, want)
		}
		l := layer{s: s, w: w, a: b.Alloc(rank * in), bb: b.Alloc(out * rank), x: b.AllocActivation(rows * in),
			y: b.AllocActivation(rows * out), dx: b.AllocActivation(rows * in), da: b.Alloc(rank * in), dbuf: b.Alloc(out * rank)}
		b.Upload(l.a, randn(rng, rank*in, 0.1))
		b.Upload(l.bb, randn(rng, out*rank, 0.1))
		b.Upload(l.x, randn(rng, rows*in, 1))
		if i < 2 {
			l.bias = b.Alloc(out)
		}
		layers = append(layers, l)
	}
	const vocab, heads, headDim, chunk = 50, 2, 16, 5
	table, emb := b.Alloc(vocab*heads*headDim), b.AllocActivation(rows*heads*headDim)
	logits, sum := b.AllocActivation(chunk*vocab), b.Alloc(2)
	b.Upload(logits, randn(rng, chunk*vocab, 1))
	ids, pos, mask, targets := make([]int32, rows), make([]int32, rows), make([]int32, rows), make([]int32, chunk)
	for i := range ids {
		ids[i], pos[i], mask[i] = int32(i*7%vocab), int32(i), 1
	}
	for i := range targets {
		targets[i] = int32(i * 3)
	}
	params := b.Alloc(1000)
	grads, m, v := b.Alloc(1000), b.Alloc(1000), b.Alloc(1000)
	b.Upload(grads, randn(rng, 1000, 1))

	start := inUse(t, b)
	for i, l := range layers {
		b.LoRALinearForward(l.y, l.x, l.w, l.bias, l.a, l.bb, l.s)
		calls = append(calls, backend.LoRACall{Shape: l.s, Bias: l.bias != nil})
		var dx backend.Buffer
		if i != 2 {
			dx = l.dx
		}
		b.LoRALinearBackward(dx, l.da, l.dbuf, l.y, l.x, l.w, l.a, l.bb, l.s)
		calls = append(calls, backend.LoRACall{Shape: l.s, Backward: true, InputGrad: dx != nil})
	}
	b.Embedding(emb, table, ids, heads*headDim)
	b.RoPE(emb, pos, rows, heads, backend.InvFreq(headDim, 1e4))
	b.uploadInts(argMask, mask, "Attention")
	b.CrossEntropy(make([]float64, chunk), logits, targets, chunk, vocab)
	b.CrossEntropySum(sum, logits, targets, chunk, vocab, 1)
	b.AdamWClipped(params, grads, m, v, 1000, backend.AdamWStep{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1, GradScale: 1}, 1)
	got := inUse(t, b) - start
	want := Workspace(backend.StepShape{Rows: rows, LogitRows: chunk, HeadDim: headDim, LoRA: calls}) - cublasWorkspaceBytes - sumBytes
	if got != want {
		t.Errorf("the calls left %d bytes of scratch, Workspace says %d", got, want)
	}
	t.Logf("scratch after %d calls: %d bytes (%s)", len(calls), got, fmt.Sprint(calls[0].Shape))
}
