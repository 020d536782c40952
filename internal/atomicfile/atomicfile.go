// Package atomicfile writes files so that neither a reader nor a crash ever
// sees a partial one: the content goes to a temporary file in the
// destination's own folder (so the rename never crosses a file system), is
// synced, renamed over the destination, and the folder is synced so the
// rename itself is durable. A crash can at worst leave a stray
// ".NAME.tmp-RANDOM" file behind, which is safe to delete. WriteSet does the
// same for files that must change together.
package atomicfile

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Write streams a file to path: write fills a buffered temporary file,
// which gets mode perm, is synced and renamed over path. On error the
// temporary is removed and path is untouched. Errors are returned as the
// operation reported them; callers name the file.
func Write(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp, err := writeTemp(path, perm, write)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// writeTemp writes, chmods, syncs and closes a temporary file beside path
// and returns its name; on error it leaves nothing behind.
func writeTemp(path string, perm os.FileMode, write func(io.Writer) error) (name string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(w); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	// CreateTemp makes the file 0600; Chmod gives the requested mode
	// (the umask does not apply, as with os.WriteFile on an existing file).
	if err := tmp.Chmod(perm); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return tmp.Name(), nil
}

// WriteFile writes data to path atomically (see Write).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// SyncFile fsyncs one file.
func SyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	serr := f.Sync()
	cerr := f.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

// SyncDir fsyncs a folder so that renames and creations in it are
// durable. Windows cannot open folders for sync; there it does nothing.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return SyncFile(dir)
}
