package quant

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPartSizesMatchQuantize checks PartSizes against the arrays Quantize
// really makes, including a short last block, an odd element count and
// more than one nested block.
func TestPartSizesMatchQuantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 63, 64, 65, 1001, 64*256 + 3} {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		for _, double := range []bool{false, true} {
			q, err := Quantize(w, []int{n}, 64, double)
			if err != nil {
				t.Fatal(err)
			}
			want := []int{len(q.Data), 4 * len(q.Absmax)}
			if double {
				d := q.Double
				want = []int{len(q.Data), len(d.QAbsmax), 4 * len(d.Absmax), 4 * len(d.Code)}
			}
			if got := PartSizes(n, 64, double); !slices.Equal(got, want) {
				t.Errorf("n=%d double=%v: PartSizes %v, Quantize made %v", n, double, got, want)
			}
		}
	}
}
