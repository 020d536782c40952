package safetensors

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The goldens are copies of the project's shared reference files (see
// testdata/golden/SOURCE.md and README.md): tiny random Qwen2 checkpoints
// written by transformers 4.44.2 save_pretrained (safetensors 0.4.4).
const goldenDir = "../testdata/golden"

var (
	tinyFile    = filepath.Join(goldenDir, "qwen2-tiny/base_model/model.safetensors")
	tinySharded = filepath.Join(goldenDir, "qwen2-tiny/base_model_sharded")
	tiedFile    = filepath.Join(goldenDir, "qwen2-tied/base_model/model.safetensors")
	tinyGolden  = filepath.Join(goldenDir, "qwen2-tiny/golden.safetensors")
	tinyAdapter = filepath.Join(goldenDir, "qwen2-tiny/adapter")
)

// qwen2Names lists the HF weight names of a Qwen2 model with the given
// number of layers (golden README, "Notes on the checkpoint files").
func qwen2Names(layers int, lmHead bool) []string {
	names := []string{"model.embed_tokens.weight", "model.norm.weight"}
	if lmHead {
		names = append(names, "lm_head.weight")
	}
	for i := range layers {
		p := "model.layers." + strconv.Itoa(i) + "."
		names = append(names,
			p+"input_layernorm.weight", p+"post_attention_layernorm.weight",
			p+"self_attn.q_proj.weight", p+"self_attn.q_proj.bias",
			p+"self_attn.k_proj.weight", p+"self_attn.k_proj.bias",
			p+"self_attn.v_proj.weight", p+"self_attn.v_proj.bias",
			p+"self_attn.o_proj.weight",
			p+"mlp.gate_proj.weight", p+"mlp.up_proj.weight", p+"mlp.down_proj.weight")
	}
	return names
}

func TestGoldenSingleFile(t *testing.T) {
	f, err := Open(tinyFile)
	require.NoError(t, err)
	defer f.Close()

	// 27 tensors: golden.json → reread_check.files_read["base_model/model.safetensors"].
	assert.ElementsMatch(t, qwen2Names(2, true), f.Names())
	assert.True(t, slices.IsSorted(f.Names()))
	assert.Equal(t, map[string]string{"format": "pt"}, f.Metadata, "HF writes format=pt (golden README)")
	// Header length 2736 and data start 2744: read with Python struct.unpack('<Q', ...).
	assert.Equal(t, int64(2744), f.Header.DataOffset)

	// Shapes from the qwen2-tiny config: vocab 1000, hidden 64, intermediate
	// 176, 4 heads × head_dim 16 = 64 for q, 2 kv heads × 16 = 32 for k and v.
	shapes := map[string][]int{
		"model.embed_tokens.weight":              {1000, 64},
		"lm_head.weight":                         {1000, 64},
		"model.norm.weight":                      {64},
		"model.layers.0.self_attn.q_proj.weight": {64, 64},
		"model.layers.0.self_attn.q_proj.bias":   {64},
		"model.layers.0.self_attn.k_proj.weight": {32, 64},
		"model.layers.1.self_attn.v_proj.bias":   {32},
		"model.layers.1.mlp.gate_proj.weight":    {176, 64},
		"model.layers.1.mlp.down_proj.weight":    {64, 176},
	}
	for name, shape := range shapes {
		tn, ok := f.Tensor(name)
		require.True(t, ok, name)
		assert.Equal(t, F32, tn.DType, name)
		assert.Equal(t, shape, tn.Shape, name)
		assert.Len(t, tn.Data, 4*tn.NumElements(), name)
	}

	// First values of model.norm.weight, read with Python struct.unpack('<4f')
	// at file offset 2744 + 882688 (the entry's data_offsets begin).
	norm, _ := f.Tensor("model.norm.weight")
	v, err := norm.Float32s()
	require.NoError(t, err)
	require.Len(t, v, 64)
	assert.Equal(t, normHead, v[:4])
}

// normHead is model.norm.weight[:4] of qwen2-tiny (see TestGoldenSingleFile).
var normHead = []float32{1.103398323059082, 0.8092947006225586, 1.1173717975616455, 0.9326666593551636}

func TestGoldenShardedEqualsSingle(t *testing.T) {
	single, err := OpenCheckpoint(tinyFile)
	require.NoError(t, err)
	defer single.Close()
	for _, path := range []string{tinySharded, filepath.Join(tinySharded, IndexFileName)} {
		sharded, err := OpenCheckpoint(path)
		require.NoError(t, err, path)
		assert.Equal(t, filepath.Join(tinySharded, IndexFileName), sharded.Index)
		assert.Len(t, sharded.Files(), 2)
		// "The two shards together hold exactly the tensors of
		// base_model/model.safetensors, bit for bit" (golden README).
		require.Equal(t, single.Names(), sharded.Names())
		for _, name := range single.Names() {
			a, _ := single.Tensor(name)
			b, err := sharded.Tensor(name)
			require.NoError(t, err)
			assert.Equal(t, a.DType, b.DType, name)
			assert.Equal(t, a.Shape, b.Shape, name)
			assert.Equal(t, a.Data, b.Data, name)
		}
		// lm_head.weight is in the second shard (the index's weight_map).
		assert.Equal(t, filepath.Join(tinySharded, "model-00002-of-00002.safetensors"), sharded.FileOf("lm_head.weight"))
		require.NoError(t, sharded.Close())
	}
}

func TestGoldenTied(t *testing.T) {
	c, err := OpenCheckpoint(filepath.Dir(tiedFile))
	require.NoError(t, err)
	defer c.Close()
	// The tied checkpoint has 3 layers and no lm_head.weight (golden README).
	assert.ElementsMatch(t, qwen2Names(3, false), c.Names())
	assert.False(t, c.Has("lm_head.weight"))
	assert.True(t, c.Has("model.embed_tokens.weight"))
	assert.Empty(t, c.FileOf("lm_head.weight"))
	_, err = c.Tensor("lm_head.weight")
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Dir(tiedFile))
	assert.Contains(t, err.Error(), `tensor "lm_head.weight"`)
	emb, err := c.Tensor("model.embed_tokens.weight")
	require.NoError(t, err)
	assert.Equal(t, []int{777, 48}, emb.Shape, "vocab 777, hidden 48")
}

func TestGoldenReferenceTensors(t *testing.T) {
	f, err := Open(tinyGolden)
	require.NoError(t, err)
	defer f.Close()
	// 119 tensors: golden.json → reread_check.files_read["golden.safetensors"].
	assert.Len(t, f.Names(), 119)

	// Rank-0 F32 scalar; 6.8691473 from the golden README's scalar table.
	loss, ok := f.Tensor("loss")
	require.True(t, ok)
	assert.Empty(t, loss.Shape)
	assert.Equal(t, 1, loss.NumElements())
	lv, err := loss.Float32s()
	require.NoError(t, err)
	assert.InDelta(t, 6.8691473, lv[0], 1e-6)

	// I64 ids; gen.output_ids from the golden README's scalar table.
	ids, ok := f.Tensor("gen.output_ids")
	require.True(t, ok)
	assert.Equal(t, I64, ids.DType)
	assert.Equal(t, []int{1, 19}, ids.Shape)
	iv, err := ids.Int64s()
	require.NoError(t, err)
	assert.Equal(t, []int64{697, 260, 51, 872, 7, 545, 776, 179, 466, 466, 466, 466, 466, 466, 466, 553, 466, 840, 840}, iv)

	// labels hold -100 at prompt positions; row 0 has 3 prompt tokens (README).
	labels, _ := f.Tensor("labels")
	lab, err := labels.Int64s()
	require.NoError(t, err)
	assert.Equal(t, []int64{-100, -100, -100}, lab[:3])
	_, err = labels.Float32s()
	require.ErrorContains(t, err, `tensor "labels": dtype I64 cannot be read as float32`)
}

// A folder holding exactly one *.safetensors file that is not model.safetensors
// (a PEFT adapter folder) opens that file. 28 tensors: golden.json →
// reread_check.files_read["adapter/adapter_model.safetensors"].
func TestGoldenAdapterFolder(t *testing.T) {
	c, err := OpenCheckpoint(tinyAdapter)
	require.NoError(t, err)
	defer c.Close()
	assert.Len(t, c.Names(), 28)
	a, err := c.Tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
	require.NoError(t, err)
	assert.Equal(t, []int{8, 64}, a.Shape, "[r, in] with r = 8")
}

// Rewriting the golden tensors with WriteFile reproduces the file written by
// the reference implementation byte for byte: its header is compact JSON,
// __metadata__ first, the all-F32 tensors sorted by name, space padding.
func TestGoldenRewriteIsIdentical(t *testing.T) {
	for _, path := range []string{tinyFile, tiedFile} {
		f, err := Open(path)
		require.NoError(t, err)
		var tensors []Tensor
		for _, n := range f.Names() {
			tn, _ := f.Tensor(n)
			tensors = append(tensors, tn)
		}
		out := filepath.Join(t.TempDir(), "model.safetensors")
		require.NoError(t, WriteFile(out, tensors, f.Metadata))
		require.NoError(t, f.Close())
		want, err := os.ReadFile(path)
		require.NoError(t, err)
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.True(t, string(want) == string(got), "%s rewritten differs", path)
	}
}

func BenchmarkOpen(b *testing.B) {
	for b.Loop() {
		f, err := Open(tinyFile)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
