package train_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/golden"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/train"
)

// TestGoldenAdamW reproduces the goldens' five AdamW steps (lr 1e-3,
// weight decay 0.01, clipping at 1.0, always the same batch): the loss
// before each step, the gradient norm at each step, the loss after the
// fifth, and every LoRA weight after steps 1 and 5. The rules are the
// goldens' README's: losses 1e-5; norms 3e-5 relative; weights 2e-6 on
// elements whose initial gradient is at least 1e-6 in magnitude (tight
// enough to catch a missing weight decay) and 1e-4 on all elements.
func TestGoldenAdamW(t *testing.T) {
	for _, name := range golden.Cases {
		t.Run(name, func(t *testing.T) {
			g := golden.Open(t, name)
			dir := g.Dir
			b := cpu.New(0)
			m, err := decoder.Load(filepath.Join(dir, "base_model"), b)
			require.NoError(t, err)
			defer m.Free()
			a, err := lora.Load(filepath.Join(dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
			require.NoError(t, err)
			tr := m.Train(a)
			batch := g.Batch(t)

			opt, err := train.NewAdamW(b, tr.N, train.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1})
			require.NoError(t, err)
			defer opt.Free()
			losses, _ := g.Floats(t, "losses_5")
			norms, _ := g.Floats(t, "grad_norms_5")
			for step := 1; step <= 5; step++ {
				b.Zero(tr.Grads, tr.N)
				res, err := m.Loss(batch)
				require.NoError(t, err)
				sum, n, err := m.ForwardBackward(batch, decoder.TrainOptions{LossScale: 1 / float64(res.Tokens)})
				require.NoError(t, err)
				golden.CheckScalar(t, fmt.Sprintf("loss before step %d", step), sum/float64(n), float64(losses[step-1]), golden.Losses5)
				norm := opt.Step(tr.Params, tr.Grads, 1e-3)
				golden.CheckScalar(t, fmt.Sprintf("grad norm at step %d", step), norm, float64(norms[step-1]), golden.GradNorm)
				if step == 1 || step == 5 {
					tr.Download(b)
					checkSteps(t, g, a, step)
				}
			}
			res, err := m.Loss(batch)
			require.NoError(t, err)
			after, _ := g.Floats(t, "loss_after_5")
			golden.CheckScalar(t, "loss_after_5", res.Mean, float64(after[0]), golden.Loss)
		})
	}
}

func checkSteps(t *testing.T, g *golden.Case, a *lora.Adapter, step int) {
	t.Helper()
	prefix := map[int]string{1: "step1.", 5: "step5."}[step]
	var gotCond, wantCond, gotAll, wantAll []float32
	for l, mods := range a.Pairs {
		for mod, p := range mods {
			for _, f := range []struct {
				name string
				got  []float32
			}{{"A", p.A}, {"B", p.B}} {
				key := lora.Key(l, mod, f.name)
				want, _ := g.Floats(t, prefix+key)
				grad, _ := g.Floats(t, "grad."+key)
				require.Len(t, f.got, len(want), key)
				gotAll, wantAll = append(gotAll, f.got...), append(wantAll, want...)
				for i := range want {
					if math.Abs(float64(grad[i])) >= 1e-6 {
						gotCond, wantCond = append(gotCond, f.got[i]), append(wantCond, want[i])
					}
				}
			}
		}
	}
	worstCond := golden.Check(t, fmt.Sprintf("step %d weights (well-conditioned elements)", step), gotCond, wantCond, golden.StepWell)
	worstAll := golden.Check(t, fmt.Sprintf("step %d weights (all elements)", step), gotAll, wantAll, golden.StepAll)
	t.Logf("after step %d: worst error %.2g on well-conditioned elements, %.2g on all", step, worstCond, worstAll)
}
