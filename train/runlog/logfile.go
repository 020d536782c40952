package runlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/tune-dev/tune/internal/atomicfile"
	"github.com/tune-dev/tune/internal/pyjson"
)

// training_log.jsonl: one JSON object per line, appended as the run goes
// (a training log every logging_steps, an evaluation every eval_steps, ...).
// Lines are written with the same Python-compatible JSON as
// trainer_state.json (sorted keys, NaN and Infinity allowed, json.dumps'
// default separators), so a NaN loss is logged rather than failing, and
// Python's json.loads reads every line back.

// LogFileName is the conventional name of the training log.
const LogFileName = "training_log.jsonl"

// Log appends JSON lines to a training log. Each Write is one write(2) of
// a complete line followed by fsync, so after a crash the file holds
// every line whose Write returned, and at most one torn last line (which
// OpenLog in append mode and ReadLog drop). Its methods are safe for
// concurrent use.
type Log struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// OpenLog opens the training log at path, creating it and its directory
// as needed. With appendMode it keeps the existing lines (resuming a run;
// call TruncateLog first to drop lines past the resumed step) and removes
// a torn, newline-less last line left by a crash; without it the file is
// emptied.
func OpenLog(path string, appendMode bool) (*Log, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, atomicfile.DirMode); err != nil {
			return nil, fmt.Errorf("training log: %w", err)
		}
	}
	flag := os.O_WRONLY | os.O_CREATE
	if appendMode {
		flag |= os.O_APPEND
	} else {
		flag |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("training log: %w", err)
	}
	if appendMode {
		if err := dropTornTail(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("training log %s: %w", path, err)
		}
	}
	return &Log{path: path, f: f}, nil
}

// dropTornTail truncates f after its last newline.
func dropTornTail(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size == 0 {
		return nil
	}
	r, err := os.Open(f.Name())
	if err != nil {
		return err
	}
	defer r.Close()
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := r.ReadAt(buf[:n], end-n); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end == size {
		return nil
	}
	if err := f.Truncate(end); err != nil {
		return err
	}
	return f.Sync()
}

// Path returns the log's path.
func (l *Log) Path() string { return l.path }

// Write appends entry as one line and fsyncs it. entry is usually a
// map[string]any (keys are sorted; NaN and Infinity allowed); other
// values, structs included, are accepted and laid out the same way after
// going through encoding/json (which rejects NaN in them and writes an
// integral float64 field as 2, where a map value would give 2.0).
func (l *Log) Write(entry any) error {
	b, err := pyjson.Append(nil, entry, "")
	if err != nil {
		return fmt.Errorf("training log %s: %w", l.path, err)
	}
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("training log %s: entry is not a JSON object", l.path)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("training log %s: write after close", l.path)
	}
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("training log %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("training log %s: %w", l.path, err)
	}
	return nil
}

// Close closes the file. Closing twice is a no-op.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("training log %s: %w", l.path, err)
	}
	return nil
}

// logLine is one line of a log file with its parsed entry.
type logLine struct {
	raw   []byte // without the newline
	entry map[string]any
}

// readLogLines parses path. Blank lines are skipped; a last line without
// a newline that does not parse is a torn write and is dropped; any other
// bad line is an error naming the file and line.
func readLogLines(path string) ([]logLine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("training log: %w", err)
	}
	var out []logLine
	for n := 1; len(data) > 0; n++ {
		line, rest, found := bytes.Cut(data, []byte{'\n'})
		data = rest
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		v, err := pyjson.Decode(line)
		if err == nil {
			m, ok := v.(map[string]any)
			if !ok {
				err = fmt.Errorf("want a JSON object, got %s", pyjson.Kind(v))
			} else {
				out = append(out, logLine{raw: line, entry: m})
				continue
			}
		}
		if !found {
			break // torn last line
		}
		return nil, fmt.Errorf("training log %s:%d: %w", path, n, err)
	}
	return out, nil
}

// ReadLog returns the entries of the training log at path, in order.
// Numbers come back as json.Number (NaN and ±Infinity as float64): read
// them with EntryFloat and EntryInt. Blank lines and a torn last line are
// skipped.
func ReadLog(path string) ([]map[string]any, error) {
	lines, err := readLogLines(path)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(lines))
	for i, l := range lines {
		out[i] = l.entry
	}
	return out, nil
}

// TruncateLog rewrites the training log at path, atomically
// (atomicfile.WriteFile), keeping only the entries whose "step" is at most
// afterStep: resuming from the checkpoint of step afterStep drops what
// the interrupted run logged after it. Entries without an integer "step"
// are kept. Kept lines are copied byte for byte. A missing file is not an
// error (nothing to truncate). Close any Log open on path first.
func TruncateLog(path string, afterStep int) error {
	lines, err := readLogLines(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	perm := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	var buf bytes.Buffer
	for _, l := range lines {
		if step, ok := EntryInt(l.entry, "step"); ok && step > afterStep {
			continue
		}
		buf.Write(l.raw)
		buf.WriteByte('\n')
	}
	return atomicfile.WriteFile(path, buf.Bytes(), perm)
}
