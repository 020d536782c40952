package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// DirMode is the mode (less the umask) of the folders tune creates.
const DirMode os.FileMode = 0o755

// Write streams a file to path: write fills a buffered temporary file,
// created with mode perm less the umask, which is synced and renamed over
// path. On error the temporary is removed and path is untouched. Errors
// are returned as the operation reported them; callers name the file.
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

// writeTemp writes, syncs and closes a temporary file beside path, created
// with mode perm less the umask, and returns its name; on error it leaves
// nothing behind.
func writeTemp(path string, perm os.FileMode, write func(io.Writer) error) (name string, err error) {
	var tmp *os.File
	_, err = tempName(filepath.Dir(path), "."+filepath.Base(path)+".tmp-", func(name string) error {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		tmp = f
		return err
	})
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
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return tmp.Name(), nil
}

// WriteFile writes data to path atomically (see Write); its errors name
// path.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	err := Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// MkdirTemp creates a new folder prefix+RANDOM in dir with DirMode less
// the umask (os.MkdirTemp would make it 0700) and returns its path.
func MkdirTemp(dir, prefix string) (string, error) {
	return tempName(dir, prefix, func(name string) error { return os.Mkdir(name, DirMode) })
}

// tempName calls create with dir/prefix+RANDOM until a name is free
// (create returns an fs.ErrExist error for a taken one) and returns the
// name it created.
func tempName(dir, prefix string, create func(name string) error) (string, error) {
	for range 10000 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		err := create(name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, err
	}
	return "", &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, prefix+"*"), Err: fs.ErrExist}
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
