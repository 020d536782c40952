package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LibraryName is the file name of the CUDA library that `make cuda` builds.
const LibraryName = "libtune_cuda.so"

// envLib names the environment variable that points at the library.
const envLib = "TUNE_CUDA_LIB"

var (
	// ErrNotFound is matched (errors.Is) by Open's error when no library
	// file was found.
	ErrNotFound = errors.New("CUDA library not found")
	// ErrNoDevice is matched by Open's error when the library loaded but
	// found no usable GPU or driver.
	ErrNoDevice = errors.New("no usable CUDA GPU")
)

// findLibrary returns the library to load: env (the value of TUNE_CUDA_LIB)
// when set, else the first file that exists among searchPaths. Its error
// wraps ErrNotFound and lists the places it looked.
func findLibrary(env string) (string, error) {
	if env != "" {
		if _, err := os.Stat(env); err != nil {
			return "", fmt.Errorf("cuda: %w: %s=%s: %v", ErrNotFound, envLib, env, err)
		}
		return env, nil
	}
	paths := searchPaths()
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("cuda: %w (looked in %s); build it with make cuda, or set %s", ErrNotFound, strings.Join(paths, ", "), envLib)
}

// searchPaths lists where the library may be, in order: beside the
// executable; in build/cuda of the checkout the executable sits in (bin/..);
// in build/cuda of the Go module holding the working directory (the
// nearest parent with a go.mod, so that `go test ./cuda` finds it), or of
// the working directory itself.
func searchPaths() []string {
	var paths []string
	add := func(p string) {
		p = filepath.Clean(p)
		for _, q := range paths {
			if q == p {
				return
			}
		}
		paths = append(paths, p)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dir := filepath.Dir(exe)
		add(filepath.Join(dir, LibraryName))
		add(filepath.Join(dir, "..", "build", "cuda", LibraryName))
	}
	if wd, err := os.Getwd(); err == nil {
		add(filepath.Join(moduleRoot(wd), "build", "cuda", LibraryName))
	}
	return paths
}

// moduleRoot returns the nearest directory at or above dir holding a
// go.mod, or dir when there is none.
func moduleRoot(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}
