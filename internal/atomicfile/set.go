package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File is one member of a set written by WriteSet.
type File struct {
	Path  string
	Perm  os.FileMode
	Write func(io.Writer) error
}

// WriteSet writes files that belong together (a data set and its splits)
// so that a failure while writing (a full disk) leaves every earlier
// version in place: all files are first written and synced under
// temporary names beside their destinations, and only when every one is
// complete are they renamed over their destinations, one after another,
// and their folders synced. A failed write removes the temporaries and
// renames nothing. (A crash between two renames, which takes no disk
// space, can still leave a mix; the renames are the last and shortest
// step.) Errors name the file.
func WriteSet(files []File) error {
	tmps := make([]string, 0, len(files))
	cleanup := func() {
		for _, t := range tmps {
			os.Remove(t)
		}
	}
	for _, f := range files {
		tmp, err := writeTemp(f.Path, f.Perm, f.Write)
		if err != nil {
			cleanup()
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		tmps = append(tmps, tmp)
	}
	dirs := map[string]bool{}
	for i, f := range files {
		if err := os.Rename(tmps[i], f.Path); err != nil {
			tmps = tmps[i:]
			cleanup()
			return fmt.Errorf("rename %s: %w", f.Path, err)
		}
		dirs[filepath.Dir(f.Path)] = true
	}
	for d := range dirs {
		if err := SyncDir(d); err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
	}
	return nil
}
