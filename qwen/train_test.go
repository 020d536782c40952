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

// TestEvalStep checks the chunked, memory-light scoring of TrainStep's
// Eval mode against the goldens' loss, without an adapter attached for
// training.
func TestEvalStep(t *testing.T) {
	for _, name := range []string{"qwen2-tiny", "qwen2-tied"} {
		g := openGolden(t, name)
		m := loadModel(t, filepath.Join(g.dir, "base_model"))
		loadAdapter(t, m, filepath.Join(g.dir, "adapter"))
		sum, n, err := m.TrainStep(g.batch(t), qwen.TrainOptions{Eval: true})
		require.NoError(t, err)
		want, _ := g.floats(t, "loss")
		compare(t, name+" loss", []float32{float32(sum / float64(n))}, want, tolLoss)
	}
}
