package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tune-dev/tune/backend"
)

// TestAdamWRoundsEveryOperation checks AdamW bit for bit against its rule
// with every float32 operation rounded on its own, as PyTorch computes it
// and as the CUDA kernel does, on elements where a fused multiply-add
// (x*y + z rounded once) gives another m or v. Go may fuse x*y + z on
// arm64 and with GOAMD64=v3 unless an explicit conversion rounds the
// product; a fused build fails here (GOAMD64=v3 go test ./backend/cpu).
func TestAdamWRoundsEveryOperation(t *testing.T) {
	// Each operation in float64, then rounded: exact for products, and
	// correctly rounded for sums, quotients and square roots, since float64
	// has more than 2·24+2 bits.
	mul := func(a, b float32) float32 { return float32(float64(a) * float64(b)) }
	add := func(a, b float32) float32 { return float32(float64(a) + float64(b)) }
	div := func(a, b float32) float32 { return float32(float64(a) / float64(b)) }
	fma := func(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }

	s := backend.AdamWStep{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 3, GradScale: 0.7}
	b1, b2, c1, c2 := float32(s.Beta1), float32(s.Beta2), float32(1-s.Beta1), float32(1-s.Beta2)
	decay := float32(1 - s.LR*s.WeightDecay)
	stepSize := float32(s.LR / (1 - math.Pow(s.Beta1, float64(s.Step))))
	bc2 := float32(math.Sqrt(1 - math.Pow(s.Beta2, float64(s.Step))))
	eps := float32(s.Eps)

	// Draw elements until n of them tell every fused form from the
	// rounded one, for m and for v.
	const n = 64
	rng := rand.New(rand.NewPCG(8, 9))
	var p, g, m, v, wantP, wantM, wantV []float32
	for len(p) < n {
		pi, gi, mi := float32(rng.NormFloat64()), float32(rng.NormFloat64()*0.1), float32(rng.NormFloat64()*0.05)
		vi := float32(rng.Float64() * 1e-2)
		gs := mul(gi, s.GradScale)
		m1 := add(mul(mi, b1), mul(gs, c1))
		v1 := add(mul(vi, b2), mul(mul(c2, gs), gs))
		if m1 == fma(mi, b1, mul(gs, c1)) || m1 == fma(gs, c1, mul(mi, b1)) ||
			v1 == fma(vi, b2, mul(mul(c2, gs), gs)) || v1 == fma(mul(c2, gs), gs, mul(vi, b2)) {
			continue
		}
		denom := add(div(float32(math.Sqrt(float64(v1))), bc2), eps)
		p1 := add(mul(pi, decay), div(mul(-stepSize, m1), denom))
		p, g, m, v = append(p, pi), append(g, gi), append(m, mi), append(v, vi)
		wantP, wantM, wantV = append(wantP, p1), append(wantM, m1), append(wantV, v1)
	}

	c := New(2)
	up := func(x []float32) backend.Buffer { b := c.Alloc(n); c.Upload(b, x); return b }
	pb, gb, mb, vb := up(p), up(g), up(m), up(v)
	c.AdamW(pb, gb, mb, vb, n, s)
	for _, r := range []struct {
		name string
		buf  backend.Buffer
		want []float32
	}{{"m", mb, wantM}, {"v", vb, wantV}, {"p", pb, wantP}} {
		got := make([]float32, n)
		c.Download(got, r.buf)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(r.want[i]) {
				t.Errorf("%s[%d] = %v, want %v (each operation rounded): a fused multiply-add?", r.name, i, got[i], r.want[i])
			}
		}
	}
}
