package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tune-dev/tune/internal/filetest"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestWriteFileNamesPath: WriteFile replaces a file and leaves nothing
// beside it; a failed write names the file and leaves no temporary.
func TestWriteFileNamesPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := filetest.ReadString(t, path); got != "two" {
		t.Errorf("content %q", got)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("directory holds %v", names)
	}

	missing := filepath.Join(dir, "no", "such", "file")
	if err := WriteFile(missing, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing directory: %v", err)
	}
	// Renaming onto a directory fails; the temporary must not stay.
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "f"), nil, 0o644)
	if err := WriteFile(sub, []byte("x"), 0o644); err == nil || !strings.Contains(err.Error(), sub) {
		t.Errorf("onto a directory: %v", err)
	}
	if names := dirNames(t, dir); len(names) != 2 {
		t.Errorf("directory holds %v", names)
	}
}

func TestTempDirCommitDir(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "out")
	tmp, err := TempDir(parent, "checkpoint-10")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(tmp) != parent || !strings.HasPrefix(filepath.Base(tmp), ".checkpoint-10.tmp-") {
		t.Errorf("temp dir %q", tmp)
	}
	os.WriteFile(filepath.Join(tmp, "adapter.safetensors"), []byte("new"), 0o644)
	os.MkdirAll(filepath.Join(tmp, "nested"), 0o755)
	os.WriteFile(filepath.Join(tmp, "nested", "f"), []byte("n"), 0o644)

	final := filepath.Join(parent, "checkpoint-10")
	if err := CommitDir(tmp, final); err != nil {
		t.Fatal(err)
	}
	if got := filetest.ReadString(t, filepath.Join(final, "nested", "f")); got != "n" {
		t.Errorf("nested file %q", got)
	}
	if names := dirNames(t, parent); len(names) != 1 || names[0] != "checkpoint-10" {
		t.Errorf("parent holds %v", names)
	}

	// Replacing an existing directory: old content gone, nothing left over.
	tmp2, err := TempDir(parent, "checkpoint-10")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmp2, "adapter.safetensors"), []byte("newer"), 0o644)
	if err := CommitDir(tmp2, final); err != nil {
		t.Fatal(err)
	}
	if got := filetest.ReadString(t, filepath.Join(final, "adapter.safetensors")); got != "newer" {
		t.Errorf("content %q", got)
	}
	if _, err := os.Stat(filepath.Join(final, "nested")); !os.IsNotExist(err) {
		t.Errorf("old content survived: %v", err)
	}
	if names := dirNames(t, parent); len(names) != 1 {
		t.Errorf("parent holds %v", names)
	}

	// Replacing a plain file.
	file := filepath.Join(parent, "plainfile")
	os.WriteFile(file, []byte("x"), 0o644)
	tmp3, _ := TempDir(parent, "plainfile")
	if err := CommitDir(tmp3, file); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(file); err != nil || !st.IsDir() {
		t.Errorf("plainfile not replaced by a directory: %v", err)
	}
	if names := dirNames(t, parent); len(names) != 2 {
		t.Errorf("parent holds %v", names)
	}
}

func TestCommitDirErrors(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "final")
	if err := CommitDir(filepath.Join(dir, "missing"), final); err == nil || !strings.Contains(err.Error(), final) {
		t.Errorf("missing tmp: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if err := CommitDir(file, final); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("tmp is a file: %v", err)
	}
	if _, err := TempDir(dir, "a/b"); err == nil {
		t.Error("TempDir with a slash in the name: no error")
	}
	if _, err := TempDir(dir, ""); err == nil {
		t.Error("TempDir with an empty name: no error")
	}
	if _, err := TempDir(filepath.Join(file, "sub"), "x"); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("TempDir under a file: %v", err)
	}
}

// TestCleanLeftovers removes the temporaries of the names it is given,
// puts back an old copy whose final name is missing, and leaves every
// other name alone.
func TestCleanLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{".ck-3.old-11", ".ck-4.old-12", "ck-4", ".ck-4.tmp-13", ".other.tmp-14", ".ck-5.tmp-x"} {
		if err := os.MkdirAll(filepath.Join(dir, d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".ck-6.tmp-15"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	ours := func(name string) bool { return strings.HasPrefix(name, "ck-") }
	done, err := CleanLeftovers(dir, ours)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".ck-3.old-11 (put back as ck-3)", ".ck-4.old-12", ".ck-4.tmp-13", ".ck-6.tmp-15"}
	if strings.Join(done, "|") != strings.Join(want, "|") {
		t.Fatalf("cleaned %q, want %q", done, want)
	}
	if got := strings.Join(dirNames(t, dir), " "); got != ".ck-5.tmp-x .other.tmp-14 ck-3 ck-4" {
		t.Fatalf("left %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "ck-3", "sub")); err != nil {
		t.Fatal("the old copy was not put back whole:", err)
	}
	if done, err := CleanLeftovers(filepath.Join(dir, "absent"), ours); err != nil || done != nil {
		t.Fatalf("absent folder: %v, %v", done, err)
	}
}
