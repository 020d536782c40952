//go:build cgo

package cuda

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
)

// TestAttentionBF16CUDA runs the attention kernels on bfloat16 buffers,
// the training path (TestAttentionCUDA checks the float32 one), against
// backend/cpu on the same bf16-exact inputs, so that the difference is the
// kernels' own: the bf16 rounding of out, dq, dk and dv, and of out where
// the backward's D = rowsum(dout ⊙ out) reads it, and on the tensor-core
// path (head dims 64 and 128) of P. The shapes take several tiles of every
// kernel, GQA groups of 2, 4 and 7, the tensor-core head dims and the
// generic path, padding, packed segments and a KV cache (Q < KV,
// QStart > 0, KVStride > KV).
func TestAttentionBF16CUDA(t *testing.T) {
	g := openOrSkip(t)
	ref := cpu.New(0)
	cases := []struct {
		name     string
		s        backend.AttnShape
		segments bool
	}{
		{"t33 d64 gqa2 padded", backend.AttnShape{Batch: 2, Q: 33, KV: 33, KVStride: 33, Heads: 4, KVHeads: 2, HeadDim: 64}, false},
		{"t70 d128 segments", backend.AttnShape{Batch: 1, Q: 70, KV: 70, KVStride: 70, Heads: 2, KVHeads: 1, HeadDim: 128}, true},
		{"t7 cache d72 gqa4", backend.AttnShape{Batch: 2, Q: 7, KV: 50, KVStride: 53, Heads: 8, KVHeads: 2, HeadDim: 72, QStart: 43}, false},
		{"t20 cache d128 gqa7", backend.AttnShape{Batch: 1, Q: 20, KV: 90, KVStride: 96, Heads: 7, KVHeads: 1, HeadDim: 128, QStart: 70}, false},
	}
	for i, c := range cases {
		s := c.s
		rng := rand.New(rand.NewPCG(11, uint64(i)))
		nq, nk, nl := s.Batch*s.Q*s.Heads*s.HeadDim, s.Batch*s.KVStride*s.KVHeads*s.HeadDim, s.Batch*s.Heads*s.Q
		q, k, v, dy := roundedCopy(randn(rng, nq, 1)), roundedCopy(randn(rng, nk, 1)), roundedCopy(randn(rng, nk, 1)),
			roundedCopy(randn(rng, nq, 1))
		mask := attnTestMask(rng, s, c.segments)

		nan := func(alloc func(int) backend.Buffer, n int) backend.Buffer {
			x, poison := alloc(n), make([]float32, n)
			for i := range poison {
				poison[i] = float32(math.NaN())
			}
			g.Upload(x, poison)
			return x
		}
		up := func(v []float32) backend.Buffer { return upload(g, g.AllocActivation(len(v)), v) }
		qb, kb, vb, dyb := up(q), up(k), up(v), up(dy)
		out, lse := nan(g.AllocActivation, nq), nan(g.Alloc, nl)
		g.Attention(out, lse, qb, kb, vb, mask, s)
		dq, dk, dv := nan(g.AllocActivation, nq), nan(g.AllocActivation, nk), nan(g.AllocActivation, nk)
		g.AttentionBackward(dq, dk, dv, dyb, qb, kb, vb, out, lse, mask, s)

		rup := func(v []float32) backend.Buffer { return upload2(ref, v) }
		rq, rk, rv := rup(q), rup(k), rup(v)
		rout, rlse := ref.Alloc(nq), ref.Alloc(nl)
		ref.Attention(rout, rlse, rq, rk, rv, mask, s)
		rdq, rdk, rdv := ref.Alloc(nq), ref.Alloc(nk), ref.Alloc(nk)
		ref.AttentionBackward(rdq, rdk, rdv, rup(dy), rq, rk, rv, rout, rlse, mask, s)

		for _, r := range []struct {
			name      string
			got, want backend.Buffer
			n         int
			tol       float64
		}{
			{"out", out, rout, nq, attentionBF16.Out}, {"lse", lse, rlse, nl, attentionBF16.LSE},
			{"dq", dq, rdq, nq, attentionBF16.Grad}, {"dk", dk, rdk, nk, attentionBF16.Grad},
			{"dv", dv, rdv, nk, attentionBF16.Grad},
		} {
			got, want := make([]float32, r.n), make([]float32, r.n)
			g.Download(got, r.got)
			ref.Download(want, r.want)
			e := relError(got, want)
			t.Logf("%s %s: max|got-want|/max|want| = %.3g", c.name, r.name, e)
			if !(e <= r.tol) {
				t.Errorf("%s %s: relative error %.3g exceeds %.3g", c.name, r.name, e, r.tol)
			}
		}
		for _, x := range []backend.Buffer{qb, kb, vb, dyb, out, lse, dq, dk, dv} {
			g.Free(x)
		}
	}
}

func upload2(b backend.Memory, v []float32) backend.Buffer {
	x := b.Alloc(len(v))
	b.Upload(x, v)
	return x
}

// attnTestMask draws a key mask for s: padding holes (a quarter of the
// keys, key 0 of row 1 among them, so that its early queries see no key),
// or three packed segments per row followed by two padding tokens.
func attnTestMask(rng *rand.Rand, s backend.AttnShape, segments bool) []int32 {
	mask := make([]int32, s.Batch*s.KVStride)
	for b := 0; b < s.Batch; b++ {
		row := mask[b*s.KVStride : (b+1)*s.KVStride]
		for j := range row {
			switch {
			case segments && j < s.KV-2:
				row[j] = int32(1 + j*3/(s.KV-2))
			case !segments && rng.IntN(4) > 0:
				row[j] = 1
			}
		}
	}
	if s.Batch > 1 && !segments {
		mask[s.KVStride] = 0
	}
	return mask
}
