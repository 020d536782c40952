package lora_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/safetensors"
)

// Shapes of the goldens' qwen2-tiny (hidden 64, kv 32, intermediate 176)
// and qwen2-tied (hidden 48, kv 16, intermediate 100) linears.
func shapes(h, kv, inter int) lora.Shape {
	d := lora.Dims{Hidden: h, KV: kv, Intermediate: inter}
	return func(name string) (int, int) {
		for _, m := range lora.Modules {
			if m.Name == name {
				return m.Shape(d)
			}
		}
		panic("lora test: unknown module " + name)
	}
}

func TestLoadGoldenAdapters(t *testing.T) {
	a, err := lora.Load("../testdata/golden/qwen2-tiny/adapter", "tiny", 2, shapes(64, 32, 176))
	require.NoError(t, err)
	require.Equal(t, 8, a.Config.R)
	require.Equal(t, 2.0, a.Config.Scaling(), "alpha 16 / r 8")
	n := 0
	for l := 0; l < 2; l++ {
		for _, m := range lora.Modules {
			p, ok := a.Pair(l, m.Name)
			require.True(t, ok, "layer %d %s", l, m.Name)
			n += len(p.A) + len(p.B)
		}
	}
	require.Equal(t, 18688, n, "trainable parameters, as the goldens' README counts them")

	a, err = lora.Load("../testdata/golden/qwen2-tied/adapter", "tied", 3, shapes(48, 16, 100))
	require.NoError(t, err)
	require.True(t, a.Config.UseRSLoRA)
	require.Equal(t, 4.0, a.Config.Scaling(), "alpha 8 / sqrt(r 4) with rsLoRA")
	_, ok := a.Pair(0, "k_proj")
	require.False(t, ok, "only q_proj and v_proj are targeted")
	_, ok = a.Pair(2, "v_proj")
	require.True(t, ok)
}

func TestTargets(t *testing.T) {
	c := lora.Config{TargetModules: []string{"q_proj", "model.layers.1.mlp.up_proj"}}
	require.True(t, c.Targets("q_proj", "model.layers.0.self_attn.q_proj"))
	require.False(t, c.Targets("up_proj", "model.layers.0.mlp.up_proj"))
	require.True(t, c.Targets("up_proj", "model.layers.1.mlp.up_proj"))
	re := lora.Config{TargetRegex: `.*layers\.[01]\..*(q|v)_proj`}
	require.True(t, re.Targets("v_proj", "model.layers.1.self_attn.v_proj"))
	require.False(t, re.Targets("v_proj", "model.layers.2.self_attn.v_proj"))
	require.Equal(t, "base_model.model.model.layers.3.mlp.down_proj.lora_B.weight", lora.Key(3, "down_proj", "B"))
}

// copyAdapter copies the tied golden adapter to a temporary folder.
func copyAdapter(t *testing.T) string {
	dir := t.TempDir()
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		data, err := os.ReadFile(filepath.Join("../testdata/golden/qwen2-tied/adapter", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
	return dir
}

func TestLoadBadAdapters(t *testing.T) {
	load := func(dir string) error {
		_, err := lora.Load(dir, "x", 3, shapes(48, 16, 100))
		return err
	}
	rewrite := func(t *testing.T, dir string, edit func([]safetensors.Tensor) []safetensors.Tensor) {
		f, err := safetensors.Open(filepath.Join(dir, "adapter_model.safetensors"))
		require.NoError(t, err)
		var ts []safetensors.Tensor
		for _, n := range f.Names() {
			x, _ := f.Tensor(n)
			x.Data = append([]byte(nil), x.Data...)
			ts = append(ts, x)
		}
		f.Close()
		require.NoError(t, safetensors.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), edit(ts), nil))
	}
	key := "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight"
	cases := []struct {
		name string
		edit func(t *testing.T, dir string)
		want []string
	}{
		{"no config", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "adapter_config.json")) }, []string{"adapter_config.json"}},
		{"bad config", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(`{"r": 0, "peft_type": "LORA", "target_modules": ["q_proj"]}`), 0o644)
		}, []string{"adapter_config.json", "r is 0"}},
		{"DoRA", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(`{"r": 4, "use_dora": true, "target_modules": ["q_proj"]}`), 0o644)
		}, []string{"use_dora"}},
		{"no weights", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "adapter_model.safetensors")) }, []string{"adapter_model.safetensors"}},
		{"missing factor", func(t *testing.T, dir string) {
			rewrite(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
				var out []safetensors.Tensor
				for _, x := range ts {
					if x.Name != key {
						out = append(out, x)
					}
				}
				return out
			})
		}, []string{"adapter_model.safetensors", key, "missing"}},
		{"wrong shape", func(t *testing.T, dir string) {
			rewrite(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
				for i, x := range ts {
					if x.Name == key {
						ts[i] = safetensors.F32Tensor(key, []int{48, 4}, make([]float32, 192))
					}
				}
				return ts
			})
		}, []string{"adapter_model.safetensors", key, "[48 4]", "[4 48]"}},
		{"extra tensor", func(t *testing.T, dir string) {
			rewrite(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
				return append(ts, safetensors.F32Tensor("base_model.model.lm_head.lora_A.weight", []int{1}, []float32{0}))
			})
		}, []string{"adapter_model.safetensors", "lm_head"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyAdapter(t)
			c.edit(t, dir)
			err := load(dir)
			require.Error(t, err)
			for _, w := range c.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}
