package train

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/cuda"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/testmodel"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/quant"
)

// countingBackend runs the CPU backend and counts the bytes its buffers
// would take stored as s stores them: Alloc float32, AllocActivation in
// s.Activations, UploadNF4 by s.NF4Bytes. Views (Slice) take nothing.
type countingBackend struct {
	backend.Backend
	s          backend.Storage
	live       map[backend.Buffer]int64
	nf4        map[backend.Buffer]bool
	used, peak int64
}

func newCounting(s backend.Storage) *countingBackend {
	return &countingBackend{Backend: cpu.New(1), s: s, live: map[backend.Buffer]int64{}, nf4: map[backend.Buffer]bool{}}
}

func (c *countingBackend) take(b backend.Buffer, bytes int64) backend.Buffer {
	c.live[b] = bytes
	c.used += bytes
	c.peak = max(c.peak, c.used)
	return b
}

func (c *countingBackend) Alloc(n int) backend.Buffer {
	return c.take(c.Backend.Alloc(n), 4*int64(n))
}

func (c *countingBackend) AllocWeight(n int) backend.Buffer {
	return c.take(c.Backend.AllocWeight(n), int64(n*c.s.Weights.Size()))
}

func (c *countingBackend) AllocActivation(n int) backend.Buffer {
	return c.take(c.Backend.AllocActivation(n), int64(n*c.s.Activations.Size()))
}

func (c *countingBackend) UploadNF4(q *quant.NF4) backend.Buffer {
	b := c.Backend.UploadNF4(q)
	c.nf4[b] = true
	return c.take(b, c.s.NF4Bytes(q.Len(), q.BlockSize))
}

func (c *countingBackend) Free(b backend.Buffer) {
	c.used -= c.live[b]
	delete(c.live, b)
	c.Backend.Free(b)
}

// fusedCounting is countingBackend with the fused LoRA layer: the CPU's
// composition on scratch of its own, which stands for a device kernel's
// internal scratch and is not counted (its Storage has no Workspace).
type fusedCounting struct{ *countingBackend }

func (f fusedCounting) Ops() backend.OpSet {
	return f.Backend.Ops() | backend.Set(backend.OpLoRALinear)
}

func (f fusedCounting) scratch(w backend.Buffer, s backend.LoRAShape) backend.LoRAScratch {
	cpuB := f.Backend
	sc := backend.LoRAScratch{Rank1: cpuB.Alloc(s.Rows * s.Rank), Rank2: cpuB.Alloc(s.Rows * s.Rank), Wide: cpuB.Alloc(s.Rows * max(s.In, s.Out))}
	if f.nf4[w] {
		sc.Deq = cpuB.Alloc(s.In * s.Out)
	}
	return sc
}

func (f fusedCounting) LoRALinearForward(y, x, w, bias, a, b backend.Buffer, s backend.LoRAShape) {
	backend.LoRALinearForward(f.Backend, y, x, w, bias, a, b, s, f.scratch(w, s))
}

func (f fusedCounting) LoRALinearBackward(dx, da, db, dy, x, w, a, b backend.Buffer, s backend.LoRAShape) {
	backend.LoRALinearBackward(f.Backend, dx, da, db, dy, x, w, a, b, s, f.scratch(w, s))
}

// TestPlanMatchesAllocations runs what Run allocates and runs for a
// micro-batch of full-length rows (the model, the adapter's arenas,
// AdamW's moments, two accumulated ForwardBackward steps, an optimizer step, an
// evaluation pass) on testmodel's model, counting the bytes of every
// buffer as the CUDA backend stores activations and NF4 weights, and
// requires the peak to be exactly what decoder.PlanMemory plans.
func TestPlanMatchesAllocations(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, testmodel.Write(dir, 5))
	mc := testmodel.Config()
	storage := backend.Storage{Name: "cpu with CUDA's activations and NF4", Weights: backend.Float32,
		Activations: backend.BFloat16, FusedLoRA: cpu.Storage.FusedLoRA, NF4Bytes: cuda.Storage.NF4Bytes}
	for _, tc := range []struct {
		qlora, recompute, fused bool
		modules                 []string
		batch, length           int
	}{
		{true, false, false, allModules, 2, 24},
		{true, true, false, allModules, 1, 33},
		{false, false, false, []string{"q_proj", "v_proj"}, 3, 7},
		{false, true, false, []string{"down_proj", "gate_proj"}, 2, 16},
		{true, false, true, allModules, 2, 24},         // no dequantization room
		{true, true, true, []string{"up_proj"}, 2, 24}, // frozen NF4 projections need it
		{false, false, true, allModules, 1, 9},
	} {
		storage := storage
		storage.FusedLoRA = tc.fused
		t.Run(fmt.Sprintf("qlora=%v,recompute=%v,fused=%v,%v,%dx%d", tc.qlora, tc.recompute, tc.fused, tc.modules, tc.batch, tc.length), func(t *testing.T) {
			lc := lora.Config{R: 4, LoraAlpha: 8, LoraDropout: 0.1, TargetModules: tc.modules}
			plan, err := decoder.PlanMemory(mc, decoder.MemoryOptions{LoRA: lc, QLoRA: tc.qlora, Batch: tc.batch,
				MaxLength: tc.length, Recompute: tc.recompute, Storage: storage})
			require.NoError(t, err)

			counted := newCounting(storage)
			var b backend.Backend = counted
			if tc.fused {
				b = fusedCounting{counted}
			}
			m, err := decoder.LoadWith(filepath.Clean(dir), b, decoder.LoadOptions{QLoRA: tc.qlora})
			require.NoError(t, err)
			a, err := lora.New("default", lc, mc.NumHiddenLayers, mc.ModuleShape, 1)
			require.NoError(t, err)
			tr := m.Train(a)
			opt, err := NewAdamW(b, tr.N, DefaultAdamW)
			require.NoError(t, err)
			require.Equal(t, plan.TrainableParams, tr.N)
			batch := fullBatch(tc.batch, tc.length, mc.VocabSize)
			for k := range 2 {
				_, _, err := m.ForwardBackward(batch, decoder.TrainOptions{LossScale: 0.01, DropoutSeed: uint64(k), Recompute: tc.recompute})
				require.NoError(t, err)
			}
			opt.Step(tr.Params, tr.Grads, 1e-3)
			_, err = m.Loss(batch)
			require.NoError(t, err)
			t.Logf("plan %d bytes (%+v), counted peak %d", plan.Peak, *plan, counted.peak)
			require.Equal(t, plan.Peak, counted.peak, "planned peak against the counted peak")
		})
	}
}

// fullBatch is a batch of rows × length tokens with no padding, ids drawn
// deterministically below vocab.
func fullBatch(rows, length, vocab int) *decoder.Batch {
	ids := make([]int32, rows*length)
	for i := range ids {
		ids[i] = int32((i*7919 + 13) % vocab)
	}
	return &decoder.Batch{IDs: ids, Rows: rows, T: length}
}

var allModules = lora.ModuleNames()
