//go:build unix

package train_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/train"
)

// TestOutputsReadableByOthers: with the usual umask 022 a merged model's
// folder is 0755 and its files 0644, so another user (a service) can load
// it; so is a folder published with TempDir and CommitDir (checkpoints,
// the adapter).
func TestOutputsReadableByOthers(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	root := t.TempDir()
	merged := filepath.Join(root, "merged")
	require.NoError(t, train.Merge(train.MergeOptions{BaseModel: tinyBase, AdapterDir: tinyAdapter, Output: merged}))
	tmp, err := train.TempDir(root, "checkpoint-1")
	require.NoError(t, err)
	require.NoError(t, train.WriteFileAtomic(filepath.Join(tmp, "trainer_state.json"), []byte("{}"), 0o644))
	require.NoError(t, train.CommitDir(tmp, filepath.Join(root, "checkpoint-1")))

	n := 0
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		st, err := os.Stat(p)
		require.NoError(t, err)
		want := os.FileMode(0o644)
		if st.IsDir() {
			want = 0o755
		}
		require.Equal(t, want, st.Mode().Perm(), p)
		n++
		return nil
	}))
	require.Equal(t, 8, n, "root, merged/ with its 4 files, checkpoint-1/ with 1")
}
