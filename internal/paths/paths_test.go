package paths

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResolve(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	require.NoError(t, err)
	real := filepath.Join(dir, "real")
	require.NoError(t, os.Mkdir(real, 0o755))
	require.NoError(t, os.Symlink(real, filepath.Join(dir, "link")))
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NoError(t, os.Chdir(dir))
	defer os.Chdir(wd)
	for in, want := range map[string]string{
		"real":                   real,
		"link":                   real,
		"link/../real/":          real,
		"link/new/deeper":        filepath.Join(real, "new", "deeper"),
		filepath.Join(dir, "no"): filepath.Join(dir, "no"),
	} {
		got, err := Resolve(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
}

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		p, dir string
		want   bool
	}{
		{"/a/b", "/a", true},
		{"/a/b/c", "/a", true},
		{"/a", "/a", false},
		{"/ab", "/a", false},
		{"/a/..b", "/a", true},
		{"/", "/a", false},
		{"/a", "/", true},
	} {
		require.Equal(t, c.want, Within(c.p, c.dir), "%s in %s", c.p, c.dir)
	}
}
