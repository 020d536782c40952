//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// withUmask sets the process umask for one test and restores it after.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// TestModesFollowTheUmask: files and folders, also those published with
// TempDir and CommitDir, get the requested mode less the umask, as
// os.WriteFile and os.MkdirAll give them, not the owner-only modes of
// os.CreateTemp and os.MkdirTemp.
func TestModesFollowTheUmask(t *testing.T) {
	for _, c := range []struct {
		umask           int
		file, dir, f640 os.FileMode
	}{
		{0o022, 0o644, 0o755, 0o640},
		{0o027, 0o640, 0o750, 0o640},
		{0o077, 0o600, 0o700, 0o600},
	} {
		withUmask(t, c.umask)
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		require.NoError(t, WriteFile(path, []byte("x"), 0o644))
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, c.file, st.Mode().Perm(), "file, umask %03o", c.umask)
		require.NoError(t, WriteFile(path, []byte("y"), 0o640))
		st, err = os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, c.f640, st.Mode().Perm(), "replaced file with mode 0640, umask %03o", c.umask)

		d, err := MkdirTemp(dir, ".out.tmp-")
		require.NoError(t, err)
		st, err = os.Stat(d)
		require.NoError(t, err)
		require.True(t, st.IsDir())
		require.Equal(t, c.dir, st.Mode().Perm(), "folder, umask %03o", c.umask)

		tmp, err := TempDir(dir, "checkpoint-1")
		require.NoError(t, err)
		require.NoError(t, WriteFile(filepath.Join(tmp, "trainer_state.json"), []byte("{}"), 0o644))
		final := filepath.Join(dir, "checkpoint-1")
		require.NoError(t, CommitDir(tmp, final))
		st, err = os.Stat(final)
		require.NoError(t, err)
		require.Equal(t, c.dir, st.Mode().Perm(), "committed folder, umask %03o", c.umask)
		st, err = os.Stat(filepath.Join(final, "trainer_state.json"))
		require.NoError(t, err)
		require.Equal(t, c.file, st.Mode().Perm(), "file in a committed folder, umask %03o", c.umask)
	}
}
