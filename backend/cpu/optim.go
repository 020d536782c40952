package cpu

import (
	"math"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
)

// SumSquares implements backend.Optimizer.
func (c *Backend) SumSquares(x backend.Buffer, n int) float64 {
	var s float64
	for _, v := range data(x, n, "SumSquares x") {
		s += float64(v) * float64(v)
	}
	return s
}

// AdamW implements backend.Optimizer with PyTorch's single-tensor AdamW
// arithmetic: every tensor op in float32, the Python-float scalars
// (bias corrections, step size) computed in float64 and rounded to float32
// where torch casts them. Each product that is added is converted to
// float32 explicitly: Go may otherwise fuse x*y + z into one multiply-add
// rounded once (on arm64, and on amd64 with GOAMD64=v3), which PyTorch
// and the CUDA kernel do not.
func (c *Backend) AdamW(p, g, m, v backend.Buffer, n int, s backend.AdamWStep) {
	ps := data(p, n, "AdamW p")
	gs := data(g, n, "AdamW g")
	ms := data(m, n, "AdamW m")
	vs := data(v, n, "AdamW v")
	decay := float32(1 - s.LR*s.WeightDecay)
	b1, b2 := float32(s.Beta1), float32(s.Beta2)
	c1, c2 := float32(1-s.Beta1), float32(1-s.Beta2)
	stepSize := float32(s.LR / (1 - math.Pow(s.Beta1, float64(s.Step))))
	bc2 := float32(math.Sqrt(1 - math.Pow(s.Beta2, float64(s.Step))))
	eps := float32(s.Eps)
	c.parallel(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gi := gs[i] * s.GradScale
			ps[i] *= decay
			ms[i] = float32(ms[i]*b1) + float32(gi*c1)
			vs[i] = float32(vs[i]*b2) + float32(c2*gi*gi) // addcmul: value*t1*t2, left to right
			denom := float32(math.Sqrt(float64(vs[i])))/bc2 + eps
			ps[i] += -stepSize * ms[i] / denom // addcdiv: value*t1/t2, left to right
		}
	})
}

// nf4buf is a packed NF4 weight kept in host memory.
type nf4buf struct{ q *quant.NF4 }

func (b *nf4buf) Len() int { return b.q.Len() }

// UploadNF4 implements backend.Quant: the CPU keeps the packed tensor as
// it is.
func (c *Backend) UploadNF4(q *quant.NF4) backend.Buffer { return &nf4buf{q: q} }

// Dequantize implements backend.Quant, in chunks of whole blocks per worker.
func (c *Backend) Dequantize(out, q backend.Buffer) {
	nq := q.(*nf4buf).q
	n := nq.Len()
	o := data(out, n, "Dequantize out")
	bs := nq.BlockSize
	blocks := (n + bs - 1) / bs
	c.parallel(blocks, func(lo, hi int) {
		nq.DequantizeRange(o[lo*bs:min(hi*bs, n)], lo*bs)
	})
}
