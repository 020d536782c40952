package lora_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
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
// so that every gradient is non-trivial.
func randomPair(rng *rand.Rand, in, out, r int) *lora.Pair {
	return &lora.Pair{A: randoms(rng, r*in), B: randoms(rng, out*r), In: in, Out: out, R: r}
}

var mathShapes = []struct {
	rows, in, out, r int
	dropout          float64
}{
	{1, 7, 5, 3, 0},
	{1, 7, 5, 3, 0.3},
	{4, 3, 6, 2, 0},
	{4, 3, 6, 2, 0.5},
	{3, 16, 9, 1, 0.1},
}

func maskFor(rows, in int, p float64, seed uint64) []float32 {
	if p == 0 {
		return nil
	}
	m := make([]float32, rows*in)
	backend.DropoutMask(m, p, seed)
	return m
}

// TestForwardReference checks Forward against an independent float64
// computation: the effective weight ΔW = scale·B·A [Out, In], then
// y0 + (x⊙mask)·ΔWᵀ, summed in a different order than Forward's.
func TestForwardReference(t *testing.T) {
	for _, c := range mathShapes {
		t.Run(fmt.Sprintf("%dx%d→%d r%d p%v", c.rows, c.in, c.out, c.r, c.dropout), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			p := randomPair(rng, c.in, c.out, c.r)
			x := randoms(rng, c.rows*c.in)
			y := randoms(rng, c.rows*c.out) // Forward adds to what y holds
			mask := maskFor(c.rows, c.in, c.dropout, 7)
			const scale = 1.75
			want := make([]float64, len(y))
			for o := range c.out {
				for i := range c.in {
					var dw float64
					for k := range c.r {
						dw += float64(p.B[o*c.r+k]) * float64(p.A[k*c.in+i])
					}
					dw *= scale
					for row := range c.rows {
						xi := float64(x[row*c.in+i])
						if mask != nil {
							xi *= float64(mask[row*c.in+i])
						}
						want[row*c.out+o] += xi * dw
					}
				}
			}
			for j := range want {
				want[j] += float64(y[j])
			}
			p.Forward(y, x, c.rows, scale, mask)
			for j := range y {
				require.InDelta(t, want[j], float64(y[j]), 1e-5, "y[%d]", j)
			}
		})
	}
}

// TestBackwardFiniteDifferences checks Backward against float64 central
// differences of the scalar loss L = Σ G⊙y, y = Forward(x; A, B), over
// every element of A, B and x. y is linear in each of A, B and x, so the
// central difference has no truncation error and a large step can be used;
// the step is measured as the float32 difference actually applied.
func TestBackwardFiniteDifferences(t *testing.T) {
	for _, c := range mathShapes {
		t.Run(fmt.Sprintf("%dx%d→%d r%d p%v", c.rows, c.in, c.out, c.r, c.dropout), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			p := randomPair(rng, c.in, c.out, c.r)
			x := randoms(rng, c.rows*c.in)
			g := randoms(rng, c.rows*c.out)
			mask := maskFor(c.rows, c.in, c.dropout, 11)
			const scale = 0.8
			loss := func() float64 {
				y := make([]float32, c.rows*c.out)
				p.Forward(y, x, c.rows, scale, mask)
				var l float64
				for j := range y {
					l += float64(g[j]) * float64(y[j])
				}
				return l
			}
			// Backward accumulates: start the gradients at 1 and subtract.
			gA, gB, dx := ones(len(p.A)), ones(len(p.B)), ones(len(x))
			p.Backward(dx, gA, gB, g, x, c.rows, scale, mask)
			for _, v := range []struct {
				name  string
				param []float32
				grad  []float32
			}{{"A", p.A, gA}, {"B", p.B, gB}, {"x", x, dx}} {
				for j := range v.param {
					orig := v.param[j]
					v.param[j] = orig + 0.5
					hi, up := loss(), v.param[j]
					v.param[j] = orig - 0.5
					lo, down := loss(), v.param[j]
					v.param[j] = orig
					fd := (hi - lo) / float64(up-down)
					an := float64(v.grad[j]) - 1
					require.InDelta(t, fd, an, 1e-5*(1+math.Abs(fd)), "d loss / d %s[%d]", v.name, j)
				}
			}
			// A dropped input element gets no gradient.
			for j, m := range mask {
				if m == 0 {
					require.Equal(t, float32(1), dx[j], "dx[%d] of a dropped element", j)
				}
			}
		})
	}
}

func ones(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

func TestBackwardWithoutDX(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := randomPair(rng, 7, 5, 3)
	x, dy := randoms(rng, 2*7), randoms(rng, 2*5)
	gA1, gB1 := make([]float32, 21), make([]float32, 15)
	gA2, gB2 := make([]float32, 21), make([]float32, 15)
	p.Backward(nil, gA1, gB1, dy, x, 2, 1.5, nil)
	p.Backward(make([]float32, 14), gA2, gB2, dy, x, 2, 1.5, nil)
	require.Equal(t, gA2, gA1, "skipping dx leaves gA unchanged")
	require.Equal(t, gB2, gB1, "skipping dx leaves gB unchanged")
}

func TestShapePanics(t *testing.T) {
	p := &lora.Pair{A: make([]float32, 21), B: make([]float32, 15), In: 7, Out: 5, R: 3}
	require.PanicsWithValue(t, "lora: Forward: x has 13 values, want [2 7] = 14", func() {
		p.Forward(make([]float32, 10), make([]float32, 13), 2, 1, nil)
	})
	require.PanicsWithValue(t, "lora: Backward: gB has 14 values, want [5 3] = 15", func() {
		p.Backward(nil, make([]float32, 21), make([]float32, 14), make([]float32, 10), make([]float32, 14), 2, 1, nil)
	})
	require.PanicsWithValue(t, "lora: Forward: mask has 7 values, want [2 7] = 14", func() {
		p.Forward(make([]float32, 10), make([]float32, 14), 2, 1, make([]float32, 7))
	})
	bad := &lora.Pair{A: make([]float32, 20), B: make([]float32, 15), In: 7, Out: 5, R: 3}
	require.PanicsWithValue(t, "lora: Forward: A has 20 values, want [3 7] = 21", func() {
		bad.Forward(make([]float32, 5), make([]float32, 7), 1, 1, nil)
	})
	a := &lora.Adapter{Config: lora.Config{R: 3, LoraAlpha: 3}, Pairs: map[int]map[string]*lora.Pair{0: {"q_proj": p}}}
	require.PanicsWithValue(t, "lora: Merge: w has 34 values, want [5 7] = 35", func() {
		a.Merge(make([]float32, 34), 0, "q_proj")
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
		// The merged weight gives what the unmerged linear plus Forward does.
		x := randoms(rng, 2*7)
		merged, plain := linear(x, w, 2, 7, 5), linear(x, orig, 2, 7, 5)
		p.Forward(plain, x, 2, float32(s), nil)
		require.InDeltaSlice(t, toF64(plain), toF64(merged), 1e-5)

		require.True(t, a.Unmerge(w, 1, "o_proj"))
		require.InDeltaSlice(t, toF64(orig), toF64(w), 1e-6, "Unmerge restores w")
	}
}

// linear returns x·wᵀ for x [rows, in], w [out, in].
func linear(x, w []float32, rows, in, out int) []float32 {
	y := make([]float32, rows*out)
	for r := range rows {
		for o := range out {
			for i := range in {
				y[r*out+o] += x[r*in+i] * w[o*in+i]
			}
		}
	}
	return y
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestLinearWhole checks the whole adapted layer: Linear equals the merged
// weight's plain product (plus bias), and LinearBackward's input gradient
// matches central differences of Linear through both the frozen weight and
// the adapter (the loss is linear in x, so the differences are exact up to
// float32 rounding).
func TestLinearWhole(t *testing.T) {
	for _, c := range mathShapes {
		t.Run(fmt.Sprintf("%dx%d→%d r%d p%v", c.rows, c.in, c.out, c.r, c.dropout), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(8, 9))
			p := randomPair(rng, c.in, c.out, c.r)
			x, w, bias := randoms(rng, c.rows*c.in), randoms(rng, c.out*c.in), randoms(rng, c.out)
			g := randoms(rng, c.rows*c.out)
			mask := maskFor(c.rows, c.in, c.dropout, 5)
			const scale = 1.5
			y := make([]float32, c.rows*c.out)
			p.Linear(y, x, w, bias, c.rows, scale, mask)
			if mask == nil {
				a := &lora.Adapter{Config: lora.Config{R: c.r, LoraAlpha: scale * float64(c.r)}, Pairs: map[int]map[string]*lora.Pair{0: {"q_proj": p}}}
				merged := append([]float32(nil), w...)
				require.True(t, a.Merge(merged, 0, "q_proj"))
				for r := 0; r < c.rows; r++ {
					for o := 0; o < c.out; o++ {
						var s float64
						for i := 0; i < c.in; i++ {
							s += float64(x[r*c.in+i]) * float64(merged[o*c.in+i])
						}
						require.InDelta(t, s+float64(bias[o]), float64(y[r*c.out+o]), 1e-5, "y[%d,%d] against the merged weight", r, o)
					}
				}
			}
			loss := func() float64 {
				y := make([]float32, c.rows*c.out)
				p.Linear(y, x, w, bias, c.rows, scale, mask)
				var l float64
				for j := range y {
					l += float64(g[j]) * float64(y[j])
				}
				return l
			}
			dx := make([]float32, len(x))
			p.LinearBackward(dx, make([]float32, len(p.A)), make([]float32, len(p.B)), g, x, w, c.rows, scale, mask)
			for j := range x {
				orig := x[j]
				x[j] = orig + 0.5
				hi, up := loss(), x[j]
				x[j] = orig - 0.5
				lo, down := loss(), x[j]
				x[j] = orig
				fd := (hi - lo) / float64(up-down)
				require.InDelta(t, fd, float64(dx[j]), 1e-5*(1+math.Abs(fd)), "d loss / d x[%d]", j)
			}
		})
	}
}
