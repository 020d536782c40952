package decoder_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/golden"
	"github.com/tune-dev/tune/lora"
)

// The goldens come from transformers 4.44.2 + peft 0.12.0 in float32 on
// CPU (testdata/golden/README.md); internal/golden holds their tolerances.

func download(b backend.Backend, x backend.Buffer, n int) []float32 {
	v := make([]float32, n)
	b.Download(v, x)
	return v
}

func loadModel(t *testing.T, dir string) *decoder.Model {
	t.Helper()
	m, err := decoder.Load(dir, cpu.New(0))
	require.NoError(t, err)
	t.Cleanup(m.Free)
	return m
}

func loadAdapter(t *testing.T, m *decoder.Model, dir string) {
	t.Helper()
	a, err := lora.Load(dir, "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
	require.NoError(t, err)
	m.SetAdapter(a)
}

func floats64(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func TestGoldenForward(t *testing.T) {
	for _, c := range []struct{ name, model string }{
		{"qwen2-tiny", "base_model"},
		{"qwen2-tiny", "base_model_sharded"},
		{"qwen2-tied", "base_model"},
		{"llama3-tiny", "base_model"},
	} {
		t.Run(c.name+"/"+c.model, func(t *testing.T) {
			g := golden.Open(t, c.name)
			m := loadModel(t, filepath.Join(g.Dir, c.model))
			b := g.Batch(t)
			rows, h, v := b.Rows*b.T, m.Config.HiddenSize, m.Config.VocabSize

			// Base model (adapter disabled): logits.
			logits, err := m.Logits(b, nil)
			require.NoError(t, err)
			errs := map[string]float64{}
			want, _ := g.Floats(t, "base_logits")
			errs["base_logits"] = golden.Check(t, "base_logits", download(m.Backend, logits, rows*v), want, golden.Logits)

			// With the PEFT adapter: hidden states, logits and the loss in
			// all its forms.
			// The goldens' hidden states come from this forward pass.
			loadAdapter(t, m, filepath.Join(g.Dir, "adapter"))
			hidden := map[string][]float32{}
			logits, err = m.Logits(b, func(name string, x backend.Buffer) {
				hidden[name] = download(m.Backend, x, rows*h)
			})
			require.NoError(t, err)
			names := []string{"hidden.embeddings", "hidden.final_norm"}
			for l := 0; l < m.Config.NumHiddenLayers; l++ {
				names = append(names, fmt.Sprintf("hidden.layer.%d", l))
			}
			for _, n := range names {
				want, _ := g.Floats(t, n)
				require.Contains(t, hidden, n)
				errs[n] = golden.Check(t, n, hidden[n], want, golden.Hidden)
			}
			want, _ = g.Floats(t, "logits")
			errs["logits"] = golden.Check(t, "logits", download(m.Backend, logits, rows*v), want, golden.Logits)
			res, err := m.Loss(b)
			require.NoError(t, err)
			wantLoss, _ := g.Floats(t, "loss")
			errs["loss"] = golden.Check(t, "loss", []float32{float32(res.Mean)}, wantLoss, golden.Loss)
			wantRow, _ := g.Floats(t, "loss_per_example")
			errs["loss_per_example"] = golden.Check(t, "loss_per_example", floats64(res.RowMean), wantRow, golden.Loss)
			wantTok, _ := g.Floats(t, "token_loss")
			errs["token_loss"] = golden.Check(t, "token_loss", floats64(res.Token), wantTok, golden.Loss)
			for _, n := range append([]string{"base_logits", "logits", "loss", "loss_per_example", "token_loss"}, names...) {
				t.Logf("%-20s max abs error %.3g", n, errs[n])
			}
		})
	}
}

// TestGoldenRoPEFrequencies checks llama3-tiny's RoPE table, where
// rope_scaling takes all three branches of the llama3 rule, against the
// inv_freq transformers used: bit for bit, since both round every step to
// float32 in the same order.
func TestGoldenRoPEFrequencies(t *testing.T) {
	g := golden.Open(t, "llama3-tiny")
	c, err := decoder.LoadConfig(filepath.Join(g.Dir, "base_model"))
	require.NoError(t, err)
	want, _ := g.Floats(t, "rope.inv_freq")
	require.Equal(t, want, c.InvFreq())
}

func TestGoldenGreedyGeneration(t *testing.T) {
	for _, name := range golden.Cases {
		t.Run(name, func(t *testing.T) {
			g := golden.Open(t, name)
			m := loadModel(t, filepath.Join(g.Dir, "base_model"))
			prompt, _ := g.Ints(t, "gen.prompt_ids")
			cfg, err := decoder.LoadGenerationConfig(filepath.Join(g.Dir, "base_model"), m.Config)
			require.NoError(t, err)
			require.False(t, cfg.DoSample)
			cfg.MaxNewTokens = 12

			want, _ := g.Ints(t, "gen.base_output_ids")
			got, err := m.Generate(prompt, cfg, nil)
			require.NoError(t, err)
			require.Equal(t, want[len(prompt):], got, "greedy tokens, adapter disabled")

			loadAdapter(t, m, filepath.Join(g.Dir, "adapter"))
			want, _ = g.Ints(t, "gen.output_ids")
			var streamed []int32
			got, err = m.Generate(prompt, cfg, func(id int32) bool { streamed = append(streamed, id); return true })
			require.NoError(t, err)
			require.Equal(t, want[len(prompt):], got, "greedy tokens with the adapter")
			require.Equal(t, got, streamed)

			// Batched with a shorter prompt beside it: left padding must not
			// change row 0's tokens.
			out, err := m.GenerateBatch([][]int32{prompt, prompt[3:]}, cfg, nil)
			require.NoError(t, err)
			require.Equal(t, want[len(prompt):], out[0], "row 0 of a left-padded batch")
			alone, err := m.Generate(prompt[3:], cfg, nil)
			require.NoError(t, err)
			require.Equal(t, alone, out[1], "row 1 of a left-padded batch")
		})
	}
}

func TestGoldenGenerationLogits(t *testing.T) {
	// gen.logits row i is the logits that chose token 7+i: recompute them
	// with a full forward (no cache) over the golden output.
	for _, name := range []string{"qwen2-tiny", "llama3-tiny"} {
		t.Run(name, func(t *testing.T) {
			g := golden.Open(t, name)
			m := loadModel(t, filepath.Join(g.Dir, "base_model"))
			loadAdapter(t, m, filepath.Join(g.Dir, "adapter"))
			ids, shape := g.Ints(t, "gen.output_ids")
			want, wshape := g.Floats(t, "gen.logits")
			logits, err := m.Logits(&decoder.Batch{IDs: ids, Rows: 1, T: shape[1]}, nil)
			require.NoError(t, err)
			v := m.Config.VocabSize
			all := download(m.Backend, logits, shape[1]*v)
			prompt := shape[1] - wshape[0]
			golden.Check(t, "gen.logits", all[(prompt-1)*v:(shape[1]-1)*v], want, golden.Logits)
		})
	}
}

// TestGoldenMergedLogits merges the adapter into the base weights (W +
// s·B·A, as merge_and_unload) and compares the merged model's logits.
func TestGoldenMergedLogits(t *testing.T) {
	for _, name := range golden.Cases {
		t.Run(name, func(t *testing.T) {
			g := golden.Open(t, name)
			m := loadModel(t, filepath.Join(g.Dir, "base_model"))
			a, err := lora.Load(filepath.Join(g.Dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
			require.NoError(t, err)
			for l := range m.Layers {
				L := &m.Layers[l]
				for i, lin := range []*decoder.Linear{&L.Q, &L.K, &L.V, &L.O, &L.Gate, &L.Up, &L.Down} {
					w := download(m.Backend, lin.W, lin.In*lin.Out)
					if a.Merge(w, l, lora.Modules[i].Name) {
						m.Backend.Upload(lin.W, w)
					}
				}
			}
			b := g.Batch(t)
			logits, err := m.Logits(b, nil)
			require.NoError(t, err)
			want, _ := g.Floats(t, "merged_logits")
			golden.Check(t, "merged_logits", download(m.Backend, logits, b.Rows*b.T*m.Config.VocabSize), want, golden.Logits)
		})
	}
}
