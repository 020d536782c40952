//go:build cgo

package cuda_test

import (
	"fmt"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/cuda"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/safetensors"
	"github.com/tune-dev/tune/train"
)

// TestPlanMatchesAllocationsCUDA runs what a training run allocates and
// runs for micro-batches of full-length rows (a model folder loaded, QLoRA
// or not; the adapter's arenas; AdamW's moments; two accumulated ForwardBackward steps;
// an optimizer step; an evaluation pass) on the CUDA backend, with bf16
// and with fp32 storage, and requires the device memory the backend holds
// afterwards (tune_memory_info; nothing is freed during a step, so that
// is the peak of a step) to be what decoder.PlanMemory plans with the
// backend's own Storage.
func TestPlanMatchesAllocationsCUDA(t *testing.T) {
	c := &decoder.Config{ModelType: "qwen2", VocabSize: 300, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, RMSNormEps: 1e-6, RopeTheta: 1e4,
		HiddenAct: "silu", EOSTokenID: decoder.TokenIDs{2}}
	dir := t.TempDir() // a model folder, loaded as train.Run loads one
	if err := decoder.SaveRandom(dir, c, 5, safetensors.BF16, 0); err != nil {
		t.Fatal(err)
	}
	all := lora.ModuleNames()
	for _, tc := range []struct {
		o                cuda.Options
		qlora, recompute bool
		modules          []string
		batch, length    int
	}{
		{cuda.Options{}, true, false, all, 2, 24},
		{cuda.Options{}, true, true, []string{"up_proj", "q_proj"}, 1, 33},
		{cuda.Options{}, false, false, all, 3, 7},
		{cuda.Options{Float32: true}, true, true, all, 2, 16},
	} {
		t.Run(fmt.Sprintf("fp32=%v,qlora=%v,recompute=%v,%d-modules,%dx%d", tc.o.Float32, tc.qlora, tc.recompute, len(tc.modules), tc.batch, tc.length), func(t *testing.T) {
			g, b := wholeModel(t, tc.o)
			inUse := func() int64 {
				free, total, err := g.MemoryInfo()
				if err != nil {
					t.Fatal(err)
				}
				return total - free
			}
			start := inUse() - cuda.ContextBytes
			lc := lora.Config{R: 4, LoraAlpha: 8, LoraDropout: 0.1, TargetModules: tc.modules}
			plan, err := decoder.PlanMemory(c, decoder.MemoryOptions{LoRA: lc, QLoRA: tc.qlora, Batch: tc.batch,
				MaxLength: tc.length, Recompute: tc.recompute, Storage: g.Storage()})
			if err != nil {
				t.Fatal(err)
			}
			m, err := decoder.LoadWith(dir, b, decoder.LoadOptions{QLoRA: tc.qlora})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Free()
			tr, opt := attach(t, m, b, lc)
			n := tc.batch * tc.length
			ids, mask := make([]int32, n), make([]int32, n)
			for i := range ids {
				ids[i], mask[i] = int32((i*7919+13)%c.VocabSize), 1
			}
			batch := &decoder.Batch{IDs: ids, AttentionMask: mask, Rows: tc.batch, T: tc.length}
			for k := range 2 {
				if _, _, err := m.ForwardBackward(batch, decoder.TrainOptions{LossScale: 0.01, DropoutSeed: uint64(k), Recompute: tc.recompute}); err != nil {
					t.Fatal(err)
				}
			}
			opt.Step(tr.Params, tr.Grads, 1e-3)
			if _, err := m.Loss(batch); err != nil {
				t.Fatal(err)
			}
			got := inUse() - start
			t.Logf("plan %d bytes (%+v), the backend holds %d", plan.Peak, *plan, got)
			if got != plan.Peak {
				t.Errorf("the backend holds %d bytes after the step, the plan says %d (%+d)", got, plan.Peak, got-plan.Peak)
			}
		})
	}
}

// attach starts training a new adapter of config lc on m and returns its
// arenas and AdamW (whose moments the test frees).
func attach(t *testing.T, m *decoder.Model, b backend.Backend, lc lora.Config) (*decoder.Trainable, *train.AdamW) {
	t.Helper()
	a, err := lora.New("t", lc, m.Config.NumHiddenLayers, m.Config.ModuleShape, 3)
	if err != nil {
		t.Fatal(err)
	}
	tr := m.Train(a)
	opt, err := train.NewAdamW(b, tr.N, train.DefaultAdamW)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(opt.Free)
	return tr, opt
}
