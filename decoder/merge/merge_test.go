package merge_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/decoder/merge"
	"github.com/tune-dev/tune/internal/filetest"
	"github.com/tune-dev/tune/internal/golden"
)

// The qwen2-tiny golden model and adapter (golden also registers the
// families merge reads).
var (
	tinyBase    = filepath.Join(golden.Dir("qwen2-tiny"), "base_model")
	tinyAdapter = filepath.Join(golden.Dir("qwen2-tiny"), "adapter")
)

// TestMergeRefusesToLoseData: tune merge never replaces a folder it did
// not write, nor the inputs it reads; every refusal leaves every file as
// it was.
func TestMergeRefusesToLoseData(t *testing.T) {
	base, adapter := filetest.CopyDir(t, tinyBase), filetest.CopyDir(t, tinyAdapter)
	write := func(out string) error {
		return merge.Write(merge.Options{BaseModel: base, AdapterDir: adapter, Output: out})
	}
	unrelated := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(unrelated, "notes.txt"), []byte("mine"), 0o644))
	file := filepath.Join(t.TempDir(), "model.bin")
	require.NoError(t, os.WriteFile(file, []byte("weights"), 0o644))
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(base, link))
	// A run folder whose adapter lives one level down.
	run := t.TempDir()
	nested := filepath.Join(run, "adapter")
	require.NoError(t, os.Mkdir(nested, 0o755))
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(adapter, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(nested, f), b, 0o644))
	}

	for _, c := range []struct {
		name, out, adapter, want string
	}{
		{"the adapter's own folder", adapter, adapter, "is the adapter folder"},
		{"the base model's folder", base, adapter, "is the base model folder"},
		{"a symbolic link to the base model's folder", link, adapter, "is the base model folder"},
		{"inside the base model's folder", filepath.Join(base, "merged"), adapter, "is inside the base model folder"},
		{"a folder holding the adapter", run, nested, "contains the adapter folder"},
		{"a folder with unrelated files", unrelated, adapter, "is not an earlier merge output"},
		{"a file", file, adapter, "is a file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := map[string]map[string]string{}
			for _, p := range []string{base, adapter, unrelated, file, run} {
				before[p] = filetest.Snapshot(t, p)
			}
			err := merge.Write(merge.Options{BaseModel: base, AdapterDir: c.adapter, Output: c.out})
			require.ErrorContains(t, err, c.want)
			require.ErrorContains(t, err, c.out)
			for p, s := range before {
				require.Equal(t, s, filetest.Snapshot(t, p), "%s changed", p)
			}
			_, err = os.Stat(filepath.Join(base, "merged"))
			require.True(t, os.IsNotExist(err), "nothing created inside the base model's folder")
		})
	}

	// A new folder, an empty one and RUN/merged_model beside the adapter
	// are fine; each gets the marker listing what the merge wrote.
	empty := filepath.Join(t.TempDir(), "out")
	require.NoError(t, os.Mkdir(empty, 0o755))
	for _, out := range []string{filepath.Join(t.TempDir(), "new"), empty, filepath.Join(adapter, "merged_model")} {
		require.NoError(t, write(out))
		var rec struct {
			BaseModel string   `json:"base_model"`
			Files     []string `json:"files"`
		}
		b, err := os.ReadFile(filepath.Join(out, merge.Marker))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &rec))
		require.Equal(t, base, rec.BaseModel)
		require.Equal(t, []string{"config.json", "generation_config.json", "model.safetensors"}, rec.Files)
	}

	// An earlier merge output is replaced whole; one a user added a file
	// to is not.
	require.NoError(t, os.WriteFile(filepath.Join(empty, "model.safetensors"), []byte("stale"), 0o644))
	require.NoError(t, write(empty))
	b, err := os.ReadFile(filepath.Join(empty, "model.safetensors"))
	require.NoError(t, err)
	require.NotEqual(t, "stale", string(b))
	require.NoError(t, os.WriteFile(filepath.Join(empty, "README.md"), []byte("my notes"), 0o644))
	before := filetest.Snapshot(t, empty)
	err = write(empty)
	require.ErrorContains(t, err, "holds README.md, which the earlier merge did not write")
	require.Equal(t, before, filetest.Snapshot(t, empty))
	siblings, err := os.ReadDir(filepath.Dir(empty))
	require.NoError(t, err)
	require.Len(t, siblings, 1, "no temporary folder left beside the output")
}
