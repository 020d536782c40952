package qwen_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen"
	"github.com/tune-dev/tune/safetensors"
)

// The goldens come from transformers 4.44.2 + peft 0.12.0 in float32 on CPU
// (testdata/golden/README.md). Tolerances are the README's recommended
// rules, per tensor: max|got - want| <= atol + rtol*max|want|; they leave
// about 10x headroom over the float32-vs-float64 error measured there.
var (
	tolLogits = tol{1e-5, 1e-5}
	tolHidden = tol{1e-5, 1e-5}
	tolLoss   = tol{1e-5, 0}
)

type tol struct{ atol, rtol float64 }

type golden struct {
	dir string
	f   *safetensors.File
}

func openGolden(t *testing.T, name string) *golden {
	t.Helper()
	dir := filepath.Join("..", "testdata", "golden", name)
	f, err := safetensors.Open(filepath.Join(dir, "golden.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return &golden{dir: dir, f: f}
}

func (g *golden) floats(t *testing.T, name string) ([]float32, []int) {
	t.Helper()
	x, ok := g.f.Tensor(name)
	require.True(t, ok, "golden tensor %s", name)
	v, err := x.Float32s()
	require.NoError(t, err)
	return v, x.Shape
}

func (g *golden) ints(t *testing.T, name string) ([]int32, []int) {
	t.Helper()
	x, ok := g.f.Tensor(name)
	require.True(t, ok, "golden tensor %s", name)
	v, err := x.Int64s()
	require.NoError(t, err)
	out := make([]int32, len(v))
	for i, e := range v {
		out[i] = int32(e)
	}
	return out, x.Shape
}

func (g *golden) batch(t *testing.T) *qwen.Batch {
	ids, shape := g.ints(t, "input_ids")
	mask, _ := g.ints(t, "attention_mask")
	labels, _ := g.ints(t, "labels")
	return &qwen.Batch{IDs: ids, AttentionMask: mask, Labels: labels, Rows: shape[0], T: shape[1]}
}

// compare checks got against want under tl and returns the largest error.
func compare(t *testing.T, what string, got []float32, want []float32, tl tol) float64 {
	t.Helper()
	require.Equal(t, len(want), len(got), what)
	var maxWant, worst float64
	for _, w := range want {
		maxWant = math.Max(maxWant, math.Abs(float64(w)))
	}
	for i := range got {
		worst = math.Max(worst, math.Abs(float64(got[i])-float64(want[i])))
	}
	limit := tl.atol + tl.rtol*maxWant
	require.LessOrEqual(t, worst, limit, "%s: max |got-want| %.3g exceeds %.3g", what, worst, limit)
	return worst
}

func download(b backend.Backend, x backend.Buffer, n int) []float32 {
	v := make([]float32, n)
	b.Download(v, x)
	return v
}

func loadModel(t *testing.T, dir string) *qwen.Model {
	t.Helper()
	m, err := qwen.Load(dir, cpu.New(0))
	require.NoError(t, err)
	t.Cleanup(m.Free)
	return m
}

func loadAdapter(t *testing.T, m *qwen.Model, dir string) {
	t.Helper()
	a, err := lora.Load(dir, "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
	require.NoError(t, err)
	m.SetAdapter(a)
}

func TestGoldenForward(t *testing.T) {
	for _, c := range []struct{ name, model string }{
		{"qwen2-tiny", "base_model"},
		{"qwen2-tiny", "base_model_sharded"},
		{"qwen2-tied", "base_model"},
	} {
		t.Run(c.name+"/"+c.model, func(t *testing.T) {
			g := openGolden(t, c.name)
			m := loadModel(t, filepath.Join(g.dir, c.model))
			b := g.batch(t)
			rows, h, v := b.Rows*b.T, m.Config.HiddenSize, m.Config.VocabSize

			// Base model (adapter disabled): logits.
			logits, err := m.Logits(b, nil)
			require.NoError(t, err)
			errs := map[string]float64{}
			want, _ := g.floats(t, "base_logits")
			errs["base_logits"] = compare(t, "base_logits", download(m.B, logits, rows*v), want, tolLogits)

			// With the PEFT adapter: hidden states, logits and the loss in
			// all its forms.
			// The goldens' hidden states come from this forward pass.
			loadAdapter(t, m, filepath.Join(g.dir, "adapter"))
			hidden := map[string][]float32{}
			logits, err = m.Logits(b, func(name string, x backend.Buffer) {
				hidden[name] = download(m.B, x, rows*h)
			})
			require.NoError(t, err)
			names := []string{"hidden.embeddings", "hidden.final_norm"}
			for l := 0; l < m.Config.NumHiddenLayers; l++ {
				names = append(names, fmt.Sprintf("hidden.layer.%d", l))
			}
			for _, n := range names {
				want, _ := g.floats(t, n)
				require.Contains(t, hidden, n)
				errs[n] = compare(t, n, hidden[n], want, tolHidden)
			}
			want, _ = g.floats(t, "logits")
			errs["logits"] = compare(t, "logits", download(m.B, logits, rows*v), want, tolLogits)
			res, err := m.Loss(b)
			require.NoError(t, err)
			wantLoss, _ := g.floats(t, "loss")
			errs["loss"] = compare(t, "loss", []float32{float32(res.Mean)}, wantLoss, tolLoss)
			wantRow, _ := g.floats(t, "loss_per_example")
			got := make([]float32, len(res.RowMean))
			for i, x := range res.RowMean {
				got[i] = float32(x)
			}
			errs["loss_per_example"] = compare(t, "loss_per_example", got, wantRow, tolLoss)
			wantTok, _ := g.floats(t, "token_loss")
			got = make([]float32, len(res.Token))
			for i, x := range res.Token {
				got[i] = float32(x)
			}
			errs["token_loss"] = compare(t, "token_loss", got, wantTok, tolLoss)
			for _, n := range append([]string{"base_logits", "logits", "loss", "loss_per_example", "token_loss"}, names...) {
				t.Logf("%-20s max abs error %.3g", n, errs[n])
			}
		})
	}
}

func TestGoldenGreedyGeneration(t *testing.T) {
	for _, name := range []string{"qwen2-tiny", "qwen2-tied"} {
		t.Run(name, func(t *testing.T) {
			g := openGolden(t, name)
			m := loadModel(t, filepath.Join(g.dir, "base_model"))
			prompt, _ := g.ints(t, "gen.prompt_ids")
			cfg, err := qwen.LoadGenerationConfig(filepath.Join(g.dir, "base_model"), m.Config)
			require.NoError(t, err)
			require.False(t, cfg.DoSample)
			cfg.MaxNewTokens = 12

			want, _ := g.ints(t, "gen.base_output_ids")
			got, err := m.Generate(prompt, cfg, nil)
			require.NoError(t, err)
			require.Equal(t, want[len(prompt):], got, "greedy tokens, adapter disabled")

			loadAdapter(t, m, filepath.Join(g.dir, "adapter"))
			want, _ = g.ints(t, "gen.output_ids")
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
	g := openGolden(t, "qwen2-tiny")
	m := loadModel(t, filepath.Join(g.dir, "base_model"))
	loadAdapter(t, m, filepath.Join(g.dir, "adapter"))
	ids, shape := g.ints(t, "gen.output_ids")
	want, wshape := g.floats(t, "gen.logits")
	logits, err := m.Logits(&qwen.Batch{IDs: ids, Rows: 1, T: shape[1]}, nil)
	require.NoError(t, err)
	v := m.Config.VocabSize
	all := download(m.B, logits, shape[1]*v)
	prompt := shape[1] - wshape[0]
	compare(t, "gen.logits", all[(prompt-1)*v:(shape[1]-1)*v], want, tolLogits)
}
