package runlog

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tune-dev/tune/internal/filetest"
)

func TestLogWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", LogFileName)
	l, err := OpenLog(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(TrainLogEntry(0.5, 1, math.NaN(), 1, 1e-05)); err != nil {
		t.Fatal(err)
	}
	type evalLine struct {
		Step     int     `json:"step"`
		EvalLoss float64 `json:"eval_loss"`
	}
	if err := l.Write(evalLine{Step: 2, EvalLoss: 1.25}); err != nil {
		t.Fatal(err)
	}
	if err := l.Write(map[string]any{"step": 3, "note": "é"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Write([]int{1}); err == nil {
		t.Error("non-object entry: no error")
	}
	// Each line is on disk once Write returns, before Close.
	want := `{"epoch": 0.5, "grad_norm": 1.0, "learning_rate": 1e-05, "loss": NaN, "step": 1}
{"eval_loss": 1.25, "step": 2}
{"note": "\u00e9", "step": 3}
`
	if got := filetest.ReadString(t, path); got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Write(map[string]any{"step": 4}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Write after Close: %v", err)
	}

	entries, err := ReadLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d entries", len(entries))
	}
	for i, e := range entries {
		if s, ok := EntryInt(e, "step"); !ok || s != i+1 {
			t.Errorf("entry %d step %v %v", i, s, ok)
		}
	}
	if loss, ok := EntryFloat(entries[0], "loss"); !ok || !math.IsNaN(loss) {
		t.Errorf("loss %v %v, want NaN", loss, ok)
	}
	if entries[2]["note"] != "é" {
		t.Errorf("note %q", entries[2]["note"])
	}

	// Append mode keeps the lines; truncate mode empties the file.
	l, err = OpenLog(path, true)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(map[string]any{"step": 4})
	l.Close()
	if entries, _ := ReadLog(path); len(entries) != 4 {
		t.Errorf("after append: %d entries, want 4", len(entries))
	}
	l, err = OpenLog(path, false)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if got := filetest.ReadString(t, path); got != "" {
		t.Errorf("after truncating open: %q", got)
	}
}

func TestLogTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), LogFileName)
	torn := "{\"step\": 1}\n\n{\"step\": 2}\n{\"step\": 3, \"lo"
	if err := os.WriteFile(path, []byte(torn), 0o644); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadLog(path)
	if err != nil || len(entries) != 2 {
		t.Fatalf("ReadLog of torn file: %d entries, %v", len(entries), err)
	}
	l, err := OpenLog(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Write(map[string]any{"step": 3}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if got, want := filetest.ReadString(t, path), "{\"step\": 1}\n\n{\"step\": 2}\n{\"step\": 3}\n"; got != want {
		t.Errorf("file %q, want %q", got, want)
	}

	// A file that is one torn line.
	os.WriteFile(path, []byte(`{"st`), 0o644)
	l, err = OpenLog(path, true)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if got := filetest.ReadString(t, path); got != "" {
		t.Errorf("file %q, want empty", got)
	}
}

func TestReadLogErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LogFileName)
	os.WriteFile(path, []byte("{\"step\": 1}\nnot json\n{\"step\": 3}\n"), 0o644)
	_, err := ReadLog(path)
	if err == nil || !strings.Contains(err.Error(), path+":2") {
		t.Errorf("bad line: %v", err)
	}
	os.WriteFile(path, []byte("[1]\n"), 0o644)
	if _, err := ReadLog(path); err == nil || !strings.Contains(err.Error(), path+":1") {
		t.Errorf("array line: %v", err)
	}
	missing := filepath.Join(dir, "missing.jsonl")
	if _, err := ReadLog(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing: %v", err)
	}
	if _, err := OpenLog(filepath.Join(path, "x.jsonl"), true); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("OpenLog under a file: %v", err)
	}
}

func TestTruncateLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LogFileName)
	text := `{"step": 1, "loss": 2.0}
{"event": "start"}
{"step": 2, "loss":   1.5}
{"step": 3, "loss": 1.0}
{"step": 3.0, "eval_loss": 1.1}
{"step": 4, "loss": NaN}
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := TruncateLog(path, 3); err != nil {
		t.Fatal(err)
	}
	want := `{"step": 1, "loss": 2.0}
{"event": "start"}
{"step": 2, "loss":   1.5}
{"step": 3, "loss": 1.0}
{"step": 3.0, "eval_loss": 1.1}
`
	if got := filetest.ReadString(t, path); got != want {
		t.Errorf("after TruncateLog(3):\n%s\nwant:\n%s", got, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if err := TruncateLog(path, 1); err != nil {
		t.Fatal(err)
	}
	if got, want := filetest.ReadString(t, path), "{\"step\": 1, \"loss\": 2.0}\n{\"event\": \"start\"}\n"; got != want {
		t.Errorf("after TruncateLog(1): %q", got)
	}
	if err := TruncateLog(filepath.Join(dir, "missing.jsonl"), 5); err != nil {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(path, []byte("{\"step\": 1}\nbad\n"), 0o644)
	if err := TruncateLog(path, 5); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad line: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporaries left: %d entries", len(ents))
	}
}
