package train_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/conformance"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/quant"
	"github.com/tune-dev/tune/train"
)

// counting is the CPU backend declaring the fused ops as well: each fused
// op counts its calls and runs the composition of package backend on the
// CPU, so a run on it must give bit for bit what the CPU gives, and the
// counts show which fused ops the run reached.
type counting struct {
	*cpu.Backend
	forward, backward, adamw, norms int
}

func (c *counting) Ops() backend.OpSet { return c.Backend.Ops() | backend.FusedOps }

// packed marks an NF4 buffer, so that the fused op knows its weight must
// be dequantized, as the CUDA backend knows from the buffer's type.
type packed struct{ backend.Buffer }

func (c *counting) UploadNF4(q *quant.NF4) backend.Buffer { return packed{c.Backend.UploadNF4(q)} }

func (c *counting) Dequantize(out, q backend.Buffer) { c.Backend.Dequantize(out, q.(packed).Buffer) }

func (c *counting) Free(b backend.Buffer) {
	if p, ok := b.(packed); ok {
		b = p.Buffer
	}
	c.Backend.Free(b)
}

// scratch allocates the composition's scratch for s and returns the CPU's
// own weight buffer.
func (c *counting) scratch(s backend.LoRAShape, w backend.Buffer) (backend.LoRAScratch, backend.Buffer) {
	sc := backend.LoRAScratch{Rank1: c.Alloc(s.Rows * s.Rank), Rank2: c.Alloc(s.Rows * s.Rank), Wide: c.Alloc(s.Rows * max(s.In, s.Out))}
	if p, ok := w.(packed); ok {
		sc.Deq, w = c.Alloc(s.Out*s.In), p.Buffer
	}
	return sc, w
}

func (c *counting) LoRALinearForward(y, x, w, bias, a, b backend.Buffer, s backend.LoRAShape) {
	c.forward++
	sc, w := c.scratch(s, w)
	backend.LoRALinearForward(c.Backend, y, x, w, bias, a, b, s, sc)
}

func (c *counting) LoRALinearBackward(dx, da, db, dy, x, w, a, b backend.Buffer, s backend.LoRAShape) {
	c.backward++
	sc, w := c.scratch(s, w)
	backend.LoRALinearBackward(c.Backend, dx, da, db, dy, x, w, a, b, s, sc)
}

func (c *counting) AdamWClipped(p, g, m, v backend.Buffer, n int, s backend.AdamWStep, maxNorm float64) float64 {
	c.adamw++
	return backend.AdamWClipped(c.Backend, p, g, m, v, n, s, maxNorm)
}

// QuantizeNF4 and CrossEntropySum are the compositions of package backend
// too, so training with QLoRA loads and sums its loss through them.
func (c *counting) QuantizeNF4(w backend.Buffer, shape []int, blockSize int) backend.Buffer {
	q, err := backend.QuantizeNF4(c.Backend, w, shape, blockSize)
	if err != nil {
		panic(err)
	}
	return packed{q}
}

func (c *counting) CrossEntropySum(sum, logits backend.Buffer, targets []int32, rows, vocab int, scale float32) {
	backend.CrossEntropySum(c.Backend, sum, logits, targets, rows, vocab, scale)
}

func (c *counting) AddRMSNorm(sum, h, a, b, w backend.Buffer, rows, dim int, eps float32) {
	c.norms++
	backend.AddRMSNorm(c.Backend, sum, h, a, b, w, rows, dim, eps)
}

// counts are the calls of LoRALinearForward, LoRALinearBackward,
// AdamWClipped and AddRMSNorm so far.
func (c *counting) counts() [4]int { return [4]int{c.forward, c.backward, c.adamw, c.norms} }

// fusedOnly declares only the fused ops of a counting backend, and the
// NF4 ops the QuantizeNF4 check reads its result with.
type fusedOnly struct{ *counting }

func (fusedOnly) Ops() backend.OpSet { return backend.FusedOps | backend.QuantOps }

// TestCountingBackendConforms checks the counting backend's fused ops, that
// is the compositions of package backend, against the compositions the
// conformance suite writes from backend/fused.go's documentation: they are
// the same ops in the same order, so they agree exactly.
func TestCountingBackendConforms(t *testing.T) {
	conformance.Test(t, fusedOnly{&counting{Backend: cpu.New(0)}}, conformance.Tolerances{})
}

// TestFusedOpsOnTheRealPath runs training (with dropout, evaluation and
// clipping), evaluation alone and generation on the counting backend, with
// float and NF4 (QLoRA) base weights, and checks that every path reaches
// the fused LoRA linear layer, the fused add + RMSNorm and (in training)
// the clipped AdamW step, and gives what the CPU alone gives.
func TestFusedOpsOnTheRealPath(t *testing.T) {
	data := dataDir(t)
	for _, qlora := range []bool{false, true} {
		t.Run(map[bool]string{false: "lora", true: "qlora"}[qlora], func(t *testing.T) {
			var results [2]*train.Result
			var adapters [2][]byte
			var tokens [2][]int32
			fused := &counting{Backend: cpu.New(0)}
			for i, b := range []backend.Backend{cpu.New(0), fused} {
				out := filepath.Join(t.TempDir(), "run")
				cfg := baseConfig(data, out)
				cfg.UseQLoRA = qlora
				cfg.LoRA.TargetModules = []string{"q_proj", "v_proj", "down_proj"} // frozen projections beside adapted ones
				cfg.MaxSteps, cfg.EvalSteps, cfg.SaveSteps = 2, 2, 2
				res, err := train.Run(context.Background(), cfg, b)
				require.NoError(t, err)
				results[i] = res
				adapters[i], err = os.ReadFile(filepath.Join(out, "adapter_model.safetensors"))
				require.NoError(t, err)
				if b == fused {
					c := fused.counts()
					require.Positive(t, c[0], "training reaches LoRALinearForward")
					require.Positive(t, c[1], "training reaches LoRALinearBackward")
					require.Equal(t, 2, c[2], "each optimizer step is one AdamWClipped")
					require.Positive(t, c[3], "training reaches AddRMSNorm")
				}

				before := fused.counts()
				ev := cfg
				ev.EvalOnly, ev.Resume = true, filepath.Join(out, "checkpoint-2")
				er, err := train.Run(context.Background(), ev, b)
				require.NoError(t, err)
				require.Equal(t, res.EvalLoss, er.EvalLoss)
				if b == fused {
					c := fused.counts()
					require.Greater(t, c[0], before[0], "evaluation reaches LoRALinearForward")
					require.Greater(t, c[3], before[3], "evaluation reaches AddRMSNorm")
					require.Equal(t, before[1:3], c[1:3], "evaluation runs no backward pass and no optimizer")
				}

				before = fused.counts()
				m, err := decoder.LoadWith(tinyBase, b, decoder.LoadOptions{QLoRA: qlora})
				require.NoError(t, err)
				a, err := lora.Load(out, "final", m.Config.NumHiddenLayers, m.Config.ModuleShape)
				require.NoError(t, err)
				m.SetAdapter(a)
				g := decoder.DefaultGenerationConfig()
				g.MaxNewTokens = 4
				tokens[i], err = m.Generate([]int32{5, 17, 300, 42}, g, nil)
				require.NoError(t, err)
				m.Free()
				if b == fused {
					c := fused.counts()
					require.Greater(t, c[0], before[0], "generation reaches LoRALinearForward")
					require.Greater(t, c[3], before[3], "generation reaches AddRMSNorm")
					require.Equal(t, before[1:3], c[1:3], "generation runs no backward pass and no optimizer")
				}
			}
			// A backend that sums the loss on the device (CrossEntropySum)
			// adds it up in float32, the CPU in float64.
			require.InEpsilon(t, results[0].FinalLoss, results[1].FinalLoss, 1e-6)
			require.Equal(t, results[0].EvalLoss, results[1].EvalLoss)
			require.Equal(t, adapters[0], adapters[1], "the trained adapters are bit-identical")
			require.Equal(t, tokens[0], tokens[1])
		})
	}
}

// lacking is the CPU backend without one declared op.
type lacking struct {
	*cpu.Backend
	op backend.Op
}

func (l lacking) Ops() backend.OpSet { return l.Backend.Ops() &^ backend.Set(l.op) }

// TestRefusesBackendWithoutOp checks that the model and the optimizer
// refuse, with an error naming the op, a backend that lacks an op they
// need: inference at load time, training at its first step, the
// optimizer when it is made.
func TestRefusesBackendWithoutOp(t *testing.T) {
	_, err := decoder.Load(tinyBase, lacking{cpu.New(1), backend.OpAttention})
	require.ErrorContains(t, err, "lacks op Attention, which the model needs")
	_, err = decoder.LoadWith(tinyBase, lacking{cpu.New(1), backend.OpDequantize}, decoder.LoadOptions{QLoRA: true})
	require.ErrorContains(t, err, "lacks op Dequantize, which the model needs")

	for _, c := range []struct {
		op      backend.Op
		dropout float64
	}{{backend.OpAttentionBackward, 0}, {backend.OpDropout, 0.1}, {backend.OpLinearWeightGrad, 0}} {
		b := lacking{cpu.New(1), c.op}
		m, err := decoder.Load(tinyBase, b)
		require.NoError(t, err, "inference needs no %s", c.op)
		a, err := lora.New("t", lora.Config{R: 2, LoraAlpha: 4, LoraDropout: c.dropout, TargetModules: []string{"q_proj"}}, m.Config.NumHiddenLayers, m.Config.ModuleShape, 1)
		require.NoError(t, err)
		m.Train(a)
		_, _, err = m.ForwardBackward(&decoder.Batch{IDs: []int32{1, 2, 3}, Rows: 1, T: 3}, decoder.TrainOptions{LossScale: 1})
		require.ErrorContains(t, err, "lacks op "+c.op.String()+", which training needs")
		m.Free()
	}

	_, err = train.NewAdamW(lacking{cpu.New(1), backend.OpSumSquares}, 10, train.DefaultAdamW)
	require.ErrorContains(t, err, "lacks op SumSquares, which the AdamW optimizer needs")
}
