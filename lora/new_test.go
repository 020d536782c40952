package lora_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/safetensors"
)

// tinyShape is qwen2-tiny's linear shapes (hidden 64, kv 32, inter. 176).
var tinyShape = shapes(64, 32, 176)

func TestNew(t *testing.T) {
	cfg := lora.Config{R: 8, LoraAlpha: 16, TargetModules: []string{"v_proj", "q_proj", "down_proj"}}
	a, err := lora.New("fresh", cfg, 3, tinyShape, 42)
	require.NoError(t, err)
	require.Equal(t, "fresh", a.Name)
	require.Equal(t, []string{"down_proj", "q_proj", "v_proj"}, a.Config.TargetModules, "sorted, as LoadConfig keeps them")
	require.Equal(t, []string{"v_proj", "q_proj", "down_proj"}, cfg.TargetModules, "the caller's slice is not reordered")
	require.Equal(t, "LORA", a.Config.PeftType)
	require.Equal(t, "CAUSAL_LM", a.Config.TaskType)
	require.Equal(t, "none", a.Config.Bias)
	require.Len(t, a.Pairs, 3)
	for l := range 3 {
		require.Len(t, a.Pairs[l], 3, "layer %d", l)
		for _, m := range []string{"q_proj", "v_proj", "down_proj"} {
			p, ok := a.Pair(l, m)
			require.True(t, ok, "layer %d %s", l, m)
			in, out := tinyShape(m)
			require.Equal(t, [3]int{in, out, 8}, [3]int{p.In, p.Out, p.R})
			require.Len(t, p.A, 8*in)
			require.Equal(t, make([]float32, out*8), p.B, "B starts at zero")
			// PEFT's kaiming_uniform_(a=√5) bound on A [r, in]: gain
			// √(2/(1+5)) times √3/√fan_in = 1/√in.
			bound := float32(1 / math.Sqrt(float64(in)))
			lo, hi, sum := float32(0), float32(0), 0.0
			for _, v := range p.A {
				require.True(t, -bound <= v && v < bound, "A value %v outside [-%v, %v)", v, bound, bound)
				lo, hi, sum = min(lo, v), max(hi, v), sum+float64(v)
			}
			// 512 or more uniform draws: the extremes come within 2% of the
			// bound and the mean within 5 standard errors of 0.
			require.Less(t, float64(lo), -0.98*float64(bound))
			require.Greater(t, float64(hi), 0.98*float64(bound))
			n := float64(len(p.A))
			require.InDelta(t, 0, sum/n, 5*float64(bound)/math.Sqrt(3*n))
		}
	}
	_, ok := a.Pair(0, "k_proj")
	require.False(t, ok, "k_proj is not targeted")
}

// factorBytes is every factor of a, in layer and Modules order, as F32 bytes.
func factorBytes(a *lora.Adapter) []byte {
	var b []byte
	for l := range len(a.Pairs) {
		for _, m := range lora.Modules {
			if p, ok := a.Pair(l, m.Name); ok {
				b = append(b, safetensors.EncodeF32(p.A)...)
				b = append(b, safetensors.EncodeF32(p.B)...)
			}
		}
	}
	return b
}

func TestNewSeeds(t *testing.T) {
	cfg := lora.Config{R: 4, LoraAlpha: 8, TargetModules: []string{"q_proj", "v_proj"}}
	a1, err := lora.New("a", cfg, 2, tinyShape, 7)
	require.NoError(t, err)
	a2, err := lora.New("b", cfg, 2, tinyShape, 7)
	require.NoError(t, err)
	b, err := lora.New("c", cfg, 2, tinyShape, 8)
	require.NoError(t, err)
	require.Equal(t, factorBytes(a1), factorBytes(a2), "same seed, same bytes")
	require.NotEqual(t, factorBytes(a1), factorBytes(b), "different seed, different values")
	p0, _ := a1.Pair(0, "q_proj")
	p1, _ := a1.Pair(1, "q_proj")
	require.NotEqual(t, p0.A, p1.A, "every pair gets its own draws")
}

func TestNewScaling(t *testing.T) {
	// Expected values: lora_alpha / r, or lora_alpha / √r with rsLoRA
	// (PEFT's LoraLayer.update_layer).
	for _, c := range []struct {
		r     int
		alpha float64
		rs    bool
		want  float64
	}{
		{8, 16, false, 2},
		{16, 16, false, 1},
		{16, 16, true, 4},
		{4, 8, true, 4},
		{64, 16, true, 2},
	} {
		t.Run(fmt.Sprintf("r%d alpha%v rs%v", c.r, c.alpha, c.rs), func(t *testing.T) {
			a, err := lora.New("s", lora.Config{R: c.r, LoraAlpha: c.alpha, UseRSLoRA: c.rs, TargetModules: []string{"q_proj"}}, 1, tinyShape, 1)
			require.NoError(t, err)
			require.Equal(t, c.want, a.Config.Scaling())
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		cfg    lora.Config
		layers int
		shape  lora.Shape
		want   string
	}{
		{"rank 0", lora.Config{TargetModules: []string{"q_proj"}}, 2, tinyShape, "r is 0"},
		{"DoRA", lora.Config{R: 4, UseDoRA: true, TargetModules: []string{"q_proj"}}, 2, tinyShape, "use_dora"},
		{"dropout 1.5", lora.Config{R: 4, LoraDropout: 1.5, TargetModules: []string{"q_proj"}}, 2, tinyShape, "lora_dropout"},
		{"no layers", lora.Config{R: 4, TargetModules: []string{"q_proj"}}, 0, tinyShape, "0 layers"},
		{"no match", lora.Config{R: 4, TargetModules: []string{"lm_head"}}, 2, tinyShape, "match no linear layer of the decoder"},
		{"regex no match", lora.Config{R: 4, TargetRegex: `.*layers\.9\..*`}, 2, tinyShape, "match no linear layer of the decoder"},
		{"bad shape", lora.Config{R: 4, TargetModules: []string{"q_proj"}}, 2, func(string) (int, int) { return 0, 8 }, "in 0, out 8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := lora.New("x", c.cfg, c.layers, c.shape, 1)
			require.ErrorContains(t, err, c.want)
		})
	}
}
