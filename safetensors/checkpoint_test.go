package safetensors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/internal/filetest"
)

// editIndex rewrites the index in dir through edit.
func editIndex(t *testing.T, dir string, edit func(idx map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, IndexFileName)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var idx map[string]any
	require.NoError(t, json.Unmarshal(raw, &idx))
	edit(idx)
	raw, err = json.Marshal(idx)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, raw, 0o644))
}

// smallSharded writes two shards, A = {a, b} and B = {c}, and a matching
// index into a new folder. Each tensor is F32 [2] (8 bytes).
func smallSharded(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	v := []float32{1, 2}
	require.NoError(t, WriteFile(filepath.Join(dir, "A.safetensors"), []Tensor{F32Tensor("a", []int{2}, v), F32Tensor("b", []int{2}, v)}, nil))
	require.NoError(t, WriteFile(filepath.Join(dir, "B.safetensors"), []Tensor{F32Tensor("c", []int{2}, v)}, nil))
	idx := `{"metadata":{"total_size":24},"weight_map":{"a":"A.safetensors","b":"A.safetensors","c":"B.safetensors"}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, IndexFileName), []byte(idx), 0o644))
	return dir
}

func TestSmallShardedOpens(t *testing.T) {
	c, err := OpenCheckpoint(smallSharded(t))
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, c.Names())
	assert.True(t, strings.HasSuffix(c.FileOf("c"), "B.safetensors"))
	require.NoError(t, c.Close())
	assert.False(t, c.Has("a"), "nothing is left after Close")
}

// Every inconsistency between an index and its shards is an error naming the
// index file and, where one is at fault, the tensor.
func TestOpenCheckpointRejectsBadIndex(t *testing.T) {
	tests := []struct {
		name   string
		golden bool             // start from a copy of the golden sharded checkpoint, else from smallSharded
		change func(dir string) // breaks the checkpoint
		tensor string
		want   string
	}{
		{"missing shard", true, func(dir string) {
			os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors"))
		}, "", `shard "model-00002-of-00002.safetensors", listed in weight_map for 14 tensors (first "lm_head.weight"), does not exist`},
		{"tensor missing from its shard", true, func(dir string) {
			editIndex(t, dir, func(idx map[string]any) {
				idx["weight_map"].(map[string]any)["ghost.weight"] = "model-00001-of-00002.safetensors"
			})
		}, "ghost.weight", `listed in weight_map under "model-00001-of-00002.safetensors" but not in that file`},
		{"tensor listed under the wrong shard", true, func(dir string) {
			editIndex(t, dir, func(idx map[string]any) {
				idx["weight_map"].(map[string]any)["lm_head.weight"] = "model-00001-of-00002.safetensors"
			})
		}, "lm_head.weight", `listed in weight_map under "model-00001-of-00002.safetensors" but stored in "model-00002-of-00002.safetensors"`},
		{"total_size not an integer", true, func(dir string) {
			editIndex(t, dir, func(idx map[string]any) { idx["metadata"] = map[string]any{"total_size": "big"} })
		}, "", `metadata.total_size is "big", not a non-negative integer`},
		{"no weight_map", true, func(dir string) {
			editIndex(t, dir, func(idx map[string]any) { delete(idx, "weight_map") })
		}, "", "index has no weight_map"},
		{"shard outside the folder", true, func(dir string) {
			editIndex(t, dir, func(idx map[string]any) {
				idx["weight_map"].(map[string]any)["lm_head.weight"] = "../model-00002-of-00002.safetensors"
			})
		}, "lm_head.weight", `weight_map names shard "../model-00002-of-00002.safetensors", which is not a plain file name`},
		{"bad index JSON", true, func(dir string) {
			os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{"a":"x"`), 0o644)
		}, "", "invalid index JSON: unexpected EOF"},
		{"duplicate key in weight_map", false, func(dir string) {
			os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{"a":"A.safetensors","a":"B.safetensors"}}`), 0o644)
		}, "", `invalid index JSON: duplicate key "a"`},
		{"tensor in two shards", false, func(dir string) {
			v := []float32{1, 2}
			WriteFile(filepath.Join(dir, "B.safetensors"), []Tensor{F32Tensor("b", []int{2}, v), F32Tensor("c", []int{2}, v)}, nil)
		}, "b", `present in two shards, "A.safetensors" and "B.safetensors"`},
		{"tensor in a shard but not in weight_map", false, func(dir string) {
			os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{"a":"A.safetensors","c":"B.safetensors"}}`), 0o644)
		}, "b", `stored in shard "A.safetensors" but not listed in weight_map`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dir string
			if tt.golden {
				dir = filetest.CopyDir(t, tinySharded)
			} else {
				dir = smallSharded(t)
			}
			tt.change(dir)
			index := filepath.Join(dir, IndexFileName)
			for _, path := range []string{dir, index} {
				c, err := OpenCheckpoint(path)
				require.Error(t, err)
				assert.Nil(t, c)
				t.Log(err)
				assert.True(t, strings.HasPrefix(err.Error(), "safetensors: "+index+": "), "error names the index: %v", err)
				if tt.tensor != "" {
					assert.Contains(t, err.Error(), `tensor "`+tt.tensor+`": `)
				}
				assert.Contains(t, err.Error(), tt.want)
			}
		})
	}
}

// A corrupt shard is reported with the shard's own path and tensor.
func TestOpenCheckpointCorruptShard(t *testing.T) {
	dir := filetest.CopyDir(t, tinySharded)
	shard := filepath.Join(dir, "model-00001-of-00002.safetensors")
	st, err := os.Stat(shard)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(shard, st.Size()-4))
	_, err = OpenCheckpoint(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "safetensors: "+shard+": tensor ")
	assert.Contains(t, err.Error(), "run past the end of the data section")
}

func TestOpenCheckpointPaths(t *testing.T) {
	// A folder with both model.safetensors and an index opens the single
	// file, as Hugging Face's loader does.
	both := filetest.CopyDir(t, tinySharded)
	single := filepath.Join(both, SingleFileName)
	require.NoError(t, WriteFile(single, []Tensor{I64Tensor("only", []int{1}, []int64{7})}, nil))
	c, err := OpenCheckpoint(both)
	require.NoError(t, err)
	assert.Equal(t, []string{"only"}, c.Names())
	assert.Empty(t, c.Index)
	assert.Equal(t, single, c.FileOf("only"))
	require.NoError(t, c.Close())

	empty := t.TempDir()
	_, err = OpenCheckpoint(empty)
	require.EqualError(t, err, "safetensors: "+empty+": folder has no model.safetensors, model.safetensors.index.json or other *.safetensors file")

	two := t.TempDir()
	for _, n := range []string{"x.safetensors", "y.safetensors"} {
		require.NoError(t, WriteFile(filepath.Join(two, n), nil, nil))
	}
	_, err = OpenCheckpoint(two)
	require.ErrorContains(t, err, "2 *.safetensors files (x.safetensors, y.safetensors)")

	missing := filepath.Join(empty, "nothing")
	_, err = OpenCheckpoint(missing)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), missing)
}

// TestReleaseKeepsData: released tensors (whole, a part, and bytes from
// outside the checkpoint) still read what the file holds.
func TestReleaseKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	big := make([]float32, 5000) // spans pages
	for i := range big {
		big[i] = float32(i) * 0.5
	}
	require.NoError(t, WriteFile(path, []Tensor{F32Tensor("big", []int{5000}, big), F32Tensor("small", []int{3}, []float32{1, 2, 3})}, nil))
	c, err := OpenCheckpoint(path)
	require.NoError(t, err)
	defer c.Close()
	b, err := c.Tensor("big")
	require.NoError(t, err)
	c.Release(b.Data[4*100 : 4*3000])
	c.Release(b.Data)
	outside := []byte{1, 2, 3}
	c.Release(outside)
	assert.Equal(t, []byte{1, 2, 3}, outside)
	got, err := b.Float32s()
	require.NoError(t, err)
	assert.Equal(t, big, got)
	s, err := c.Tensor("small")
	require.NoError(t, err)
	v, err := s.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2, 3}, v)
}
