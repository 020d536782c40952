package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// Hugging Face file names.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// Checkpoint is one or more safetensors files behind a single tensor name
// space: a single file, or the shards of a model.safetensors.index.json. Its
// methods may be called from several goroutines at once, except Close.
type Checkpoint struct {
	Path  string // as given to OpenCheckpoint
	Index string // the index file, or "" for a single-file checkpoint

	files []*File
	owner map[string]*File
	names []string
}

// OpenCheckpoint opens path, which is a .safetensors file, an index .json
// file, or a folder holding model.safetensors, model.safetensors.index.json
// (model.safetensors wins when both exist, as in Hugging Face) or exactly one
// *.safetensors file.
func OpenCheckpoint(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	file := path
	if st.IsDir() {
		if file, err = resolveDir(path); err != nil {
			return nil, err
		}
	}
	if strings.HasSuffix(file, ".json") {
		return openIndex(path, file)
	}
	f, err := Open(file)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Path: path, files: []*File{f}, owner: map[string]*File{}, names: f.Names()}
	for _, n := range c.names {
		c.owner[n] = f
	}
	return c, nil
}

// resolveDir picks the checkpoint file of a folder.
func resolveDir(dir string) (string, error) {
	for _, name := range []string{SingleFileName, IndexFileName} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	matches, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return "", &Error{File: dir, Err: err}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", errorf(dir, "", "folder has no %s, %s or other *.safetensors file", SingleFileName, IndexFileName)
	}
	for i, m := range matches {
		matches[i] = filepath.Base(m)
	}
	return "", errorf(dir, "", "folder has no %s or %s but %d *.safetensors files (%s): open one of them",
		SingleFileName, IndexFileName, len(matches), strings.Join(matches, ", "))
}

// index is the parsed model.safetensors.index.json.
type index struct {
	Metadata  map[string]json.RawMessage `json:"metadata"`
	WeightMap map[string]string          `json:"weight_map"`
}

// openIndex opens every shard of an index and checks them against it.
func openIndex(path, indexPath string) (c *Checkpoint, err error) {
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, &Error{File: indexPath, Err: err}
	}
	if err := checkNoDuplicateKeys(raw); err != nil {
		return nil, errorf(indexPath, "", "invalid index JSON: %w", err)
	}
	var idx index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, errorf(indexPath, "", "invalid index JSON: %w", err)
	}
	if idx.WeightMap == nil {
		return nil, errorf(indexPath, "", "index has no weight_map")
	}
	// metadata.total_size is informational: exporters disagree on what it
	// counts, so only its form is checked, not its value.
	if err := checkTotalSize(idx.Metadata); err != nil {
		return nil, errorf(indexPath, "", "%w", err)
	}

	// Group the tensors by shard, in a deterministic order.
	byShard := map[string][]string{}
	for name, shard := range idx.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || shard == "." || shard == ".." || strings.ContainsAny(shard, `/\`) {
			return nil, errorf(indexPath, name, "weight_map names shard %q, which is not a plain file name in the index's folder", shard)
		}
		byShard[shard] = append(byShard[shard], name)
	}
	shards := make([]string, 0, len(byShard))
	for s, names := range byShard {
		slices.Sort(names)
		shards = append(shards, s)
	}
	slices.Sort(shards)

	c = &Checkpoint{Path: path, Index: indexPath, owner: map[string]*File{}}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	dir := filepath.Dir(indexPath)
	for _, s := range shards {
		f, err := Open(filepath.Join(dir, s))
		if errors.Is(err, fs.ErrNotExist) {
			names := byShard[s]
			return c, errorf(indexPath, "", "shard %q, listed in weight_map for %d tensors (first %q), does not exist", s, len(names), names[0])
		}
		if err != nil {
			return c, err
		}
		c.files = append(c.files, f)
		for _, n := range f.names {
			if prev, dup := c.owner[n]; dup {
				return c, errorf(indexPath, n, "present in two shards, %q and %q", filepath.Base(prev.Path), s)
			}
			c.owner[n] = f
		}
	}
	for _, s := range shards {
		for _, n := range byShard[s] {
			switch f, ok := c.owner[n]; {
			case !ok:
				return c, errorf(indexPath, n, "listed in weight_map under %q but not in that file", s)
			case filepath.Base(f.Path) != s:
				return c, errorf(indexPath, n, "listed in weight_map under %q but stored in %q", s, filepath.Base(f.Path))
			}
		}
	}
	for _, f := range c.files {
		for _, n := range f.names {
			if _, ok := idx.WeightMap[n]; !ok {
				return c, errorf(indexPath, n, "stored in shard %q but not listed in weight_map", filepath.Base(f.Path))
			}
		}
	}
	c.names = make([]string, 0, len(idx.WeightMap))
	for n := range idx.WeightMap {
		c.names = append(c.names, n)
	}
	slices.Sort(c.names)
	return c, nil
}

// checkTotalSize checks that metadata.total_size, which is optional, is a
// non-negative integer.
func checkTotalSize(md map[string]json.RawMessage) error {
	raw, ok := md["total_size"]
	if !ok {
		return nil
	}
	size, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil || size < 0 {
		return fmt.Errorf("metadata.total_size is %s, not a non-negative integer", raw)
	}
	return nil
}

// checkNoDuplicateKeys walks a JSON document and fails on a duplicate object
// key anywhere in it (encoding/json would keep the last one silently).
func checkNoDuplicateKeys(js []byte) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				key, err := objectKey(dec)
				if err != nil {
					return err
				}
				if seen[key] {
					return fmt.Errorf("duplicate key %q", key)
				}
				seen[key] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	err := walk()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Names returns every tensor name, sorted.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Has reports whether the checkpoint holds the named tensor.
func (c *Checkpoint) Has(name string) bool {
	_, ok := c.owner[name]
	return ok
}

// Tensor returns the named tensor, or an error naming the checkpoint and the
// tensor. Its Data is valid until Close and must not be written to.
func (c *Checkpoint) Tensor(name string) (Tensor, error) {
	f, ok := c.owner[name]
	if !ok {
		return Tensor{}, errorf(c.Path, name, "not in this checkpoint")
	}
	t, _ := f.Tensor(name)
	return t, nil
}

// FileOf returns the path of the file holding the named tensor, or "".
func (c *Checkpoint) FileOf(name string) string {
	if f, ok := c.owner[name]; ok {
		return f.Path
	}
	return ""
}

// Release tells the operating system that the process is done with data,
// the Data of a tensor of c or a part of it: where the files are mapped,
// its pages leave the process's resident memory (they are read again from
// the file if touched), so a loader that copies tensors elsewhere piece by
// piece stays at about one piece of resident checkpoint memory instead of
// the whole checkpoint. The data stays valid. Bytes outside c's files are
// left alone.
func (c *Checkpoint) Release(data []byte) {
	for _, f := range c.files {
		if within(f.data, data) {
			releasePages(f.data, data)
			return
		}
	}
}

// within reports whether part lies inside whole.
func within(whole, part []byte) bool {
	if len(whole) == 0 || len(part) == 0 {
		return false
	}
	w, p := uintptr(unsafe.Pointer(unsafe.SliceData(whole))), uintptr(unsafe.Pointer(unsafe.SliceData(part)))
	return p >= w && p+uintptr(len(part)) <= w+uintptr(len(whole))
}

// Files returns the open files of the checkpoint (one per shard, sorted by
// name).
func (c *Checkpoint) Files() []*File { return slices.Clone(c.files) }

// Close closes every file; tensors read from the checkpoint become invalid.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	c.files, c.owner, c.names = nil, nil, nil
	return errors.Join(errs...)
}
