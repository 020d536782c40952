package qwen_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen"
)

// The goldens' LoRA gradients (README: recommended rule atol 1e-6,
// rtol 3e-5 per tensor, the worst fp32-vs-float64 error being 2.6e-6
// relative).
var tolGrad = tol{1e-6, 3e-5}

// TestGoldenGradients runs one forward/backward pass with the goldens'
// adapter and compares every LoRA gradient with transformers + PEFT's
// loss.backward(), with and without activation recomputation.
func TestGoldenGradients(t *testing.T) {
	for _, name := range []string{"qwen2-tiny", "qwen2-tied"} {
		for _, recompute := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/recompute=%v", name, recompute), func(t *testing.T) {
				g := openGolden(t, name)
				m := loadModel(t, filepath.Join(g.dir, "base_model"))
				a, err := lora.Load(filepath.Join(g.dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
				require.NoError(t, err)
				tr := m.Train(a)
				b := g.batch(t)
				res, err := m.Loss(b)
				require.NoError(t, err)
				sum, n, err := m.TrainStep(b, qwen.TrainOptions{LossScale: 1 / float64(res.Tokens), Recompute: recompute})
				require.NoError(t, err)
				require.Equal(t, res.Tokens, n)
				want, _ := g.floats(t, "loss")
				compare(t, "loss", []float32{float32(sum / float64(n))}, want, tolLoss)
				var worst float64
				for l := 0; l < m.Config.NumHiddenLayers; l++ {
					for _, mod := range lora.Modules {
						for _, f := range []string{"A", "B"} {
							got, ok := tr.Grad(m.B, l, mod.Name, f)
							key := lora.Key(l, mod.Name, f)
							if !ok {
								_, has := g.f.Tensor("grad." + key)
								require.False(t, has, "golden has %s but the adapter does not", key)
								continue
							}
							want, _ := g.floats(t, "grad."+key)
							worst = max(worst, compare(t, key, got, want, tolGrad))
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
	g := openGolden(t, "qwen2-tiny")
	m := loadModel(t, filepath.Join(g.dir, "base_model"))
	saved := *qwen.ChunkLogits
	*qwen.ChunkLogits = 4 * m.Config.VocabSize
	defer func() { *qwen.ChunkLogits = saved }()
	b := g.batch(t)
	require.Greater(t, b.Rows*b.T, 8, "the batch spans several chunks")

	loadAdapter(t, m, filepath.Join(g.dir, "adapter"))
	res, err := m.Loss(b)
	require.NoError(t, err)
	want, _ := g.floats(t, "token_loss")
	got := make([]float32, len(res.Token))
	for i, x := range res.Token {
		got[i] = float32(x)
	}
	compare(t, "token_loss", got, want, tolLoss)

	a, err := lora.Load(filepath.Join(g.dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
	require.NoError(t, err)
	tr := m.Train(a)
	_, _, err = m.TrainStep(b, qwen.TrainOptions{LossScale: 1 / float64(res.Tokens)})
	require.NoError(t, err)
	for l := 0; l < m.Config.NumHiddenLayers; l++ {
		for _, mod := range lora.Modules {
			got, ok := tr.Grad(m.B, l, mod.Name, "B")
			if !ok {
				continue
			}
			want, _ := g.floats(t, "grad."+lora.Key(l, mod.Name, "B"))
			compare(t, lora.Key(l, mod.Name, "B"), got, want, tolGrad)
		}
	}
}

// TestPackedEqualsSeparate packs two sequences into one row (segment ids
// in the mask, positions restarting, no target across the boundary) and
// checks the summed loss and the LoRA gradients equal those of the two
// sequences run as separate rows.
func TestPackedEqualsSeparate(t *testing.T) {
	g := openGolden(t, "qwen2-tiny")
	a1 := []int32{5, 17, 300, 42, 9}
	a2 := []int32{77, 3, 250, 999, 14, 8, 61}
	packed := &qwen.Batch{
		IDs:           append(append([]int32{}, a1...), a2...),
		AttentionMask: []int32{1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2},
		Pos:           []int32{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6},
		Labels:        append(append([]int32{}, a1...), append([]int32{-100}, a2[1:]...)...),
		Rows:          1, T: 12,
	}
	pad := append(append([]int32{}, a1...), 0, 0)
	separate := &qwen.Batch{
		IDs:           append(pad, a2...),
		AttentionMask: []int32{1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1},
		Rows:          2, T: 7,
	}
	var sums [2]float64
	var grads [2][]float32
	for i, b := range []*qwen.Batch{packed, separate} {
		m := loadModel(t, filepath.Join(g.dir, "base_model"))
		a, err := lora.Load(filepath.Join(g.dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
		require.NoError(t, err)
		tr := m.Train(a)
		s, n, err := m.TrainStep(b, qwen.TrainOptions{LossScale: 1})
		require.NoError(t, err)
		require.Equal(t, 10, n) // 4 + 6 targets
		sums[i] = s
		grads[i], _ = tr.Grad(m.B, 1, "v_proj", "B")
	}
	require.InDelta(t, sums[1], sums[0], 1e-5)
	compare(t, "packed gradient", grads[0], grads[1], tolGrad)
}
