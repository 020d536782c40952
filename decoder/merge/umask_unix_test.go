//go:build unix

package merge_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tune-dev/tune/decoder/merge"
)

// TestOutputsReadableByOthers: with the usual umask 022 a merged model's
// folder is 0755 and its files 0644, so another user (a service) can load
// it (atomicfile's tests check its TempDir and CommitDir, which
// checkpoints and adapters use).
func TestOutputsReadableByOthers(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	root := t.TempDir()
	merged := filepath.Join(root, "merged")
	require.NoError(t, merge.Write(merge.Options{BaseModel: tinyBase, AdapterDir: tinyAdapter, Output: merged}))

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
	require.Equal(t, 6, n, "root, merged/ with its 4 files")
}
