package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawTensor builds a tensor of any dtype from counting bytes.
func rawTensor(name string, dt DType, shape ...int) Tensor {
	t := Tensor{Name: name, DType: dt, Shape: append([]int{}, shape...)}
	t.Data = make([]byte, t.NumElements()*dt.Size())
	for i := range t.Data {
		t.Data[i] = byte(i*7 + len(name))
	}
	return t
}

func allDTypeTensors() []Tensor {
	return []Tensor{
		rawTensor("w.f64", F64, 3), rawTensor("w.f32", F32, 2, 3), rawTensor("w.f16", F16, 5),
		rawTensor("w.bf16", BF16, 3, 1), rawTensor("w.i64", I64, 2), rawTensor("w.i32", I32, 3),
		rawTensor("w.i16", I16, 1), rawTensor("w.i8", I8, 7), rawTensor("w.u64", U64, 1),
		rawTensor("w.u32", U32, 2), rawTensor("w.u16", U16, 3), rawTensor("w.u8", U8, 9),
		rawTensor("w.bool", BOOL, 2), rawTensor("w.e4m3", F8E4M3, 4), rawTensor("w.e5m2", F8E5M2, 1),
		rawTensor("scalar", F32), rawTensor("empty", F32, 0, 4),
	}
}

func TestWriteFileRoundTrip(t *testing.T) {
	tensors := allDTypeTensors()
	meta := map[string]string{"format": "pt", "note": `<&> "quoted" é`, "": "empty key"}
	path := filepath.Join(t.TempDir(), "rt.safetensors")
	require.NoError(t, WriteFile(path, tensors, meta))

	f, err := Open(path)
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, meta, f.Metadata)
	want := slices.Clone(tensors)
	slices.SortFunc(want, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	var names []string
	for _, w := range want {
		names = append(names, w.Name)
		got, ok := f.Tensor(w.Name)
		require.True(t, ok, w.Name)
		assert.Equal(t, w.DType, got.DType, w.Name)
		assert.Equal(t, w.Shape, got.Shape, w.Name)
		assert.Equal(t, w.Data, got.Data, w.Name)
	}
	assert.Equal(t, names, f.Names())

	// Layout: header length a multiple of 8 and padded with spaces,
	// __metadata__ first, and the data laid out in name order.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	n := binary.LittleEndian.Uint64(raw)
	assert.Zero(t, n%8)
	header := string(raw[8 : 8+n])
	assert.True(t, strings.HasPrefix(header, `{"__metadata__":{"":"empty key","format":"pt","note":"<&> \"quoted\" é"},"empty":{`), header)
	trimmed := strings.TrimRight(header, " ")
	assert.True(t, strings.HasSuffix(trimmed, "}"), "only spaces after the JSON")
	assert.Less(t, len(header)-len(trimmed), 8, "at most 7 spaces of padding")
	var prevEnd int64
	for i, ti := range f.Header.Tensors {
		assert.Equal(t, names[i], ti.Name, "data order is name order")
		assert.Equal(t, prevEnd, ti.Begin)
		prevEnd = ti.End
	}
}

func TestWriteFileNoMetadata(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, WriteFile(path, []Tensor{F32Tensor("x", []int{1}, []float32{1})}, nil))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	// 51 bytes of JSON padded to 56.
	assert.Equal(t, `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}  `, string(raw[8:8+binary.LittleEndian.Uint64(raw)]))
	assert.Equal(t, []byte{0, 0, 0x80, 0x3f}, raw[len(raw)-4:], "1.0 as F32 is 0x3f800000, little-endian")
}

// Invalid input is rejected before anything is written, naming the file and
// the tensor.
func TestWriteFileRejectsBadTensors(t *testing.T) {
	ok := F32Tensor("ok", []int{1}, []float32{1})
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		tensor  string
		want    string
	}{
		{"duplicate names", []Tensor{ok, rawTensor("x", U8, 1), ok}, nil, "ok", "duplicate tensor name"},
		{"unknown dtype", []Tensor{{Name: "x", DType: "F12", Shape: []int{1}, Data: []byte{1}}}, nil, "x", `unknown dtype "F12"`},
		{"data too short", []Tensor{{Name: "x", DType: F32, Shape: []int{2, 2}, Data: make([]byte, 12)}}, nil, "x",
			"shape [2, 2] × F32 = 16 bytes but Data holds 12"},
		{"negative dimension", []Tensor{{Name: "x", DType: U8, Shape: []int{-1}}}, nil, "x", "negative dimension in shape [-1]"},
		{"empty name", []Tensor{{Name: "", DType: U8, Shape: []int{0}}}, nil, "", "invalid tensor name"},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: U8, Shape: []int{0}}}, nil, "__metadata__", "invalid tensor name"},
		{"invalid UTF-8 metadata", []Tensor{ok}, map[string]string{"k": "\xff"}, "", `__metadata__ entry "k" is not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "bad.safetensors")
			err := WriteFile(path, tt.tensors, tt.meta)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "safetensors: "+path+": "), err.Error())
			if tt.tensor != "" {
				assert.Contains(t, err.Error(), `tensor "`+tt.tensor+`": `)
			}
			assert.Contains(t, err.Error(), tt.want)
			entries, _ := os.ReadDir(dir)
			assert.Empty(t, entries, "nothing written")
		})
	}
}

func readDirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// The writer goes through a temporary file that is renamed into place: the
// final name holds the old file until the new one is complete, a failed write
// leaves the old file and no temporary behind, and a File mapping the old
// content stays readable after the replacement.
func TestWriteFileCrashSafety(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SingleFileName)
	v1 := []Tensor{F32Tensor("w", []int{2}, []float32{1, 2})}
	require.NoError(t, WriteFile(path, v1, nil))
	old, err := os.ReadFile(path)
	require.NoError(t, err)

	// Invalid tensors: the existing file is untouched.
	require.Error(t, WriteFile(path, []Tensor{{Name: "w", DType: F32, Shape: []int{3}}}, nil))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, old, got)

	// A write that fails half-way: the existing file is untouched and the
	// temporary file is gone.
	boom := errors.New("disk full")
	err = writeAtomic(path, func(w io.Writer) error {
		w.Write([]byte("half a header"))
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), path)
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, old, got)
	assert.Equal(t, []string{SingleFileName}, readDirNames(t, dir))

	// While a write is in progress, the final name still holds the old file
	// and the new bytes go to a hidden temporary file in the same folder.
	mapped, err := Open(path)
	require.NoError(t, err)
	defer mapped.Close()
	err = writeAtomic(path, func(w io.Writer) error {
		during, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, old, during)
		names := readDirNames(t, dir)
		require.Len(t, names, 2)
		assert.True(t, strings.HasPrefix(names[0], "."+SingleFileName+".tmp-"), names[0])
		_, err = w.Write([]byte("new content"))
		return err
	})
	require.NoError(t, err)
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "new content", string(got))
	assert.Equal(t, []string{SingleFileName}, readDirNames(t, dir), "no temporary file left")
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	// The mapping of the replaced file still reads the old tensor.
	w, ok := mapped.Tensor("w")
	require.True(t, ok)
	vals, err := w.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2}, vals)

	// A folder that does not exist: an error naming the path, nothing created.
	bad := filepath.Join(dir, "missing", "x.safetensors")
	err = WriteFile(bad, v1, nil)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), bad)
}

func goldenTensors(t *testing.T) ([]Tensor, func()) {
	f, err := Open(tinyFile)
	require.NoError(t, err)
	var ts []Tensor
	for _, n := range f.Names() {
		tn, _ := f.Tensor(n)
		ts = append(ts, tn)
	}
	return ts, func() { f.Close() }
}

func TestWriteShardedGolden(t *testing.T) {
	tensors, done := goldenTensors(t)
	defer done()
	dir := filepath.Join(t.TempDir(), "out") // created by WriteSharded
	// 442 KB, the max_shard_size the golden shards were saved with (README),
	// and 882944 bytes of tensors in all (the golden index's total_size).
	// Hugging Face filled shards in its state_dict order and got 2. In name
	// order, lm_head.weight (256000 bytes) and model.embed_tokens.weight
	// (256000) cannot share a shard, so greedy filling gives 3 shards of
	// 256000, 441600 and 185344 bytes (1, 14 and 12 tensors; computed with a
	// few lines of Python over the golden header).
	const maxShard = 442_000
	require.NoError(t, WriteSharded(dir, tensors, map[string]string{"format": "pt"}, maxShard))
	assert.Equal(t, []string{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
		"model-00003-of-00003.safetensors", IndexFileName}, readDirNames(t, dir))

	raw, err := os.ReadFile(filepath.Join(dir, IndexFileName))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(raw), "{\n  \"metadata\": {\n    \"total_size\": 882944\n  },\n  \"weight_map\": {\n"), string(raw))
	var idx struct {
		Metadata  map[string]int64
		WeightMap map[string]string `json:"weight_map"`
	}
	require.NoError(t, json.Unmarshal(raw, &idx))
	assert.Equal(t, int64(882944), idx.Metadata["total_size"])
	assert.Len(t, idx.WeightMap, 27)

	c, err := OpenCheckpoint(dir)
	require.NoError(t, err)
	defer c.Close()
	var sizes []int
	for _, f := range c.Files() {
		var size int
		for _, n := range f.Names() {
			tn, _ := f.Tensor(n)
			size += len(tn.Data)
		}
		sizes = append(sizes, size)
		assert.Equal(t, map[string]string{"format": "pt"}, f.Metadata)
	}
	assert.Equal(t, []int{256000, 441600, 185344}, sizes)
	require.Len(t, c.Names(), len(tensors))
	for _, want := range tensors {
		got, err := c.Tensor(want.Name)
		require.NoError(t, err)
		assert.Equal(t, want.Shape, got.Shape)
		assert.Equal(t, want.Data, got.Data, want.Name)
	}
}

func TestWriteShardedLayouts(t *testing.T) {
	small := func(name string, n int) Tensor { return rawTensor(name, U8, n) }
	tests := []struct {
		name     string
		tensors  []Tensor
		max      int64
		wantMaps map[string]string // tensor → file; nil means a single model.safetensors
	}{
		{"everything fits", []Tensor{small("a", 10), small("b", 10)}, 20, nil},
		{"greedy in name order", []Tensor{small("c", 6), small("a", 6), small("b", 6), small("d", 1)}, 12, map[string]string{
			"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
			"c": "model-00002-of-00002.safetensors", "d": "model-00002-of-00002.safetensors"}},
		{"oversized tensor gets its own shard", []Tensor{small("a", 3), small("b", 50), small("c", 3)}, 10, map[string]string{
			"a": "model-00001-of-00003.safetensors", "b": "model-00002-of-00003.safetensors", "c": "model-00003-of-00003.safetensors"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, WriteSharded(dir, tt.tensors, nil, tt.max))
			c, err := OpenCheckpoint(dir)
			require.NoError(t, err)
			defer c.Close()
			if tt.wantMaps == nil {
				assert.Equal(t, []string{SingleFileName}, readDirNames(t, dir))
				assert.Empty(t, c.Index)
				return
			}
			for name, file := range tt.wantMaps {
				assert.Equal(t, filepath.Join(dir, file), c.FileOf(name), name)
			}
		})
	}
	require.ErrorContains(t, WriteSharded(t.TempDir(), nil, nil, 0), "maximum shard size 0 is not positive")
}

// A new save removes the files of an earlier one that a loader would pick
// instead of (or mix with) the new files.
func TestWriteShardedRemovesStaleFiles(t *testing.T) {
	dir := t.TempDir()
	three := []Tensor{rawTensor("a", U8, 8), rawTensor("b", U8, 8), rawTensor("c", U8, 8)}
	unrelated := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(unrelated, []byte("{}"), 0o644))

	require.NoError(t, WriteSharded(dir, three, nil, 100))
	assert.Equal(t, []string{"config.json", SingleFileName}, readDirNames(t, dir))

	require.NoError(t, WriteSharded(dir, three, nil, 8))
	assert.Equal(t, []string{"config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
		"model-00003-of-00003.safetensors", IndexFileName}, readDirNames(t, dir), "model.safetensors would shadow the index")

	require.NoError(t, WriteSharded(dir, three, nil, 16))
	assert.Equal(t, []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
		IndexFileName}, readDirNames(t, dir))

	require.NoError(t, WriteSharded(dir, three[:1], nil, 16))
	assert.Equal(t, []string{"config.json", SingleFileName}, readDirNames(t, dir))
}
