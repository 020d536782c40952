package decoder_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/quant"
	"github.com/tune-dev/tune/safetensors"
)

// TestLoadRefusesNonFiniteWeights: a NaN or infinite weight, stored in
// F32 or BF16, plain or read for QLoRA, or in the scales of a 4-bit
// checkpoint, stops Load with the file, the tensor and the first bad
// element, also when that element is not in the first piece the loader
// streams.
func TestLoadRefusesNonFiniteWeights(t *testing.T) {
	smallPieces(t, testLoadRefusesNonFiniteWeights)
}

func testLoadRefusesNonFiniteWeights(t *testing.T) {
	down := "model.layers.1.mlp.down_proj.weight"
	for _, c := range []struct {
		tensor string
		value  float32
		want   string
	}{
		{down, float32(math.NaN()), "element 5 [0, 5] is NaN"},
		{decoder.EmbedName, float32(math.Inf(-1)), "element 5 [0, 5] is -Inf"},
	} {
		for _, dt := range []safetensors.DType{safetensors.F32, safetensors.BF16} {
			dir := t.TempDir()
			require.NoError(t, decoder.SaveRandomWith(dir, tinyConfig(), 7, dt, 0, func(s decoder.TensorSpec, v []float32) {
				if s.Name == c.tensor {
					v[5], v[9] = c.value, c.value
				}
			}))
			for _, o := range []decoder.LoadOptions{{}, {QLoRA: true}} {
				_, err := decoder.LoadWith(dir, cpu.New(0), o)
				require.ErrorContains(t, err, filepath.Join(dir, "model.safetensors"))
				require.ErrorContains(t, err, `tensor "`+c.tensor+`"`)
				require.ErrorContains(t, err, c.want)
			}
		}
	}

	// A 4-bit checkpoint whose block scales hold a NaN.
	dir := t.TempDir()
	var ts []safetensors.Tensor
	cfg := tinyConfig()
	for _, s := range cfg.Specs() {
		v := decoder.RandomTensor(s, 7)
		if !decoder.Projection(s.Name) {
			ts = append(ts, safetensors.F32Tensor(s.Name, s.Shape, v))
			continue
		}
		q, err := quant.Quantize(v, s.Shape, 64, true)
		require.NoError(t, err)
		qt, err := q.Tensors(s.Name)
		require.NoError(t, err)
		for _, x := range qt {
			if x.Name == down+".nested_absmax" {
				copy(x.Data, safetensors.EncodeF32([]float32{float32(math.NaN())}))
			}
		}
		ts = append(ts, qt...)
	}
	require.NoError(t, decoder.SaveRandom(dir, cfg, 7, safetensors.F32, 0)) // config.json
	require.NoError(t, safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, nil))
	_, err := decoder.Load(dir, cpu.New(0))
	require.ErrorContains(t, err, filepath.Join(dir, "model.safetensors"))
	require.ErrorContains(t, err, `tensor "`+down+`.nested_absmax"`)
	require.ErrorContains(t, err, "element 0 [0] is NaN")
}

// TestGenerateStopsOnNonFiniteLogits: finite weights can still overflow
// (a final norm gain of 3e38); generation then stops with an error instead
// of emitting token 0 for every step.
func TestGenerateStopsOnNonFiniteLogits(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, decoder.SaveRandomWith(dir, tinyConfig(), 7, safetensors.F32, 0, func(s decoder.TensorSpec, v []float32) {
		if s.Name == decoder.NormName {
			for i := range v {
				v[i] = 3e38
			}
		}
	}))
	m, err := decoder.Load(dir, cpu.New(0))
	require.NoError(t, err)
	defer m.Free()
	g := decoder.DefaultGenerationConfig()
	g.MaxNewTokens = 4
	emitted := 0
	_, err = m.Generate([]int32{1, 2, 3}, g, func(int32) bool { emitted++; return true })
	require.ErrorContains(t, err, "prompt 0: new token 1")
	require.ErrorContains(t, err, "not finite")
	require.Zero(t, emitted)
	_, err = m.GenerateBatch([][]int32{{1, 2}, {3}}, g, nil)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "is NaN") || strings.Contains(err.Error(), "Inf"), err.Error())
}
