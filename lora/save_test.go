package lora_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/internal/golden"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/safetensors"
)

// goldenCases are the Hugging Face goldens (testdata/golden/README.md):
// transformers 4.44.2 + PEFT 0.12.0 in float32.
var goldenCases = []struct {
	name   string
	layers int
	shape  lora.Shape
}{
	{"qwen2-tiny", 2, shapes(64, 32, 176)},
	{"qwen2-tied", 3, shapes(48, 16, 100)},
	{"llama3-tiny", 2, shapes(64, 32, 176)},
}

func floats(t *testing.T, f *safetensors.File, name string) []float32 {
	t.Helper()
	x, ok := f.Tensor(name)
	require.True(t, ok, "tensor %s", name)
	v, err := x.Float32s()
	require.NoError(t, err)
	return v
}

func open(t *testing.T, path string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// TestMergeGolden merges the golden adapter into every targeted projection
// of the golden base model and compares with merged.<weight> of
// golden.safetensors, PEFT's merge_and_unload() output. The tolerance is
// the README's for merged.*: atol 1e-6 (measured fp32-vs-float64 gap
// 8.1e-8). Projections that are not targeted have no merged.* tensor and
// Merge must leave them alone.
func TestMergeGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join("../testdata/golden", c.name)
			a, err := lora.Load(filepath.Join(dir, "adapter"), c.name, c.layers, c.shape)
			require.NoError(t, err)
			base := open(t, filepath.Join(dir, "base_model/model.safetensors"))
			g := golden.Open(t, c.name)
			merged := 0
			for l := range c.layers {
				for _, m := range lora.Modules {
					name := fmt.Sprintf("model.layers.%d.%s.weight", l, m.Path)
					w := floats(t, base, name)
					orig := append([]float32(nil), w...)
					ok := a.Merge(w, l, m.Name)
					has := slices.Contains(g.Names(), "merged."+name)
					require.Equal(t, has, ok, "%s is merged exactly when the golden has merged.%s", name, name)
					if !ok {
						require.Equal(t, orig, w, "%s untouched", name)
						continue
					}
					wv, _ := g.Floats(t, "merged."+name)
					worst := golden.Check(t, "merged."+name, w, wv, golden.Merged)
					t.Logf("%s: max |merged - golden| = %.2g", name, worst)
					merged++
				}
			}
			require.Equal(t, len(a.Pairs[0])*c.layers, merged, "every pair merged")
		})
	}
}

// TestSaveGolden loads each golden adapter (written by PEFT 0.12.0's
// save_pretrained), saves it again and checks that the weights file holds
// exactly the golden's tensor names, shapes and bytes with metadata
// {"format": "pt"}, that adapter_config.json has exactly PEFT's keys with
// the same values (except init_lora_weights, which Save writes as PEFT's
// default true while the goldens used false, and target_modules, a set PEFT
// writes in any order), and that LoadConfig gives the loaded config back.
func TestSaveGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			src := filepath.Join("../testdata/golden", c.name, "adapter")
			a, err := lora.Load(src, c.name, c.layers, c.shape)
			require.NoError(t, err)
			dir := filepath.Join(t.TempDir(), "nested", "out")
			require.NoError(t, a.Save(dir))

			want := open(t, filepath.Join(src, "adapter_model.safetensors"))
			got := open(t, filepath.Join(dir, "adapter_model.safetensors"))
			require.Equal(t, want.Names(), got.Names())
			for _, n := range want.Names() {
				w, _ := want.Tensor(n)
				g, _ := got.Tensor(n)
				require.Equal(t, safetensors.F32, g.DType, n)
				require.Equal(t, w.Shape, g.Shape, n)
				require.Equal(t, w.Data, g.Data, n)
			}
			require.Equal(t, map[string]string{"format": "pt"}, got.Metadata)
			// All-F32 files sorted by name: even the header matches what
			// PEFT's safetensors writer produced, so the files are identical.
			wantBytes, err := os.ReadFile(filepath.Join(src, "adapter_model.safetensors"))
			require.NoError(t, err)
			gotBytes, err := os.ReadFile(filepath.Join(dir, "adapter_model.safetensors"))
			require.NoError(t, err)
			require.True(t, bytes.Equal(wantBytes, gotBytes), "adapter_model.safetensors identical to PEFT's")

			cfg, err := lora.LoadConfig(dir)
			require.NoError(t, err)
			require.Equal(t, a.Config, *cfg)

			var wantJSON, gotJSON map[string]any
			readJSON(t, filepath.Join(src, "adapter_config.json"), &wantJSON)
			readJSON(t, filepath.Join(dir, "adapter_config.json"), &gotJSON)
			require.Equal(t, false, wantJSON["init_lora_weights"])
			require.Equal(t, true, gotJSON["init_lora_weights"])
			require.ElementsMatch(t, wantJSON["target_modules"], gotJSON["target_modules"])
			var sorted []any
			for _, m := range a.Config.TargetModules { // sorted by LoadConfig
				sorted = append(sorted, m)
			}
			require.Equal(t, sorted, gotJSON["target_modules"], "target_modules sorted")
			for _, k := range []string{"init_lora_weights", "target_modules"} {
				delete(wantJSON, k)
				delete(gotJSON, k)
			}
			require.Equal(t, wantJSON, gotJSON)

			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 2, "no temporary files left behind")
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v))
}

// TestSaveConfigJSON checks the text Save writes for a new adapter against
// the layout of PEFT 0.12's adapter_config.json (the goldens' files: sorted
// keys, two-space indent, floats such as lora_dropout written with a
// decimal point), and the round trip of the regex form of target_modules.
func TestSaveConfigJSON(t *testing.T) {
	cfg := lora.Config{R: 4, LoraAlpha: 8, LoraDropout: 0.05, UseRSLoRA: true, TargetModules: []string{"v_proj", "q_proj"}}
	a, err := lora.New("n", cfg, 1, tinyShape, 1)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, a.Save(dir))
	data, err := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
	require.NoError(t, err)
	require.Equal(t, `{
  "alpha_pattern": {},
  "auto_mapping": null,
  "base_model_name_or_path": "",
  "bias": "none",
  "fan_in_fan_out": false,
  "inference_mode": true,
  "init_lora_weights": true,
  "layer_replication": null,
  "layers_pattern": null,
  "layers_to_transform": null,
  "loftq_config": {},
  "lora_alpha": 8,
  "lora_dropout": 0.05,
  "megatron_config": null,
  "megatron_core": "megatron.core",
  "modules_to_save": null,
  "peft_type": "LORA",
  "r": 4,
  "rank_pattern": {},
  "revision": null,
  "target_modules": [
    "q_proj",
    "v_proj"
  ],
  "task_type": "CAUSAL_LM",
  "use_dora": false,
  "use_rslora": true
}`, string(data))

	for _, c := range []lora.Config{
		{R: 2, LoraAlpha: 4, TargetRegex: `.*layers\.[01]\..*(q|v)_proj`, BaseModelNameOrPath: "Qwen/Qwen2.5-0.5B"},
		{R: 2, LoraAlpha: 0.5, LoraDropout: 0, TargetModules: []string{"gate_proj", "up_proj", "down_proj"}},
	} {
		a, err := lora.New("r", c, 3, tinyShape, 2)
		require.NoError(t, err)
		dir := t.TempDir()
		require.NoError(t, a.Save(dir))
		got, err := lora.LoadConfig(dir)
		require.NoError(t, err)
		require.Equal(t, a.Config, *got)
		var raw map[string]any
		readJSON(t, filepath.Join(dir, "adapter_config.json"), &raw)
		if c.TargetRegex != "" {
			require.Equal(t, c.TargetRegex, raw["target_modules"], "PEFT writes the regex form as a string")
		}
		b, err := lora.Load(dir, "r", 3, tinyShape)
		require.NoError(t, err)
		require.Equal(t, a.Pairs, b.Pairs)
	}
}

func TestSaveErrors(t *testing.T) {
	fresh := func() *lora.Adapter {
		a, err := lora.New("e", lora.Config{R: 2, LoraAlpha: 4, TargetModules: []string{"q_proj"}}, 2, tinyShape, 3)
		require.NoError(t, err)
		return a
	}
	for _, c := range []struct {
		name string
		edit func(a *lora.Adapter)
		want string
	}{
		{"invalid config", func(a *lora.Adapter) { a.Config.R = 0 }, "r is 0"},
		{"no pairs", func(a *lora.Adapter) { a.Pairs = nil }, "no pairs"},
		{"untargeted pair", func(a *lora.Adapter) { a.Pairs[1]["k_proj"] = a.Pairs[1]["q_proj"] }, "layer 1 k_proj has a pair but target_modules [q_proj] leave it out"},
		{"unknown module", func(a *lora.Adapter) { a.Pairs[0]["lm_head"] = a.Pairs[0]["q_proj"] }, "layer 0 lm_head is not a decoder linear"},
		{"wrong rank", func(a *lora.Adapter) { a.Pairs[0]["q_proj"].R = 3 }, "layer 0 q_proj has R 3"},
		{"short B", func(a *lora.Adapter) { a.Pairs[1]["q_proj"].B = a.Pairs[1]["q_proj"].B[1:] }, "B of 127"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := fresh()
			c.edit(a)
			dir := t.TempDir()
			require.ErrorContains(t, a.Save(dir), c.want)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries, "nothing written")
		})
	}
}
