package cuda

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindLibraryFromEnv(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing.so")
	_, err := findLibrary(missing)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), envLib+"="+missing) {
		t.Errorf("findLibrary(%s) = %v, want ErrNotFound naming %s", missing, err, envLib)
	}
	file := filepath.Join(t.TempDir(), "lib.so")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := findLibrary(file); err != nil || got != file {
		t.Errorf("findLibrary(%s) = %q, %v; want the file itself", file, got, err)
	}
}

func TestSearchPaths(t *testing.T) {
	paths := searchPaths()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		filepath.Join(filepath.Dir(exe), LibraryName),
		filepath.Join(moduleRoot(wd), "build", "cuda", LibraryName),
	} {
		found := false
		for _, p := range paths {
			found = found || p == want
		}
		if !found {
			t.Errorf("search paths %v lack %s", paths, want)
		}
	}
	if _, err := findLibrary(""); err != nil && !strings.Contains(err.Error(), strings.Join(paths, ", ")) {
		t.Errorf("not-found error does not list the search paths: %v", err)
	}
}
