package decoder_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/golden"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/quant"
	"github.com/tune-dev/tune/safetensors"
)

// TestQLoRAMatchesDequantizedWeights checks the QLoRA path against a float
// model holding the same NF4 round-trip weights: the logits, the loss and
// every LoRA gradient agree exactly, because the NF4 weights are
// dequantized to the very same floats before each matrix product.
func TestQLoRAMatchesDequantizedWeights(t *testing.T) {
	dir := filepath.Join("..", "testdata", "golden", "qwen2-tiny")
	base := filepath.Join(dir, "base_model")
	ref := loadModel(t, base)
	ck, err := safetensors.OpenCheckpoint(base)
	require.NoError(t, err)
	defer ck.Close()
	for _, s := range ref.Config.Specs() {
		if !decoder.Projection(s.Name) {
			continue
		}
		tn, err := ck.Tensor(s.Name)
		require.NoError(t, err)
		w, err := tn.Float32s()
		require.NoError(t, err)
		q, err := quant.Quantize(w, s.Shape, 64, true)
		require.NoError(t, err)
		q.Dequantize(w)
		setWeight(t, ref, s.Name, w)
	}
	qm, err := decoder.LoadWith(base, cpu.New(0), decoder.LoadOptions{QLoRA: true})
	require.NoError(t, err)
	defer qm.Free()
	require.Nil(t, qm.Layers[0].Q.W)
	require.NotNil(t, qm.Layers[0].Q.Q)

	g := golden.Open(t, "qwen2-tiny")
	b := g.Batch(t)
	var grads [2]map[string][]float32
	var losses [2]float64
	for i, m := range []*decoder.Model{ref, qm} {
		a, err := lora.Load(filepath.Join(dir, "adapter"), "default", m.Config.NumHiddenLayers, m.Config.ModuleShape)
		require.NoError(t, err)
		tr := m.Train(a)
		sum, n, err := m.ForwardBackward(b, decoder.TrainOptions{LossScale: 1.0 / 14})
		require.NoError(t, err)
		losses[i] = sum / float64(n)
		grads[i] = map[string][]float32{}
		for l := 0; l < m.Config.NumHiddenLayers; l++ {
			for _, mod := range lora.Modules {
				ga, _ := tr.Grad(m.Backend, l, mod.Name, "A")
				grads[i][lora.Key(l, mod.Name, "A")] = ga
			}
		}
	}
	require.Equal(t, losses[0], losses[1])
	require.Equal(t, grads[0], grads[1])
	// QLoRA moves the loss only slightly from the float model's.
	want, _ := g.Floats(t, "loss")
	require.InDelta(t, float64(want[0]), losses[1], 0.05)
}

// setWeight replaces one projection weight of a float model.
func setWeight(t *testing.T, m *decoder.Model, name string, w []float32) {
	t.Helper()
	for li := range m.Layers {
		L := &m.Layers[li]
		for mod, lin := range map[string]*decoder.Linear{"self_attn.q_proj": &L.Q, "self_attn.k_proj": &L.K, "self_attn.v_proj": &L.V,
			"self_attn.o_proj": &L.O, "mlp.gate_proj": &L.Gate, "mlp.up_proj": &L.Up, "mlp.down_proj": &L.Down} {
			if decoder.LayerName(li, mod+".weight") == name {
				m.Backend.Upload(lin.W, w)
				return
			}
		}
	}
	t.Fatalf("no weight %s", name)
}

// TestLoadPrequantized writes a checkpoint whose projections are stored in
// bitsandbytes' 4-bit layout and checks it loads as NF4 (without asking
// for QLoRA) with the same logits as quantizing at load time.
func TestLoadPrequantized(t *testing.T) {
	base := filepath.Join("..", "testdata", "golden", "qwen2-tiny", "base_model")
	ck, err := safetensors.OpenCheckpoint(base)
	require.NoError(t, err)
	defer ck.Close()
	var ts []safetensors.Tensor
	for _, name := range ck.Names() {
		tn, err := ck.Tensor(name)
		require.NoError(t, err)
		if !decoder.Projection(name) {
			ts = append(ts, tn)
			continue
		}
		w, err := tn.Float32s()
		require.NoError(t, err)
		q, err := quant.Quantize(w, tn.Shape, 64, true)
		require.NoError(t, err)
		qt, err := q.Tensors(name)
		require.NoError(t, err)
		ts = append(ts, qt...)
	}
	dir := t.TempDir()
	require.NoError(t, safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}))
	cfg, err := os.ReadFile(filepath.Join(base, "config.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644))

	pre := loadModel(t, dir)
	require.NotNil(t, pre.Layers[1].Down.Q, "the 4-bit checkpoint loads as NF4")
	qm, err := decoder.LoadWith(base, cpu.New(0), decoder.LoadOptions{QLoRA: true})
	require.NoError(t, err)
	defer qm.Free()
	b := golden.Open(t, "qwen2-tiny").Batch(t)
	l1, err := pre.Loss(b)
	require.NoError(t, err)
	l2, err := qm.Loss(b)
	require.NoError(t, err)
	require.Equal(t, l2.Mean, l1.Mean)
}
