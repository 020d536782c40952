package lora_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/lora"
)

// randoms returns n values uniform in [-1, 1) from rng.
func randoms(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return v
}

// randomPair returns a pair with A and B both random (unlike New's zero B),
// so that the merged delta is non-trivial.
func randomPair(rng *rand.Rand, in, out, r int) *lora.Pair {
	return &lora.Pair{A: randoms(rng, r*in), B: randoms(rng, out*r), In: in, Out: out, R: r}
}

func TestShapePanics(t *testing.T) {
	p := &lora.Pair{A: make([]float32, 21), B: make([]float32, 15), In: 7, Out: 5, R: 3}
	a := &lora.Adapter{Config: lora.Config{R: 3, LoraAlpha: 3}, Pairs: map[int]map[string]*lora.Pair{0: {"q_proj": p}}}
	require.PanicsWithValue(t, "lora: Merge: w has 34 values, want [5 7] = 35", func() {
		a.Merge(make([]float32, 34), 0, "q_proj")
	})
	bad := &lora.Pair{A: make([]float32, 20), B: make([]float32, 15), In: 7, Out: 5, R: 3}
	a.Pairs[0]["q_proj"] = bad
	require.PanicsWithValue(t, "lora: Unmerge: A has 20 values, want [3 7] = 21", func() {
		a.Unmerge(make([]float32, 35), 0, "q_proj")
	})
}

func TestMergeUnmerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, rs := range []bool{false, true} {
		cfg := lora.Config{R: 3, LoraAlpha: 6, UseRSLoRA: rs, TargetModules: []string{"o_proj"}}
		p := randomPair(rng, 7, 5, 3)
		a := &lora.Adapter{Config: cfg, Pairs: map[int]map[string]*lora.Pair{1: {"o_proj": p}}}
		w := randoms(rng, 5*7)
		orig := append([]float32(nil), w...)

		require.False(t, a.Merge(w, 0, "o_proj"), "layer 0 is not adapted")
		require.False(t, a.Merge(w, 1, "q_proj"), "q_proj is not adapted")
		require.Equal(t, orig, w, "w untouched for a linear that is not adapted")

		require.True(t, a.Merge(w, 1, "o_proj"))
		s := cfg.Scaling()
		for o := range 5 {
			for i := range 7 {
				var d float64
				for k := range 3 {
					d += float64(p.B[o*3+k]) * float64(p.A[k*7+i])
				}
				// Expected: W + s·B·A in float64.
				require.InDelta(t, float64(orig[o*7+i])+s*d, float64(w[o*7+i]), 1e-6, "merged w[%d,%d]", o, i)
			}
		}

		require.True(t, a.Unmerge(w, 1, "o_proj"))
		require.InDeltaSlice(t, toF64(orig), toF64(w), 1e-6, "Unmerge restores w")
	}
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
