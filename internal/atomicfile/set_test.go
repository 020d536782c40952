package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWriteSetAllOrNothing injects a write failure (a full disk) into the
// third of four files: every file keeps its old content and no temporary
// is left; a set that succeeds replaces all four.
func TestWriteSetAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	names := []string{"all.jsonl", "train.jsonl", "validation.jsonl", "test.jsonl"}
	set := func(content string, failAt int) []File {
		var files []File
		for i, n := range names {
			files = append(files, File{Path: filepath.Join(dir, n), Perm: 0o644, Write: func(w io.Writer) error {
				if _, err := io.WriteString(w, content+" "+n); err != nil {
					return err
				}
				if i == failAt {
					return errors.New("no space left on device")
				}
				return nil
			}})
		}
		return files
	}
	require.NoError(t, WriteSet(set("old", -1)))

	err := WriteSet(set("new", 2))
	require.ErrorContains(t, err, "validation.jsonl")
	require.ErrorContains(t, err, "no space left on device")
	for _, n := range names {
		got, err := os.ReadFile(filepath.Join(dir, n))
		require.NoError(t, err)
		require.Equal(t, "old "+n, string(got))
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, len(names), "no temporary left")

	require.NoError(t, WriteSet(set("new", -1)))
	for _, n := range names {
		got, err := os.ReadFile(filepath.Join(dir, n))
		require.NoError(t, err)
		require.Equal(t, "new "+n, string(got))
		st, err := os.Stat(filepath.Join(dir, n))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o644), st.Mode().Perm())
	}
}
