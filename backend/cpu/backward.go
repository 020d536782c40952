package cpu

import (
	"fmt"
	"math"

	"github.com/tune-dev/tune/backend"
)

// RMSNormBackward implements backend.Backward.
func (c *Backend) RMSNormBackward(dx, dy, x, w backend.Buffer, rows, dim int, eps float32) {
	d := data(dx, rows*dim, "RMSNormBackward dx")
	g := data(dy, rows*dim, "RMSNormBackward dy")
	xs := data(x, rows*dim, "RMSNormBackward x")
	ws := data(w, dim, "RMSNormBackward w")
	c.parallel(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, gr, dr := xs[r*dim:(r+1)*dim], g[r*dim:(r+1)*dim], d[r*dim:(r+1)*dim]
			var ss, gx float64
			for j, v := range xr {
				ss += float64(v) * float64(v)
				gx += float64(gr[j]) * float64(ws[j]) * float64(v)
			}
			inv := 1 / math.Sqrt(float64(float32(ss/float64(dim))+eps))
			k := float32(inv * inv * inv * gx / float64(dim))
			fi := float32(inv)
			for j, v := range xr {
				dr[j] = fi*(gr[j]*ws[j]) - v*k
			}
		}
	})
}

// scratch returns a reusable host slice of n elements (slot i), growing
// it as needed. Ops run one at a time on a backend, so slots are not shared
// between concurrent calls.
func (c *Backend) scratch(i, n int) []float32 {
	if cap(c.tmp[i]) < n {
		c.tmp[i] = make([]float32, n)
	}
	return c.tmp[i][:n]
}

// LinearBackward implements backend.Backward: dx = dy·w, with dy read in
// place and w row by row (gemmNN; no transposed copy).
func (c *Backend) LinearBackward(dx, dy, w backend.Buffer, rows, in, outDim int) {
	d := data(dx, rows*in, "LinearBackward dx")
	g := data(dy, rows*outDim, "LinearBackward dy")
	ws := data(w, outDim*in, "LinearBackward w")
	c.gemmNN(d, in, g, outDim, 1, ws, in, rows, in, outDim, false)
}

// LinearWeightGrad implements backend.Backward: dw += dyᵀ·x, reading dy
// column-wise in place (gemmNN with a = dyᵀ).
func (c *Backend) LinearWeightGrad(dw, dy, x backend.Buffer, rows, in, outDim int) {
	d := data(dw, outDim*in, "LinearWeightGrad dw")
	g := data(dy, rows*outDim, "LinearWeightGrad dy")
	xs := data(x, rows*in, "LinearWeightGrad x")
	c.gemmNN(d, in, g, 1, outDim, xs, in, outDim, in, rows, true)
}

// RoPEBackward implements backend.Backward.
func (c *Backend) RoPEBackward(dx backend.Buffer, pos []int32, rows, heads int, invFreq []float32) {
	c.rope(dx, pos, rows, heads, invFreq, -1)
}

// AttentionBackward implements backend.Backward. Work is split by (batch
// row, kv head), so the query heads that share a kv head accumulate into
// dk and dv without races. The probabilities are recomputed exactly as the
// forward computed them (max, exponentials, sum), so out and lse are only
// checked, not read: Σ_j p_j·dp_j stands for rowsum(dout ⊙ out).
func (c *Backend) AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse backend.Buffer, keyMask []int32, s backend.AttnShape) {
	checkAttn(s, keyMask)
	qd, kd := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	dqs := data(dq, s.Batch*s.Q*qd, "AttentionBackward dq")
	dks := data(dk, s.Batch*s.KVStride*kd, "AttentionBackward dk")
	dvs := data(dv, s.Batch*s.KVStride*kd, "AttentionBackward dv")
	dos := data(dout, s.Batch*s.Q*qd, "AttentionBackward dout")
	qs := data(q, s.Batch*s.Q*qd, "AttentionBackward q")
	ks := data(k, s.Batch*s.KVStride*kd, "AttentionBackward k")
	vs := data(v, s.Batch*s.KVStride*kd, "AttentionBackward v")
	data(out, s.Batch*s.Q*qd, "AttentionBackward out")
	if lse != nil {
		data(lse, s.Batch*s.Heads*s.Q, "AttentionBackward lse")
	}
	rep := s.Heads / s.KVHeads
	hd := s.HeadDim
	scale := float32(1 / math.Sqrt(float64(hd)))
	c.parallel(s.Batch*s.KVHeads, func(lo, hi int) {
		p := make([]float32, s.KV)
		dp := make([]float32, s.KV)
		for bk := lo; bk < hi; bk++ {
			b, kh := bk/s.KVHeads, bk%s.KVHeads
			kvRow := func(buf []float32, j int) []float32 {
				at := (b*s.KVStride+j)*kd + kh*hd
				return buf[at : at+hd]
			}
			for j := 0; j < s.KVStride; j++ {
				clear(kvRow(dks, j))
				clear(kvRow(dvs, j))
			}
			for h := kh * rep; h < (kh+1)*rep; h++ {
				for i := 0; i < s.Q; i++ {
					at := (b*s.Q+i)*qd + h*hd
					qv, do, dqv := qs[at:at+hd], dos[at:at+hd], dqs[at:at+hd]
					clear(dqv)
					last := min(s.QStart+i, s.KV-1)
					if _, ok := attnProbs(p, qv, ks, keyMask, s, b, kh, s.QStart+i, last, scale); !ok {
						continue
					}
					var sum float32
					for j := 0; j <= last; j++ {
						if p[j] == 0 {
							dp[j] = 0
							continue
						}
						axpy(p[j], do, kvRow(dvs, j))
						dp[j] = dot(do, kvRow(vs, j))
						sum += p[j] * dp[j]
					}
					for j := 0; j <= last; j++ {
						if p[j] == 0 {
							continue
						}
						ds := p[j] * (dp[j] - sum) * scale
						axpy(ds, kvRow(ks, j), dqv)
						axpy(ds, qv, kvRow(dks, j))
					}
				}
			}
		}
	})
}

// SiLUMulBackward implements backend.Backward.
func (c *Backend) SiLUMulBackward(dgate, dup, dy, gate, up backend.Buffer, n int) {
	dg := data(dgate, n, "SiLUMulBackward dgate")
	du := data(dup, n, "SiLUMulBackward dup")
	g := data(dy, n, "SiLUMulBackward dy")
	gs := data(gate, n, "SiLUMulBackward gate")
	us := data(up, n, "SiLUMulBackward up")
	c.parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := gs[i]
			sig := 1 / (1 + float32(math.Exp(float64(-x))))
			d := g[i]
			du[i] = d * x * sig
			dg[i] = d * us[i] * sig * (1 + x*(1-sig))
		}
	})
}

// CrossEntropyBackward implements backend.Backward.
func (c *Backend) CrossEntropyBackward(dlogits, logits backend.Buffer, targets []int32, rows, vocab int, scale float32) {
	d := data(dlogits, rows*vocab, "CrossEntropyBackward dlogits")
	l := data(logits, rows*vocab, "CrossEntropyBackward logits")
	if len(targets) < rows {
		panic(fmt.Sprintf("cpu: CrossEntropyBackward has %d targets for %d rows", len(targets), rows))
	}
	c.parallel(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row, dr := l[r*vocab:(r+1)*vocab], d[r*vocab:(r+1)*vocab]
			t := targets[r]
			if t == backend.IgnoreIndex {
				clear(dr)
				continue
			}
			if t < 0 || int(t) >= vocab {
				panic(fmt.Sprintf("cpu: CrossEntropyBackward target %d at row %d outside vocab [0, %d)", t, r, vocab))
			}
			mx := row[0]
			for _, v := range row {
				mx = max(mx, v)
			}
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v - mx))
			}
			k := float64(scale) / sum
			for j, v := range row {
				dr[j] = float32(math.Exp(float64(v-mx)) * k)
			}
			dr[t] -= scale
		}
	})
}

// Dropout implements backend.Backward.
func (c *Backend) Dropout(out, x backend.Buffer, p float32, seed uint64, n int) {
	o := data(out, n, "Dropout out")
	xs := data(x, n, "Dropout x")
	mask := c.scratch(0, n)
	backend.DropoutMask(mask, float64(p), seed)
	for i := range o {
		o[i] = xs[i] * mask[i]
	}
}
