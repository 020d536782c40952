package train_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/safetensors"
	"github.com/tune-dev/tune/train"
)

// goldenFloats reads one F32 tensor of a golden file.
func goldenFloats(t *testing.T, f *safetensors.File, name string) []float32 {
	t.Helper()
	x, ok := f.Tensor(name)
	require.True(t, ok, "golden tensor %s", name)
	v, err := x.Float32s()
	require.NoError(t, err)
	return v
}

func goldenInts(t *testing.T, f *safetensors.File, name string) ([]int32, []int) {
	t.Helper()
	x, ok := f.Tensor(name)
	require.True(t, ok, "golden tensor %s", name)
	v, err := x.Int64s()
	require.NoError(t, err)
	out := make([]int32, len(v))
	for i, e := range v {
		out[i] = int32(e)
	}
	return out, x.Shape
}

// TestGoldenAdamW reproduces the goldens' five AdamW steps (lr 1e-3,
// weight decay 0.01, clipping at 1.0, always the same batch): the loss
// before each step, the gradient norm at each step, the loss after the
// fifth, and every LoRA weight after steps 1 and 5. The rules are the
// goldens' README's: losses 1e-5; norms 3e-5 relative; weights 2e-6 on
// elements whose initial gradient is at least 1e-6 in magnitude (tight
// enough to catch a missing weight decay) and 1e-4 on all elements.
func TestGoldenAdamW(t *testing.T) {
	for _, name := range []string{"qwen2-tiny", "qwen2-tied"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", "golden", name)
			g, err := safetensors.Open(filepath.Join(dir, "golden.safetensors"))
			require.NoError(t, err)
			defer g.Close()
			b := cpu.New(0)
			m, err := decoder.Load(filepath.Join(dir, "base_model"), b)
			require.NoError(t, err)
			defer m.Free()
			a, err := lora.Load(filepath.Join(dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
			require.NoError(t, err)
			tr := m.Train(a)
			ids, shape := goldenInts(t, g, "input_ids")
			mask, _ := goldenInts(t, g, "attention_mask")
			labels, _ := goldenInts(t, g, "labels")
			batch := &decoder.Batch{IDs: ids, AttentionMask: mask, Labels: labels, Rows: shape[0], T: shape[1]}

			opt, err := train.NewAdamW(b, tr.N, train.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1})
			require.NoError(t, err)
			defer opt.Free()
			losses, norms := goldenFloats(t, g, "losses_5"), goldenFloats(t, g, "grad_norms_5")
			for step := 1; step <= 5; step++ {
				b.Zero(tr.Grads, tr.N)
				res, err := m.Loss(batch)
				require.NoError(t, err)
				sum, n, err := m.TrainStep(batch, decoder.TrainOptions{LossScale: 1 / float64(res.Tokens)})
				require.NoError(t, err)
				require.InDelta(t, losses[step-1], sum/float64(n), 1e-5, "loss before step %d", step)
				norm := opt.Step(tr.Params, tr.Grads, 1e-3)
				require.InDelta(t, norms[step-1], norm, 3e-5*float64(norms[step-1]), "grad norm at step %d", step)
				if step == 1 || step == 5 {
					tr.Sync(b)
					checkSteps(t, g, a, step)
				}
			}
			res, err := m.Loss(batch)
			require.NoError(t, err)
			require.InDelta(t, goldenFloats(t, g, "loss_after_5")[0], res.Mean, 1e-5)
		})
	}
}

func checkSteps(t *testing.T, g *safetensors.File, a *lora.Adapter, step int) {
	t.Helper()
	prefix := map[int]string{1: "step1.", 5: "step5."}[step]
	var worstCond, worstAll float64
	for l, mods := range a.Pairs {
		for mod, p := range mods {
			for _, f := range []struct {
				name string
				got  []float32
			}{{"A", p.A}, {"B", p.B}} {
				key := lora.Key(l, mod, f.name)
				want := goldenFloats(t, g, prefix+key)
				grad := goldenFloats(t, g, "grad."+key)
				require.Len(t, f.got, len(want), key)
				for i := range want {
					d := math.Abs(float64(f.got[i]) - float64(want[i]))
					worstAll = max(worstAll, d)
					if math.Abs(float64(grad[i])) >= 1e-6 {
						worstCond = max(worstCond, d)
					}
				}
			}
		}
	}
	t.Logf("after step %d: worst error %.2g on well-conditioned elements, %.2g on all", step, worstCond, worstAll)
	require.LessOrEqual(t, worstCond, 2e-6, "step %d weights (well-conditioned elements)", step)
	require.LessOrEqual(t, worstAll, 1e-4, "step %d weights (all elements)", step)
}
