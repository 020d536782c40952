package decoder_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/golden"
	"github.com/tune-dev/tune/lora"
)

// TestGoldenGradients runs one forward/backward pass with the goldens'
// adapter and compares every LoRA gradient with transformers + PEFT's
// loss.backward(), with and without activation recomputation.
func TestGoldenGradients(t *testing.T) {
	for _, name := range golden.Cases {
		for _, recompute := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/recompute=%v", name, recompute), func(t *testing.T) {
				g := golden.Open(t, name)
				m := loadModel(t, filepath.Join(g.Dir, "base_model"))
				a, err := lora.Load(filepath.Join(g.Dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
				require.NoError(t, err)
				tr := m.Train(a)
				b := g.Batch(t)
				res, err := m.Loss(b)
				require.NoError(t, err)
				sum, n, err := m.ForwardBackward(b, decoder.TrainOptions{LossScale: 1 / float64(res.Tokens), Recompute: recompute})
				require.NoError(t, err)
				require.Equal(t, res.Tokens, n)
				want, _ := g.Floats(t, "loss")
				golden.Check(t, "loss", []float32{float32(sum / float64(n))}, want, golden.Loss)
				var worst float64
				for l := 0; l < m.Config.NumHiddenLayers; l++ {
					for _, mod := range lora.Modules {
						for _, f := range []string{"A", "B"} {
							got, ok := tr.Grad(m.Backend, l, mod.Name, f)
							key := lora.Key(l, mod.Name, f)
							if !ok {
								require.NotContains(t, g.Names(), "grad."+key, "golden has %s but the adapter does not", key)
								continue
							}
							want, _ := g.Floats(t, "grad."+key)
							worst = max(worst, golden.Check(t, key, got, want, golden.Grad))
						}
					}
				}
				t.Logf("worst gradient error %.2g", worst)
			})
		}
	}
}

// TestChunkedLoss makes the loss compute four rows of logits at a time,
// so the goldens' batch takes several chunks, and checks the per-token
// losses and the LoRA gradients against the goldens.
func TestChunkedLoss(t *testing.T) {
	g := golden.Open(t, "qwen2-tiny")
	m := loadModel(t, filepath.Join(g.Dir, "base_model"))
	saved := *decoder.ChunkLogits
	*decoder.ChunkLogits = 4 * m.Config.VocabSize
	defer func() { *decoder.ChunkLogits = saved }()
	b := g.Batch(t)
	require.Greater(t, b.Rows*b.T, 8, "the batch spans several chunks")

	loadAdapter(t, m, filepath.Join(g.Dir, "adapter"))
	res, err := m.Loss(b)
	require.NoError(t, err)
	want, _ := g.Floats(t, "token_loss")
	got := make([]float32, len(res.Token))
	for i, x := range res.Token {
		got[i] = float32(x)
	}
	golden.Check(t, "token_loss", got, want, golden.Loss)

	a, err := lora.Load(filepath.Join(g.Dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
	require.NoError(t, err)
	tr := m.Train(a)
	_, _, err = m.ForwardBackward(b, decoder.TrainOptions{LossScale: 1 / float64(res.Tokens)})
	require.NoError(t, err)
	for l := 0; l < m.Config.NumHiddenLayers; l++ {
		for _, mod := range lora.Modules {
			got, ok := tr.Grad(m.Backend, l, mod.Name, "B")
			if !ok {
				continue
			}
			want, _ := g.Floats(t, "grad."+lora.Key(l, mod.Name, "B"))
			golden.Check(t, lora.Key(l, mod.Name, "B"), got, want, golden.Grad)
		}
	}
}

// TestPackedEqualsSeparate packs two sequences into one row (segment ids
// in the mask, positions restarting, no target across the boundary) and
// checks the summed loss and the LoRA gradients equal those of the two
// sequences run as separate rows.
func TestPackedEqualsSeparate(t *testing.T) {
	g := golden.Open(t, "qwen2-tiny")
	a1 := []int32{5, 17, 300, 42, 9}
	a2 := []int32{77, 3, 250, 999, 14, 8, 61}
	packed := &decoder.Batch{
		IDs:           append(append([]int32{}, a1...), a2...),
		AttentionMask: []int32{1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2},
		Pos:           []int32{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6},
		Labels:        append(append([]int32{}, a1...), append([]int32{-100}, a2[1:]...)...),
		Rows:          1, T: 12,
	}
	pad := append(append([]int32{}, a1...), 0, 0)
	separate := &decoder.Batch{
		IDs:           append(pad, a2...),
		AttentionMask: []int32{1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1},
		Rows:          2, T: 7,
	}
	var sums [2]float64
	var grads [2][]float32
	for i, b := range []*decoder.Batch{packed, separate} {
		m := loadModel(t, filepath.Join(g.Dir, "base_model"))
		a, err := lora.Load(filepath.Join(g.Dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
		require.NoError(t, err)
		tr := m.Train(a)
		s, n, err := m.ForwardBackward(b, decoder.TrainOptions{LossScale: 1})
		require.NoError(t, err)
		require.Equal(t, 10, n) // 4 + 6 targets
		sums[i] = s
		grads[i], _ = tr.Grad(m.Backend, 1, "v_proj", "B")
	}
	require.InDelta(t, sums[1], sums[0], 1e-5)
	golden.Check(t, "packed gradient", grads[0], grads[1], golden.Grad)
}
