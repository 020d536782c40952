package paths

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
)

// Resolve makes path absolute with every symbolic link resolved; the part
// of it that does not exist yet is kept as written.
func Resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		p, err := filepath.EvalSymlinks(abs)
		if err == nil {
			return filepath.Join(append([]string{p}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return "", err
		}
		rest = append([]string{filepath.Base(abs)}, rest...)
		abs = parent
	}
}

// Within reports whether the resolved path p lies strictly inside the
// resolved folder dir.
func Within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
