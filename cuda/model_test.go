//go:build cgo

package cuda_test

import (
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/cuda"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/golden"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/quant"
	"github.com/tune-dev/tune/safetensors"
	"github.com/tune-dev/tune/train"
)

// within checks got against want: max|got-want| <= tol·max|want|, and
// logs the measured ratio (the number cuda/tolerances_test.go quotes).
// NaN fails.
func within(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var maxWant, worst float64
	for i := range want {
		maxWant = max(maxWant, math.Abs(float64(want[i])))
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= worst) {
			worst = d
		}
	}
	rel := worst / maxWant
	t.Logf("%-28s max|got-want|/max|want| = %.2e (rule %.1e)", what, rel, tol)
	if !(rel <= tol) {
		t.Errorf("%s: max|got-want| = %.3g, %.2e of max|want| %.3g, over %.1e", what, worst, rel, maxWant, tol)
	}
}

// wholeModel opens the backend with o for a test whose name ends in CUDA
// and returns it as a backend.Backend, skipping the test while the
// library lacks an op of the schedule.
func wholeModel(t *testing.T, o cuda.Options) (*cuda.Backend, backend.Backend) {
	t.Helper()
	g := cuda.OpenOrSkip(t, o)
	if err := backend.Require(g, backend.BackendOps, "the whole-model tests"); err != nil {
		t.Skipf("%v", err)
	}
	return g, any(g).(backend.Backend)
}

// TestGoldenCUDA runs the goldens on the CUDA backend, with bfloat16
// activations and weights (both golden models) and with float32 ones
// (qwen2-tiny): the base model's and the adapted model's logits, the loss
// and per-token losses, the LoRA gradients of one step, and five AdamW
// steps' losses, under the rules of cuda.ModelTolerances.
func TestGoldenCUDA(t *testing.T) {
	for _, c := range []struct {
		name, model string
		o           cuda.Options
		tol         cuda.ModelTol
	}{
		{"bf16", "qwen2-tiny", cuda.Options{}, cuda.ModelTolerances.BF16},
		{"bf16", "qwen2-tied", cuda.Options{}, cuda.ModelTolerances.BF16},
		{"fp32", "qwen2-tiny", cuda.Options{Float32: true}, cuda.ModelTolerances.FP32},
	} {
		t.Run(c.name+"/"+c.model, func(t *testing.T) {
			_, b := wholeModel(t, c.o)
			goldenOn(t, b, golden.Open(t, c.model), c.tol)
		})
	}
}

func goldenOn(t *testing.T, b backend.Backend, g *golden.Case, tol cuda.ModelTol) {
	m, err := decoder.Load(filepath.Join(g.Dir, "base_model"), b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	batch := g.Batch(t)
	rows, v := batch.Rows*batch.T, m.Config.VocabSize
	logits := func(what string) {
		x, err := m.Logits(batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, rows*v)
		b.Download(got, x)
		within(t, what, got, first(g.Floats(t, what)), tol.Logits)
	}
	logits("base_logits")

	a, err := lora.Load(filepath.Join(g.Dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
	if err != nil {
		t.Fatal(err)
	}
	m.SetAdapter(a)
	logits("logits")
	res, err := m.Loss(batch)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "loss", []float32{float32(res.Mean)}, first(g.Floats(t, "loss")), tol.Loss)
	tokens := make([]float32, len(res.Token))
	for i, x := range res.Token {
		tokens[i] = float32(x)
	}
	within(t, "token_loss", tokens, first(g.Floats(t, "token_loss")), tol.TokenLoss)

	// One step's LoRA gradients, then five AdamW steps as the goldens
	// took them (lr 1e-3, weight decay 0.01, clipping at 1, the same
	// batch each time).
	tr := m.Train(a)
	opt, err := train.NewAdamW(b, tr.N, train.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Free()
	losses := first(g.Floats(t, "losses_5"))
	got := make([]float32, len(losses))
	for step := range losses {
		b.Zero(tr.Grads, tr.N)
		sum, n, err := m.ForwardBackward(batch, decoder.TrainOptions{LossScale: 1 / float64(res.Tokens)})
		if err != nil {
			t.Fatal(err)
		}
		got[step] = float32(sum / float64(n))
		if step == 0 {
			grads(t, b, tr, g, a, tol.Grad)
		}
		opt.Step(tr.Params, tr.Grads, 1e-3)
	}
	for i := range losses {
		d := math.Abs(float64(got[i])-float64(losses[i])) / float64(losses[i])
		t.Logf("AdamW step %d loss %.6f, golden %.6f: %.2e relative", i+1, got[i], losses[i], d)
		if !(d <= tol.AdamWLoss) {
			t.Errorf("loss before AdamW step %d: %v, golden %v (%.2e relative, over %.0e)", i+1, got[i], losses[i], d, tol.AdamWLoss)
		}
	}
}

// grads compares the gradient of every LoRA factor with the golden's,
// factor by factor.
func grads(t *testing.T, b backend.Backend, tr *decoder.Trainable, g *golden.Case, a *lora.Adapter, tol float64) {
	t.Helper()
	for l, mods := range a.Pairs {
		for mod := range mods {
			for _, f := range []string{"A", "B"} {
				got, ok := tr.Grad(b, l, mod, f)
				if !ok {
					t.Fatalf("layer %d %s is not adapted", l, mod)
				}
				within(t, fmt.Sprintf("grad L%d %s %s", l, mod, f), got, first(g.Floats(t, "grad."+lora.Key(l, mod, f))), tol)
			}
		}
	}
}

// TestStepTransfersCUDA counts the host<->device crossings of one training
// step (the gradients zeroed, the forward and backward pass with LoRA
// dropout and packed sequences, the clipped AdamW step) after a first step
// has sized the arena: the same for 1 and 3 layers, with and without
// recomputation, and a small constant. A step uploads the token ids, and
// the rows the loss scores and their targets (once per chunk of logits;
// one chunk here); positions and the key mask go up once and stay (they
// are the same in every step). It downloads the summed loss and waits for
// the gradient norm: the two scalars the loop logs.
func TestStepTransfersCUDA(t *testing.T) {
	g, b := wholeModel(t, cuda.Options{})
	per := map[bool][]cuda.Transfers{}
	for _, layers := range []int{1, 3} {
		for _, recompute := range []bool{false, true} {
			got := stepTransfers(t, g, b, layers, recompute)
			t.Logf("%d layers, recompute %v: %+v", layers, recompute, got)
			per[recompute] = append(per[recompute], got)
		}
	}
	want := cuda.Transfers{Uploads: 3, Downloads: 1, Waits: 1}
	for recompute, counts := range per {
		for _, c := range counts {
			if c != want {
				t.Errorf("recompute %v: a step made %+v, want %+v whatever the number of layers", recompute, c, want)
			}
		}
	}
}

// stepTransfers trains a random model of the given depth for two steps and
// returns the second step's counts.
func stepTransfers(t *testing.T, g *cuda.Backend, b backend.Backend, layers int, recompute bool) cuda.Transfers {
	eos := 2
	c := &decoder.Config{ModelType: "qwen2", VocabSize: 300, HiddenSize: 32, IntermediateSize: 48, NumHiddenLayers: layers,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 64, RMSNormEps: 1e-6, RopeTheta: 1e4,
		HiddenAct: "silu", EOSTokenID: decoder.TokenIDs{eos}}
	m, err := decoder.NewRandom(c, b, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	tr, opt := attach(t, m, b, lora.Config{R: 4, LoraAlpha: 8, LoraDropout: 0.1, TargetModules: lora.ModuleNames()})
	// Two rows of 12 tokens, each two packed sequences and padding.
	batch := &decoder.Batch{Rows: 2, T: 12, IDs: make([]int32, 24), AttentionMask: make([]int32, 24), Pos: make([]int32, 24)}
	for i := range batch.IDs {
		batch.IDs[i] = int32(7 + 11*i%290)
		seg, at := int32(1), i%12
		if at >= 5 {
			seg, at = 2, at-5
		}
		if i%12 < 10 {
			batch.AttentionMask[i], batch.Pos[i] = seg, int32(at)
		}
	}
	var before cuda.Transfers
	for step := range 2 {
		if step == 1 {
			before = g.Transfers()
		}
		b.Zero(tr.Grads, tr.N)
		if _, _, err := m.ForwardBackward(batch, decoder.TrainOptions{LossScale: 0.05, DropoutSeed: uint64(step), Recompute: recompute}); err != nil {
			t.Fatal(err)
		}
		opt.Step(tr.Params, tr.Grads, 1e-3)
		batch.IDs[3]++ // the next step has other tokens and targets
	}
	after := g.Transfers()
	return cuda.Transfers{Uploads: after.Uploads - before.Uploads, Downloads: after.Downloads - before.Downloads,
		Waits: after.Waits - before.Waits, Allocs: after.Allocs - before.Allocs}
}

// TestQLoRALoadCUDA loads qwen2-tiny for QLoRA on the CUDA backend, which
// quantizes each projection on the device as it streams in: every packed
// projection is byte for byte what package quant makes of the checkpoint's
// weights, and the adapted model's logits are the CPU QLoRA model's within
// the bf16 rule.
func TestQLoRALoadCUDA(t *testing.T) {
	g, b := wholeModel(t, cuda.Options{})
	gold := golden.Open(t, "qwen2-tiny")
	dir := filepath.Join(gold.Dir, "base_model")
	m, err := decoder.LoadWith(dir, b, decoder.LoadOptions{QLoRA: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	for li, l := range m.Layers {
		for name, lin := range map[string]decoder.Linear{"self_attn.q_proj": l.Q, "self_attn.k_proj": l.K, "self_attn.v_proj": l.V,
			"self_attn.o_proj": l.O, "mlp.gate_proj": l.Gate, "mlp.up_proj": l.Up, "mlp.down_proj": l.Down} {
			tn := decoder.LayerName(li, name+".weight")
			x, err := ck.Tensor(tn)
			if err != nil {
				t.Fatal(err)
			}
			w, err := x.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			want, err := quant.Quantize(w, x.Shape, 64, true)
			if err != nil {
				t.Fatal(err)
			}
			if lin.Q == nil {
				t.Fatalf("%s was not quantized", tn)
			}
			if got := g.DownloadNF4(lin.Q); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: the device's NF4 tensor differs from package quant's", tn)
			}
		}
	}
	c, err := decoder.LoadWith(dir, cpu.New(0), decoder.LoadOptions{QLoRA: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free()
	a, err := lora.Load(filepath.Join(gold.Dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
	if err != nil {
		t.Fatal(err)
	}
	batch := gold.Batch(t)
	n := batch.Rows * batch.T * m.Config.VocabSize
	logits := func(m *decoder.Model) []float32 {
		m.SetAdapter(a)
		x, err := m.Logits(batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, n)
		m.Backend.Download(v, x)
		return v
	}
	within(t, "QLoRA logits against the CPU", logits(m), logits(c), cuda.ModelTolerances.BF16.Logits)
}

// first is the values of a golden tensor without its shape.
func first(v []float32, _ []int) []float32 { return v }
