package quant

import (
	"errors"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/safetensors"
)

// smallNF4 is a hand-made double-quantized 3x37 tensor in blocks of 32: 4
// blocks, so 56 packed bytes, 4 quantized absmax values and 1 nested block.
func smallNF4() *NF4 {
	data := make([]byte, 56)
	for i := range data {
		data[i] = byte(i * 37)
	}
	return &NF4{
		Shape:     []int{3, 37},
		BlockSize: 32,
		Data:      data,
		Double: &DoubleQuant{
			QAbsmax:   []uint8{3, 200, 255, 0},
			Code:      DynamicMap(),
			Absmax:    []float32{0.25},
			BlockSize: 256,
			Offset:    0.0123,
		},
		DType: "bfloat16",
	}
}

type tensorInfo struct {
	dtype safetensors.DType
	shape []int
}

// TestTensorsLayout: names, dtypes and shapes follow
// QuantState.as_dict(packed=True) as Linear4bit saves it under the weight's
// name, and the JSON is byte for byte Python's json.dumps of the
// non-tensor items in as_dict's order.
func TestTensorsLayout(t *testing.T) {
	ts, err := smallNF4().Tensors("m.w")
	require.NoError(t, err)
	got := map[string]tensorInfo{}
	byName := map[string]safetensors.Tensor{}
	for _, x := range ts {
		got[x.Name] = tensorInfo{x.DType, x.Shape}
		byName[x.Name] = x
	}
	json := `{"quant_type": "nf4", "blocksize": 32, "dtype": "bfloat16", "shape": [3, 37], ` +
		`"nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.012299999594688416}`
	assert.Equal(t, map[string]tensorInfo{
		"m.w":                               {safetensors.U8, []int{56, 1}},
		"m.w.absmax":                        {safetensors.U8, []int{4}},
		"m.w.quant_map":                     {safetensors.F32, []int{16}},
		"m.w.nested_absmax":                 {safetensors.F32, []int{1}},
		"m.w.nested_quant_map":              {safetensors.F32, []int{256}},
		"m.w.quant_state.bitsandbytes__nf4": {safetensors.U8, []int{len(json)}},
	}, got)
	assert.Equal(t, json, string(byName["m.w.quant_state.bitsandbytes__nf4"].Data))
	qm, err := byName["m.w.quant_map"].Float32s()
	require.NoError(t, err)
	assert.Equal(t, NF4Code[:], qm)
	assert.Equal(t, []byte{3, 200, 255, 0}, byName["m.w.absmax"].Data)

	single, err := Quantize([]float32{1, -1, 0.5, 0, 0.25, -0.75, 0.1}, []int{7}, 64, false)
	require.NoError(t, err)
	single.DType = "float16"
	ts, err = single.Tensors("w")
	require.NoError(t, err)
	names := []string{}
	for _, x := range ts {
		names = append(names, x.Name)
		if x.Name == "w.absmax" {
			assert.Equal(t, tensorInfo{safetensors.F32, []int{1}}, tensorInfo{x.DType, x.Shape})
		}
		if x.Name == "w.quant_state.bitsandbytes__nf4" {
			assert.Equal(t, `{"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [7]}`, string(x.Data))
		}
	}
	assert.Equal(t, []string{"w", "w.absmax", "w.quant_map", "w.quant_state.bitsandbytes__nf4"}, names)
}

func TestTensorsRejectsInconsistent(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*NF4)
		want   string
	}{
		{"data length", func(q *NF4) { q.Data = q.Data[1:] }, "quant: w: 55 packed bytes for 111 elements, want 56"},
		{"dtype", func(q *NF4) { q.DType = "int8" }, `quant: w: dtype "int8": unsupported quantization`},
		{"qabsmax length", func(q *NF4) { q.Double.QAbsmax = q.Double.QAbsmax[:3] }, "3 quantized absmax values for 4 blocks"},
		{"both absmax kinds", func(q *NF4) { q.Absmax = []float32{1, 1, 1, 1} }, "both Absmax and Double are set"},
		{"block size", func(q *NF4) { q.BlockSize = 100 }, "block size 100 is not a power of two"},
		{"nested block size", func(q *NF4) { q.Double.BlockSize = 0 }, "nested block size 0 is not a power of two"},
		{"nested absmax length", func(q *NF4) { q.Double.Absmax = nil }, "0 nested absmax values for 1 nested blocks"},
		{"absmax length", func(q *NF4) { q.Double, q.Absmax = nil, []float32{1} }, "1 absmax values for 4 blocks"},
		{"no elements", func(q *NF4) { q.Shape = []int{0} }, "shape [0] holds no elements"},
		{"negative dimension", func(q *NF4) { q.Shape = []int{-111} }, "negative dimension in shape [-111]"},
	} {
		q := smallNF4()
		c.mutate(q)
		_, err := q.Tensors("w")
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
	}
}

func tensorMap(t *testing.T, q *NF4, name string) map[string]safetensors.Tensor {
	ts, err := q.Tensors(name)
	require.NoError(t, err)
	m := map[string]safetensors.Tensor{}
	for _, x := range ts {
		m[x.Name] = x
	}
	return m
}

func getter(m map[string]safetensors.Tensor) func(string) (safetensors.Tensor, bool) {
	return func(name string) (safetensors.Tensor, bool) {
		t, ok := m[name]
		return t, ok
	}
}

// TestReadRoundTrip: Read(Tensors(q)) is q, bit for bit, in memory and
// through a safetensors file, and the result does not alias the file.
func TestReadRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	w := randn(r, 67*129, 0.05)
	for _, double := range []bool{false, true} {
		q, err := Quantize(w, []int{67, 129}, 128, double)
		require.NoError(t, err)
		q.DType = "bfloat16"
		got, err := Read("layer.weight", getter(tensorMap(t, q, "layer.weight")))
		require.NoError(t, err)
		require.Equal(t, q, got, "double=%v", double)

		ts, err := q.Tensors("layer.weight")
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "model.safetensors")
		require.NoError(t, safetensors.WriteFile(path, ts, nil))
		ck, err := safetensors.OpenCheckpoint(path)
		require.NoError(t, err)
		require.True(t, IsQuantized("layer.weight", ck.Has))
		got, err = Read("layer.weight", func(name string) (safetensors.Tensor, bool) {
			t, err := ck.Tensor(name)
			return t, err == nil
		})
		require.NoError(t, err)
		require.NoError(t, ck.Close())
		require.Equal(t, q, got, "double=%v through a file", double)
		a := make([]float32, q.Len())
		b := make([]float32, q.Len())
		q.Dequantize(a)
		got.Dequantize(b) // after Close: Read copied the data
		require.Equal(t, a, b)
	}
}

// TestReadAccepts: variants bitsandbytes produces that Read must load.
func TestReadAccepts(t *testing.T) {
	q := smallNF4()
	// quant_storage=torch.bfloat16 (FSDP QLoRA): the packed bytes viewed
	// as BF16, shape [(n+1)/4, 1].
	m := tensorMap(t, q, "w")
	m["w"] = safetensors.Tensor{Name: "w", DType: safetensors.BF16, Shape: []int{28, 1}, Data: m["w"].Data}
	got, err := Read("w", getter(m))
	require.NoError(t, err)
	assert.Equal(t, q, got)

	// A dtype written with its "torch." prefix.
	m = tensorMap(t, q, "w")
	js := `{"quant_type": "nf4", "blocksize": 32, "dtype": "torch.bfloat16", "shape": [3, 37], ` +
		`"nested_blocksize": 256, "nested_dtype": "torch.float32", "nested_offset": 0.012299999594688416}`
	m["w.quant_state.bitsandbytes__nf4"] = safetensors.U8Tensor("w.quant_state.bitsandbytes__nf4", []int{len(js)}, []byte(js))
	got, err = Read("w", getter(m))
	require.NoError(t, err)
	assert.Equal(t, q, got)
}

// TestReadErrors: each broken checkpoint gives an error that names the
// tensor at fault.
func TestReadErrors(t *testing.T) {
	const state = "w.quant_state.bitsandbytes__nf4"
	js := func(s string) safetensors.Tensor { return safetensors.U8Tensor(state, []int{len(s)}, []byte(s)) }
	double := func(t *testing.T) map[string]safetensors.Tensor { return tensorMap(t, smallNF4(), "w") }
	single := func(t *testing.T) map[string]safetensors.Tensor {
		q, err := Quantize(make([]float32, 111), []int{3, 37}, 32, false)
		require.NoError(t, err)
		return tensorMap(t, q, "w")
	}
	for _, c := range []struct {
		name        string
		base        func(*testing.T) map[string]safetensors.Tensor
		mutate      func(map[string]safetensors.Tensor)
		want        string
		unsupported bool
	}{
		{"no quant state", double, func(m map[string]safetensors.Tensor) { delete(m, state) },
			`quant: tensor "w.quant_state.bitsandbytes__nf4": missing`, false},
		{"fp4", double, func(m map[string]safetensors.Tensor) {
			m["w.quant_state.bitsandbytes__fp4"] = m[state]
			delete(m, state)
		}, `quant: tensor "w.quant_state.bitsandbytes__fp4": quant_type "fp4": unsupported quantization; only nf4 is supported`, true},
		{"fp4 in the JSON", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "fp4", "blocksize": 32, "dtype": "bfloat16", "shape": [3, 37]}`)
		}, `tensor "w.quant_state.bitsandbytes__nf4": quant_type "fp4": unsupported quantization; only nf4 is supported`, true},
		{"corrupt JSON", double, func(m map[string]safetensors.Tensor) { m[state] = js(`{"quant_type": "nf4", "blocksize": 3`) },
			`tensor "w.quant_state.bitsandbytes__nf4": bad JSON`, false},
		{"JSON without shape", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "nf4", "blocksize": 32, "dtype": "bfloat16"}`)
		}, `tensor "w.quant_state.bitsandbytes__nf4": needs quant_type, blocksize, dtype and shape`, false},
		{"quant state as F32", double, func(m map[string]safetensors.Tensor) {
			m[state] = safetensors.F32Tensor(state, []int{1}, []float32{0})
		}, `tensor "w.quant_state.bitsandbytes__nf4": F32 [1], want U8`, false},
		{"unknown dtype", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "nf4", "blocksize": 32, "dtype": "int8", "shape": [3, 37]}`)
		}, `tensor "w.quant_state.bitsandbytes__nf4": dtype "int8": unsupported quantization`, true},
		{"bad blocksize", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "nf4", "blocksize": 48, "dtype": "bfloat16", "shape": [3, 37]}`)
		}, `tensor "w.quant_state.bitsandbytes__nf4": blocksize 48 is not a power of two`, false},
		{"partial nested keys", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "nf4", "blocksize": 32, "dtype": "bfloat16", "shape": [3, 37], "nested_offset": 0.5}`)
		}, `tensor "w.quant_state.bitsandbytes__nf4": needs all of nested_blocksize, nested_dtype and nested_offset`, false},
		{"nested dtype", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "nf4", "blocksize": 32, "dtype": "bfloat16", "shape": [3, 37], ` +
				`"nested_blocksize": 256, "nested_dtype": "float16", "nested_offset": 0.5}`)
		}, `nested_dtype "float16": unsupported quantization; want float32`, true},
		{"more elements than packed bytes", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "nf4", "blocksize": 32, "dtype": "bfloat16", "shape": [3, 38], ` +
				`"nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.5}`)
		}, `quant: tensor "w": U8 [56 1] holding 56 bytes, want U8 [57, 1] for 114 elements`, false},
		{"no elements", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "nf4", "blocksize": 32, "dtype": "bfloat16", "shape": [0, 37]}`)
		}, `tensor "w.quant_state.bitsandbytes__nf4": shape [0 37] holds no elements`, false},
		{"negative dimension", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "nf4", "blocksize": 32, "dtype": "bfloat16", "shape": [-3, 37]}`)
		}, `tensor "w.quant_state.bitsandbytes__nf4": negative dimension in shape [-3 37]`, false},
		{"bad nested blocksize", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "nf4", "blocksize": 32, "dtype": "bfloat16", "shape": [3, 37], ` +
				`"nested_blocksize": 100, "nested_dtype": "float32", "nested_offset": 0.5}`)
		}, `nested_blocksize 100 is not a power of two`, false},
		{"infinite nested offset", double, func(m map[string]safetensors.Tensor) {
			m[state] = js(`{"quant_type": "nf4", "blocksize": 32, "dtype": "bfloat16", "shape": [3, 37], ` +
				`"nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 1e39}`)
		}, `tensor "w.quant_state.bitsandbytes__nf4": nested_offset 1e+39 is not finite`, false},
		{"quant map bytes", double, func(m map[string]safetensors.Tensor) {
			qm := m["w.quant_map"]
			qm.Data = qm.Data[:60]
			m["w.quant_map"] = qm
		}, `quant: tensor "w.quant_map": safetensors: tensor "w.quant_map": shape [16] × F32 = 64 bytes but Data holds 60`, false},
		{"missing weight", double, func(m map[string]safetensors.Tensor) { delete(m, "w") }, `quant: tensor "w": missing`, false},
		{"weight shape", double, func(m map[string]safetensors.Tensor) {
			m["w"] = safetensors.U8Tensor("w", []int{28, 2}, m["w"].Data)
		}, `quant: tensor "w": U8 [28 2] holding 56 bytes`, false},
		{"missing absmax", double, func(m map[string]safetensors.Tensor) { delete(m, "w.absmax") },
			`quant: tensor "w.absmax": missing`, false},
		{"absmax shape", double, func(m map[string]safetensors.Tensor) {
			m["w.absmax"] = safetensors.U8Tensor("w.absmax", []int{5}, []byte{1, 2, 3, 4, 5})
		}, `quant: tensor "w.absmax": U8 [5], want U8 [4] (quantized absmax)`, false},
		{"float absmax with double quantization", double, func(m map[string]safetensors.Tensor) {
			m["w.absmax"] = safetensors.F32Tensor("w.absmax", []int{4}, []float32{1, 2, 3, 4})
		}, `quant: tensor "w.absmax": F32 [4], want U8 [4]`, false},
		{"missing nested absmax", double, func(m map[string]safetensors.Tensor) { delete(m, "w.nested_absmax") },
			`quant: tensor "w.nested_absmax": missing`, false},
		{"nested quant map dtype", double, func(m map[string]safetensors.Tensor) {
			m["w.nested_quant_map"] = safetensors.F16Tensor("w.nested_quant_map", []int{256}, make([]float32, 256))
		}, `quant: tensor "w.nested_quant_map": F16 [256], want F32 [256]`, false},
		{"missing quant map", double, func(m map[string]safetensors.Tensor) { delete(m, "w.quant_map") },
			`quant: tensor "w.quant_map": missing`, false},
		{"other quant map", double, func(m map[string]safetensors.Tensor) {
			c := NF4Code
			c[3] = 0.5
			m["w.quant_map"] = safetensors.F32Tensor("w.quant_map", []int{16}, c[:])
		}, `quant: tensor "w.quant_map": is not the NF4 code`, false},
		{"absmax dtype", single, func(m map[string]safetensors.Tensor) {
			m["w.absmax"] = safetensors.BF16Tensor("w.absmax", []int{4}, []float32{1, 2, 3, 4})
		}, `quant: tensor "w.absmax": BF16 [4], want F32 [4]`, false},
		{"absmax length", single, func(m map[string]safetensors.Tensor) {
			m["w.absmax"] = safetensors.F32Tensor("w.absmax", []int{3}, []float32{1, 2, 3})
		}, `quant: tensor "w.absmax": F32 [3], want F32 [4]`, false},
		{"nested absmax without nested keys", single, func(m map[string]safetensors.Tensor) {
			m["w.nested_absmax"] = safetensors.F32Tensor("w.nested_absmax", []int{1}, []float32{1})
		}, `tensor "w.quant_state.bitsandbytes__nf4": has no nested_* keys but w.nested_absmax exists`, false},
	} {
		m := c.base(t)
		_, err := Read("w", getter(m))
		require.NoError(t, err, "%s: the unbroken checkpoint loads", c.name)
		m = maps.Clone(m)
		c.mutate(m)
		_, err = Read("w", getter(m))
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.want, c.name)
		assert.Equal(t, c.unsupported, errors.Is(err, ErrUnsupported), "%s: %v", c.name, err)
	}
}

func TestIsQuantized(t *testing.T) {
	names := []string{"a.weight", "a.weight.quant_state.bitsandbytes__nf4", "b.weight", "c.weight.quant_state.bitsandbytes__fp4"}
	has := func(n string) bool { return slices.Contains(names, n) }
	assert.True(t, IsQuantized("a.weight", has))
	assert.False(t, IsQuantized("b.weight", has))
	assert.True(t, IsQuantized("c.weight", has), "fp4 counts, so that Read can reject it clearly")
	assert.False(t, IsQuantized("a", has))
}
