package backend_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
)

// splitmix64 restates the generator of DropoutMask's documentation; its
// first output for state 0 is the published 0xE220A8397B1DCDAF.
func splitmix64(z uint64) uint64 {
	z += 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func TestDropoutMask(t *testing.T) {
	require.Equal(t, uint64(0xE220A8397B1DCDAF), splitmix64(0), "SplitMix64 reference vector")
	const n = 100_000
	for _, c := range []struct {
		p    float64
		seed uint64
	}{{0, 1}, {0.05, 2}, {0.1, 3}, {0.3, 4}, {0.5, 5}, {0.9, 6}} {
		t.Run(fmt.Sprint(c.p), func(t *testing.T) {
			m := make([]float32, n)
			backend.DropoutMask(m, c.p, c.seed)
			again := make([]float32, n)
			backend.DropoutMask(again, c.p, c.seed)
			require.Equal(t, m, again, "same seed, same mask")

			keep := float32(1 / (1 - c.p))
			key := splitmix64(c.seed)
			zeros := 0
			for i, v := range m {
				// Expected value: the formula in DropoutMask's documentation.
				want := keep
				if u := splitmix64(key+uint64(i)) >> 40; u < uint64(math.Ceil(c.p*(1<<24))) {
					want = 0
				}
				require.Equal(t, want, v, "mask[%d]", i)
				if v == 0 {
					zeros++
				}
			}
			// Binomial(n, p): 5 standard deviations.
			sd := math.Sqrt(n * c.p * (1 - c.p))
			require.InDelta(t, c.p*n, float64(zeros), 5*sd+1, "dropped elements")
			if c.p == 0 {
				for i, v := range m {
					require.Equal(t, float32(1), v, "p = 0 keeps mask[%d] at 1", i)
				}
			}
		})
	}
	a, b := make([]float32, 1000), make([]float32, 1000)
	backend.DropoutMask(a, 0.5, 1)
	backend.DropoutMask(b, 0.5, 2)
	require.NotEqual(t, a, b, "different seeds, different masks")
	backend.DropoutMask(b[1:], 0.5, 2)
	require.NotEqual(t, a[1:], b[1:], "a neighbouring seed is not a shifted mask")
}

func TestDropoutMaskRejectsP(t *testing.T) {
	require.Panics(t, func() { backend.DropoutMask(make([]float32, 3), 1, 0) })
	require.Panics(t, func() { backend.DropoutMask(make([]float32, 3), -0.1, 0) })
}
