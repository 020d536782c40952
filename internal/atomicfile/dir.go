package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// TempDir creates a new empty folder ".NAME.tmp-RANDOM" inside parent
// (creating parent as needed, like mkdir -p) with DirMode less the umask,
// so that the published folder is readable like every other folder tune
// makes, and returns its path. Build a checkpoint or other output folder
// there, then publish it with CommitDir. Keeping the temporary in the same
// parent as the final folder keeps the commit a single same-file-system
// rename, and the leading dot hides half-written folders from globs such
// as "checkpoint-*".
func TempDir(parent, name string) (string, error) {
	if name == "" || filepath.Base(name) != name {
		return "", fmt.Errorf("temp dir in %s: bad name %q", parent, name)
	}
	if err := os.MkdirAll(parent, DirMode); err != nil {
		return "", fmt.Errorf("temp dir in %s: %w", parent, err)
	}
	dir, err := MkdirTemp(parent, "."+name+".tmp-")
	if err != nil {
		return "", fmt.Errorf("temp dir in %s: %w", parent, err)
	}
	return dir, nil
}

// CommitDir publishes the fully written directory tmp as final.
//
// Crash safety: first every file and directory under tmp is fsynced, so
// its content is durable before it becomes visible under the final name.
// If final does not exist, tmp is renamed to final in one atomic step. If
// final exists (a checkpoint being rewritten), it is not deleted first:
// it is renamed aside to ".BASE.old-RANDOM", tmp is renamed to final, and
// only then is the old copy removed. So at every instant at least one
// complete copy exists on disk: before the first rename final is the old
// copy; between the two renames (a window of two system calls) final is
// missing but both the old copy (".BASE.old-*") and the new one (tmp) are
// complete; after the second rename final is the new copy. The parent
// directory is fsynced after the renames. tmp and final must be in the
// same directory's file system (TempDir's result with the same parent
// is).
func CommitDir(tmp, final string) error {
	st, err := os.Stat(tmp)
	if err != nil {
		return fmt.Errorf("commit %s: %w", final, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("commit %s: %s is not a directory", final, tmp)
	}
	if err := syncTree(tmp); err != nil {
		return fmt.Errorf("commit %s: sync %s: %w", final, tmp, err)
	}
	parent := filepath.Dir(final)
	old := ""
	if _, err := os.Lstat(final); err == nil {
		// Reserve a unique name next to final (MkdirTemp), free it, and
		// move final there. Renaming onto the reserved empty directory
		// would be simpler but some file systems refuse it.
		old, err = os.MkdirTemp(parent, "."+filepath.Base(final)+".old-*")
		if err == nil {
			err = os.Remove(old)
		}
		if err != nil {
			return fmt.Errorf("commit %s: %w", final, err)
		}
		if err := os.Rename(final, old); err != nil {
			return fmt.Errorf("commit %s: move old copy aside: %w", final, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("commit %s: %w", final, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if old != "" {
			// Put the old copy back so final keeps its previous content.
			if rerr := os.Rename(old, final); rerr != nil {
				return fmt.Errorf("commit %s: %w (and restoring the old copy from %s failed: %v)", final, err, old, rerr)
			}
		}
		return fmt.Errorf("commit %s: %w", final, err)
	}
	if err := SyncDir(parent); err != nil {
		return fmt.Errorf("commit %s: sync directory: %w", final, err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("commit %s: remove old copy %s: %w", final, old, err)
		}
	}
	return nil
}

// syncTree fsyncs every regular file and directory under root, children
// before their directory.
func syncTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, p)
		case d.Type().IsRegular():
			return SyncFile(p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := SyncDir(dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// leftover matches the temporaries of TempDir, CommitDir, Write and
// WriteFile: ".NAME.tmp-RANDOM" and ".NAME.old-RANDOM", where
// RANDOM is the decimal number tempName (for .tmp) and os.MkdirTemp (for
// CommitDir's .old) put there.
var leftover = regexp.MustCompile(`^\.(.+)\.(tmp|old)-[0-9]+$`)

// CleanLeftovers tidies what interrupted writes left in dir, for the
// names NAME that ours accepts (nothing else is touched): a
// ".NAME.tmp-RANDOM" temporary is removed (it was never published); a
// ".NAME.old-RANDOM" copy is put back as NAME when NAME is missing (a
// crash between CommitDir's two renames, when the old copy is the one
// complete version left) and removed otherwise. It returns the names it
// removed or put back, in directory order. A missing dir holds nothing.
func CleanLeftovers(dir string, ours func(name string) bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var done []string
	for _, e := range entries {
		m := leftover.FindStringSubmatch(e.Name())
		if m == nil || !ours(m[1]) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if m[2] == "old" {
			final := filepath.Join(dir, m[1])
			if _, err := os.Lstat(final); errors.Is(err, fs.ErrNotExist) {
				if err := os.Rename(p, final); err != nil {
					return done, err
				}
				done = append(done, e.Name()+" (put back as "+m[1]+")")
				continue
			}
		}
		if err := os.RemoveAll(p); err != nil {
			return done, err
		}
		done = append(done, e.Name())
	}
	return done, nil
}
