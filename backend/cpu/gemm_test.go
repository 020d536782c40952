package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmNN checks gemmNN's tiling (row blocks, column panels and k tiles
// larger than one tile, ragged edges) in both stride modes against a
// float64 triple loop, with the assembly tile and the portable one.
func TestGemmNN(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, asm := range []bool{true, false} {
		saved := useAsm
		useAsm = useAsm && asm
		for _, s := range []struct{ m, n, k int }{{1, 1, 1}, {4, 16, 1}, {37, 300, 290}, {5, 17, 129}, {64, 256, 128}, {3, 16, 0}} {
			for _, trans := range []bool{false, true} {
				for _, acc := range []bool{false, true} {
					// a is m×k (sa = k, sk = 1) or stored transposed, k×m (sa = 1, sk = m).
					a := make([]float32, s.m*s.k)
					b := make([]float32, s.k*s.n)
					c := make([]float32, s.m*s.n)
					for i := range a {
						a[i] = float32(rng.NormFloat64())
					}
					for i := range b {
						b[i] = float32(rng.NormFloat64())
					}
					for i := range c {
						c[i] = float32(rng.NormFloat64())
					}
					sa, sk := s.k, 1
					if trans {
						sa, sk = 1, s.m
					}
					want := make([]float64, len(c))
					for i := 0; i < s.m; i++ {
						for j := 0; j < s.n; j++ {
							var v float64
							if acc {
								v = float64(c[i*s.n+j])
							}
							for k := 0; k < s.k; k++ {
								v += float64(a[i*sa+k*sk]) * float64(b[k*s.n+j])
							}
							want[i*s.n+j] = v
						}
					}
					New(2).gemmNN(c, s.n, a, sa, sk, b, s.n, s.m, s.n, s.k, acc)
					name := fmt.Sprintf("asm=%v %dx%dx%d trans=%v acc=%v", asm, s.m, s.n, s.k, trans, acc)
					for i := range c {
						if d := math.Abs(float64(c[i]) - want[i]); d > 1e-5*math.Sqrt(float64(s.k)+1)*4 {
							t.Fatalf("%s: element %d = %v, want %v", name, i, c[i], want[i])
						}
					}
				}
			}
		}
		useAsm = saved
	}
}
