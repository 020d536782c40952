package conformance

import (
	"math/rand/v2"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
)

// attn returns a harness for the attention checks with their own random
// stream, so that they leave the other checks' draws alone.
func (h *harness) attn() *harness {
	return &harness{t: h.t, b: h.b, rng: rand.New(rand.NewPCG(2024, 12)), act: h.act}
}

type attnCase struct {
	name           string
	s              backend.AttnShape
	mask, segments bool
}

// attnForwardCases cover one token, prefill and decoding with a cache
// (Q < KV, QStart > 0), groups of 1 to 7 query heads per kv head, padding
// and packed segments, head dims that are not multiples of 32 and the
// GPU's tensor-core 64 and 128, and sequences longer than one tile of a
// GPU kernel (16 or 64 queries, 32 keys) in both directions.
var attnForwardCases = []attnCase{
	{"one token", backend.AttnShape{Batch: 1, Q: 1, KV: 1, KVStride: 1, Heads: 1, KVHeads: 1, HeadDim: 2}, false, false},
	{"prefill gqa2", backend.AttnShape{Batch: 2, Q: 12, KV: 12, KVStride: 12, Heads: 4, KVHeads: 2, HeadDim: 16}, true, false},
	{"prefill gqa3 odd", backend.AttnShape{Batch: 3, Q: 17, KV: 17, KVStride: 17, Heads: 6, KVHeads: 2, HeadDim: 10}, true, false},
	{"decode with cache", backend.AttnShape{Batch: 2, Q: 1, KV: 9, KVStride: 21, Heads: 7, KVHeads: 7, HeadDim: 6, QStart: 8}, true, false},
	{"chunk after prefix", backend.AttnShape{Batch: 1, Q: 5, KV: 38, KVStride: 40, Heads: 4, KVHeads: 1, HeadDim: 64, QStart: 33}, false, false},
	{"packed segments", backend.AttnShape{Batch: 2, Q: 15, KV: 15, KVStride: 15, Heads: 4, KVHeads: 2, HeadDim: 6}, true, true},
	{"t7 d128 gqa2", backend.AttnShape{Batch: 2, Q: 7, KV: 7, KVStride: 7, Heads: 2, KVHeads: 1, HeadDim: 128}, true, false},
	{"t33 d64 gqa2", backend.AttnShape{Batch: 1, Q: 33, KV: 33, KVStride: 33, Heads: 4, KVHeads: 2, HeadDim: 64}, true, false},
	{"t70 d128 segments", backend.AttnShape{Batch: 1, Q: 70, KV: 70, KVStride: 70, Heads: 2, KVHeads: 1, HeadDim: 128}, true, true},
	{"t45 d72 cache", backend.AttnShape{Batch: 2, Q: 45, KV: 79, KVStride: 83, Heads: 4, KVHeads: 2, HeadDim: 72, QStart: 34}, true, false},
	{"t20 d128 cache gqa7", backend.AttnShape{Batch: 1, Q: 20, KV: 90, KVStride: 96, Heads: 7, KVHeads: 1, HeadDim: 128, QStart: 70}, true, false},
}

// attnGradCases are checked against central differences of the float64
// oracle (each costs a forward per element, so they stay small);
// attnGradLargeCases, in the shapes that take several tiles of a GPU
// kernel, against the CPU backend's AttentionBackward, which the small
// cases check the same way.
var attnGradCases = []attnCase{
	{"one token", backend.AttnShape{Batch: 1, Q: 1, KV: 1, KVStride: 1, Heads: 1, KVHeads: 1, HeadDim: 2}, false, false},
	{"gqa2 padded", backend.AttnShape{Batch: 2, Q: 7, KV: 7, KVStride: 7, Heads: 4, KVHeads: 2, HeadDim: 6}, true, false},
	{"gqa3 odd", backend.AttnShape{Batch: 1, Q: 5, KV: 5, KVStride: 5, Heads: 6, KVHeads: 2, HeadDim: 3}, false, false},
	{"packed segments", backend.AttnShape{Batch: 2, Q: 9, KV: 9, KVStride: 9, Heads: 2, KVHeads: 1, HeadDim: 4}, true, true},
	{"cache past stride", backend.AttnShape{Batch: 2, Q: 3, KV: 8, KVStride: 10, Heads: 4, KVHeads: 2, HeadDim: 5, QStart: 5}, true, false},
}

var attnGradLargeCases = []attnCase{
	{"t33 d64 gqa2 padded", backend.AttnShape{Batch: 1, Q: 33, KV: 33, KVStride: 33, Heads: 4, KVHeads: 2, HeadDim: 64}, true, false},
	{"t70 d128 segments", backend.AttnShape{Batch: 1, Q: 70, KV: 70, KVStride: 70, Heads: 2, KVHeads: 1, HeadDim: 128}, true, true},
	{"t7 cache d72 gqa4", backend.AttnShape{Batch: 2, Q: 7, KV: 50, KVStride: 53, Heads: 8, KVHeads: 2, HeadDim: 72, QStart: 43}, true, false},
	{"t40 d16 segments", backend.AttnShape{Batch: 2, Q: 40, KV: 40, KVStride: 40, Heads: 2, KVHeads: 2, HeadDim: 16}, true, true},
	{"t20 d128 cache gqa7", backend.AttnShape{Batch: 1, Q: 20, KV: 90, KVStride: 96, Heads: 7, KVHeads: 1, HeadDim: 128, QStart: 70}, true, false},
}

// attnInputs draws q, k, v and the mask of case c, and places q, k and v
// in activation buffers; it returns the buffers and the values they hold.
func (h *harness) attnInputs(c attnCase) (qb, kb, vb backend.Buffer, q, k, v []float64, mask []int32) {
	s := c.s
	qb, q = h.actInput(h.randn(s.Batch*s.Q*s.Heads*s.HeadDim, 1))
	kb, k = h.actInput(h.randn(s.Batch*s.KVStride*s.KVHeads*s.HeadDim, 1))
	vb, v = h.actInput(h.randn(s.Batch*s.KVStride*s.KVHeads*s.HeadDim, 1))
	if c.mask {
		mask = h.attnMask(s, c.segments)
	}
	return qb, kb, vb, q, k, v, mask
}

// attention checks out and lse (float32 always) against the oracle, and
// that leaving lse out changes nothing else.
func (h *harness) attention(f attentionOp, tol Tol) {
	for _, c := range attnForwardCases {
		s := c.s
		qb, kb, vb, q, k, v, mask := h.attnInputs(c)
		out, lse := h.actOutput(s.Batch*s.Q*s.Heads*s.HeadDim), h.output(s.Batch*s.Heads*s.Q)
		f.Attention(out.view, lse.view, qb, kb, vb, mask, s)
		wantOut, wantLSE := refAttentionLSE(q, k, v, mask, s)
		got := h.actRead("Attention", out)
		check(h.t, "Attention", c.name, got, wantOut, tol)
		check(h.t, "Attention lse", c.name, h.read("Attention lse", lse), wantLSE, tol)
		bare := h.actOutput(len(got))
		f.Attention(bare.view, nil, qb, kb, vb, mask, s)
		check(h.t, "Attention without lse", c.name, h.actRead("Attention", bare), widen(got), Tol{})
	}
}

// attentionBackward checks the gradients with out and lse from the oracle
// (out in activation storage, lse float32), and, when b also has
// Attention, that the gradients from its own forward's saved lse are
// exactly those it computes when asked to recompute lse. The small cases
// are checked against central differences of the oracle, the large ones
// against backend/cpu (on the values the buffers hold).
func (h *harness) attentionBackward(g attentionBackwardOp, tol Tol) {
	f, _ := h.b.(attentionOp)
	if !backend.Supports(h.b, backend.OpAttention) {
		f = nil
	}
	ref := cpu.New(0)
	run := func(c attnCase, large bool) {
		s := c.s
		nq, nk := s.Batch*s.Q*s.Heads*s.HeadDim, s.Batch*s.KVStride*s.KVHeads*s.HeadDim
		qb, kb, vb, qw, kw, vw, mask := h.attnInputs(c)
		dyb, gw := h.actInput(h.randn(nq, 1))
		o64, l64 := refAttentionLSE(qw, kw, vw, mask, s)
		ob, ow := h.actInput(narrow(o64))
		lb := h.input(narrow(l64))
		dq, dk, dv := h.actOutput(nq), h.actOutput(nk), h.actOutput(nk)
		g.AttentionBackward(dq.view, dk.view, dv.view, dyb, qb, kb, vb, ob, lb, mask, s)
		var wq, wk, wv []float64
		if large {
			up := func(v []float64) backend.Buffer { return upload(ref, narrow(v)) }
			rdq, rdk, rdv := ref.Alloc(nq), ref.Alloc(nk), ref.Alloc(nk)
			ref.AttentionBackward(rdq, rdk, rdv, up(gw), up(qw), up(kw), up(vw), up(ow), up(l64), mask, s)
			wq, wk, wv = widen(download(ref, rdq, nq)), widen(download(ref, rdk, nk)), widen(download(ref, rdv, nk))
		} else {
			loss := func() float64 { return dotf(gw, refAttention(qw, kw, vw, mask, s)) }
			wq, wk, wv = fdGrad(qw, loss), fdGrad(kw, loss), fdGrad(vw, loss)
		}
		want := [][]float64{wq, wk, wv}
		for i, r := range []guarded{dq, dk, dv} {
			name := "AttentionBackward " + []string{"dq", "dk", "dv"}[i]
			check(h.t, name, c.name, h.actRead(name, r), want[i], tol)
		}
		if f == nil {
			return
		}
		out, lse := h.actOutput(nq), h.output(s.Batch*s.Heads*s.Q)
		f.Attention(out.view, lse.view, qb, kb, vb, mask, s)
		var grads [2][3][]float32
		for i, l := range []backend.Buffer{lse.view, nil} {
			dq, dk, dv := h.actOutput(nq), h.actOutput(nk), h.actOutput(nk)
			g.AttentionBackward(dq.view, dk.view, dv.view, dyb, qb, kb, vb, out.view, l, mask, s)
			for j, r := range []guarded{dq, dk, dv} {
				grads[i][j] = h.actRead("AttentionBackward", r)
			}
		}
		for j, name := range []string{"dq", "dk", "dv"} {
			check(h.t, "AttentionBackward "+name+" from its forward", c.name, grads[0][j], want[j], tol)
			check(h.t, "AttentionBackward "+name+" recomputing lse", c.name, grads[1][j], widen(grads[0][j]), Tol{})
		}
	}
	for _, c := range attnGradCases {
		run(c, false)
	}
	for _, c := range attnGradLargeCases {
		run(c, true)
	}
}

// narrow rounds v to float32.
func narrow(v []float64) []float32 {
	n := make([]float32, len(v))
	for i, x := range v {
		n[i] = float32(x)
	}
	return n
}

// attnMask draws a key mask: random padding holes (with a hole at key 0
// of row 1, so early queries there see no key), or, with segments, rows of
// three packed sequences followed by padding.
func (h *harness) attnMask(s backend.AttnShape, segments bool) []int32 {
	mask := make([]int32, s.Batch*s.KVStride)
	if segments {
		for b := 0; b < s.Batch; b++ {
			row := mask[b*s.KVStride : (b+1)*s.KVStride]
			for j := range row[:s.KV-2] {
				row[j] = int32(1 + j*3/(s.KV-2))
			}
		}
		return mask
	}
	for i := range mask {
		mask[i] = 1
		if h.rng.IntN(4) == 0 {
			mask[i] = 0
		}
	}
	if s.Batch > 1 {
		mask[s.KVStride] = 0
	}
	mask[0] = 1
	return mask
}
