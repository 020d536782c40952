package decoder_test

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/qwen"
	"github.com/tune-dev/tune/safetensors"
)

// tinyConfig is a small Qwen2 shape with GQA and untied embeddings.
func tinyConfig() *decoder.Config {
	return &decoder.Config{
		ModelType: "qwen2", VocabSize: 37, HiddenSize: 24, IntermediateSize: 40, NumHiddenLayers: 2,
		NumAttentionHeads: 6, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, RMSNormEps: 1e-6,
		RopeTheta: 1e6, HiddenAct: "silu", EOSTokenID: decoder.TokenIDs{5},
	}
}

func saveTiny(t *testing.T, dtype safetensors.DType) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, decoder.SaveRandom(dir, tinyConfig(), 7, dtype, 0))
	return dir
}

// smallPieces runs f with the loader's pieces at the default size and at
// 7 elements, so that every tensor streams in several pieces with a
// partial last one.
func smallPieces(t *testing.T, f func(t *testing.T)) {
	t.Run("default", f)
	defer func(n int) { *decoder.StreamChunk = n }(*decoder.StreamChunk)
	*decoder.StreamChunk = 7
	t.Run("pieces of 7", f)
}

func TestRandomModelRoundTrip(t *testing.T) {
	smallPieces(t, testRandomModelRoundTrip)
}

func testRandomModelRoundTrip(t *testing.T) {
	// A saved random model loads back to the same weights as one built
	// in memory: compare their logits.
	for _, dt := range []safetensors.DType{safetensors.F32, safetensors.BF16} {
		dir := saveTiny(t, dt)
		m, err := decoder.Load(dir, cpu.New(0))
		require.NoError(t, err)
		r, err := decoder.NewRandom(tinyConfig(), cpu.New(0), 7)
		require.NoError(t, err)
		b := &decoder.Batch{IDs: []int32{1, 2, 3, 4, 5, 6}, Rows: 2, T: 3}
		l1, err := m.Loss(b)
		require.NoError(t, err)
		l2, err := r.Loss(b)
		require.NoError(t, err)
		if dt == safetensors.F32 {
			require.Equal(t, l2.Mean, l1.Mean)
		} else {
			// BF16 keeps 8 bits of mantissa: weights move by up to 0.4%.
			require.InDelta(t, l2.Mean, l1.Mean, 1e-2)
		}
	}
}

func TestLoadSharded(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, decoder.SaveRandom(dir, tinyConfig(), 7, safetensors.F32, 20000))
	_, err := os.Stat(filepath.Join(dir, "model.safetensors.index.json"))
	require.NoError(t, err)
	m, err := decoder.Load(dir, cpu.New(0))
	require.NoError(t, err)
	r, err := decoder.NewRandom(tinyConfig(), cpu.New(0), 7)
	require.NoError(t, err)
	b := &decoder.Batch{IDs: []int32{9, 8, 7}, Rows: 1, T: 3}
	l1, _ := m.Loss(b)
	l2, _ := r.Loss(b)
	require.Equal(t, l2.Mean, l1.Mean)
}

func rewriteConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	edit(m)
	data, err = json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

// rewriteWeights replaces model.safetensors by the tiny model's tensors
// after edit.
func rewriteWeights(t *testing.T, dir string, edit func([]safetensors.Tensor) []safetensors.Tensor) {
	t.Helper()
	var ts []safetensors.Tensor
	for _, s := range tinyConfig().Specs() {
		ts = append(ts, safetensors.F32Tensor(s.Name, s.Shape, decoder.RandomTensor(s, 7)))
	}
	require.NoError(t, safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), edit(ts), nil))
}

func TestLoadBadInput(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(t *testing.T, dir string)
		want    []string // substrings the error must contain
	}{
		{"no config", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "config.json")) }, []string{"config.json"}},
		{"corrupt config", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"hidden_size": 24,`), 0o644)
		}, []string{"config.json"}},
		{"inconsistent config", func(t *testing.T, dir string) {
			rewriteConfig(t, dir, func(m map[string]any) { m["num_attention_heads"] = 5 })
		}, []string{"config.json", "num_attention_heads"}},
		{"unsupported activation", func(t *testing.T, dir string) {
			rewriteConfig(t, dir, func(m map[string]any) { m["hidden_act"] = "gelu" })
		}, []string{"config.json", "gelu"}},
		{"no weights", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "model.safetensors")) }, []string{"safetensors"}},
		{"truncated weights", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-100)
		}, []string{"model.safetensors"}},
		{"header length past end", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			var n [8]byte
			binary.LittleEndian.PutUint64(n[:], 1<<40)
			f.WriteAt(n[:], 0)
			f.Close()
		}, []string{"model.safetensors"}},
		{"missing tensor", func(t *testing.T, dir string) {
			rewriteWeights(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
				var out []safetensors.Tensor
				for _, x := range ts {
					if x.Name != "model.layers.1.mlp.up_proj.weight" {
						out = append(out, x)
					}
				}
				return out
			})
		}, []string{"model.layers.1.mlp.up_proj.weight", "not in this checkpoint"}},
		{"wrong shape", func(t *testing.T, dir string) {
			rewriteWeights(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
				for i, x := range ts {
					if x.Name == "model.layers.0.self_attn.k_proj.weight" {
						ts[i] = safetensors.F32Tensor(x.Name, []int{24, 8}, make([]float32, 192))
					}
				}
				return ts
			})
		}, []string{"model.safetensors", "model.layers.0.self_attn.k_proj.weight", "[24 8]", "[8 24]"}},
		{"integer weights", func(t *testing.T, dir string) {
			rewriteWeights(t, dir, func(ts []safetensors.Tensor) []safetensors.Tensor {
				for i, x := range ts {
					if x.Name == "model.norm.weight" {
						ts[i] = safetensors.I64Tensor(x.Name, x.Shape, make([]int64, 24))
					}
				}
				return ts
			})
		}, []string{"model.safetensors", "model.norm.weight"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := saveTiny(t, safetensors.F32)
			c.breakIt(t, dir)
			_, err := decoder.Load(dir, cpu.New(1))
			require.Error(t, err)
			for _, w := range c.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestFamilyConfigs(t *testing.T) {
	// Parameter counts published on the Qwen2.5 model cards (billions,
	// rounded as the cards round them).
	want := map[string]float64{
		"Qwen2.5-0.5B-Instruct": 0.49, "Qwen2.5-1.5B-Instruct": 1.54, "Qwen2.5-3B-Instruct": 3.09,
		"Qwen2.5-7B-Instruct": 7.61, "Qwen2.5-14B-Instruct": 14.7, "Qwen2.5-32B-Instruct": 32.5,
		"Qwen2.5-72B-Instruct": 72.7,
	}
	for name, c := range qwen.Sizes {
		require.NoError(t, c.Validate(), name)
		got := float64(c.NumParams()) / 1e9
		require.InDelta(t, want[name], got, want[name]*0.01, name)
	}
}
