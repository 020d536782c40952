package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// WriteFile writes tensors and metadata to a safetensors file at path. The
// header holds __metadata__ first (omitted when metadata is empty), then the
// tensors sorted by name; their data follows in the same order. The file is
// written to a temporary file in the same folder, synced and renamed over
// path, so path never holds a partial file and an existing file is replaced
// only on success. (A File mapping the old file stays valid.)
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	sorted, err := prepare(path, tensors, metadata)
	if err != nil {
		return err
	}
	return writeFile(path, sorted, metadata)
}

// prepare validates tensors and metadata for writing and returns the tensors
// sorted by name. Errors name file.
func prepare(file string, tensors []Tensor, metadata map[string]string) ([]Tensor, error) {
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, errorf(file, "", "%s entry %q is not valid UTF-8", metadataKey, k)
		}
	}
	sorted := slices.Clone(tensors)
	slices.SortFunc(sorted, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	for i, t := range sorted {
		switch {
		case t.Name == "" || t.Name == metadataKey || !utf8.ValidString(t.Name):
			return nil, errorf(file, t.Name, "invalid tensor name")
		case i > 0 && sorted[i-1].Name == t.Name:
			return nil, errorf(file, t.Name, "duplicate tensor name")
		case !t.DType.Valid():
			return nil, errorf(file, t.Name, "unknown dtype %q", string(t.DType))
		case slices.ContainsFunc(t.Shape, func(d int) bool { return d < 0 }):
			return nil, errorf(file, t.Name, "negative dimension in shape %s", formatDims(t.Shape))
		}
		if err := t.checkLen(); err != nil {
			return nil, withFile(file, err)
		}
	}
	return sorted, nil
}

// writeFile writes tensors, already sorted and validated, to path.
func writeFile(path string, sorted []Tensor, metadata map[string]string) error {
	header := encodeHeader(sorted, metadata)
	return writeAtomic(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		for _, t := range sorted {
			if _, err := w.Write(t.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// encodeHeader builds the JSON header, padded with spaces to a multiple of 8.
func encodeHeader(sorted []Tensor, metadata map[string]string) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		writeJSONString(&b, metadataKey)
		b.WriteString(":{")
		for i, k := range slices.Sorted(maps.Keys(metadata)) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, metadata[k])
		}
		b.WriteByte('}')
	}
	var offset int
	for i, t := range sorted {
		if i > 0 || len(metadata) > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, t.Name)
		fmt.Fprintf(&b, `:{"dtype":"%s","shape":[`, t.DType)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, d)
		}
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, offset, offset+len(t.Data))
		offset += len(t.Data)
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

// writeJSONString writes s as a JSON string, without HTML escaping (as the
// reference writer does).
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // encoding a string into a buffer cannot fail
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

// writeAtomic writes a file through a temporary file in the same folder that
// is synced and then renamed to path (atomicfile.Write). On failure the
// temporary file is removed and path is untouched.
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, 0o644, write); err != nil {
		return &Error{File: path, Err: err}
	}
	return nil
}

// shardName is the Hugging Face name of shard i (from 1) of n.
func shardName(i, n int) string {
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i, n)
}

var shardPattern = regexp.MustCompile(`^model-\d{5}-of-\d{5}\.safetensors$`)

// WriteSharded writes tensors into dir (created if needed) the way Hugging
// Face's save_pretrained does. Taking the tensors sorted by name, it starts a
// new shard whenever the next tensor would push the current one past
// maxShardBytes of tensor data (a tensor larger than that gets a shard of its
// own). With one shard it writes model.safetensors; with n > 1 it writes
// model-00001-of-0000n.safetensors ... and model.safetensors.index.json
// (metadata.total_size and weight_map). Every shard gets metadata.
//
// Each file is replaced atomically (see WriteFile) and the index is written
// last. Afterwards, files of an earlier save that would shadow or confuse this
// one are removed: model.safetensors (when sharding), the index (when not),
// and model-*-of-*.safetensors shards not written now.
func WriteSharded(dir string, tensors []Tensor, metadata map[string]string, maxShardBytes int64) error {
	if maxShardBytes <= 0 {
		return errorf(dir, "", "maximum shard size %d is not positive", maxShardBytes)
	}
	sorted, err := prepare(dir, tensors, metadata)
	if err != nil {
		return err
	}
	var shards [][]Tensor
	var size int64
	for _, t := range sorted {
		n := int64(len(t.Data))
		if len(shards) == 0 || size > 0 && size+n > maxShardBytes {
			shards = append(shards, nil)
			size = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], t)
		size += n
	}
	if err := os.MkdirAll(dir, atomicfile.DirMode); err != nil {
		return &Error{File: dir, Err: err}
	}
	if len(shards) <= 1 {
		var all []Tensor
		if len(shards) == 1 {
			all = shards[0]
		}
		if err := writeFile(filepath.Join(dir, SingleFileName), all, metadata); err != nil {
			return err
		}
		return removeStale(dir, map[string]bool{SingleFileName: true}, IndexFileName)
	}

	var idx struct {
		Metadata struct {
			TotalSize int64 `json:"total_size"`
		} `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	idx.WeightMap = map[string]string{}
	keep := map[string]bool{IndexFileName: true}
	for i, shard := range shards {
		name := shardName(i+1, len(shards))
		if err := writeFile(filepath.Join(dir, name), shard, metadata); err != nil {
			return err
		}
		keep[name] = true
		for _, t := range shard {
			idx.WeightMap[t.Name] = name
			idx.Metadata.TotalSize += int64(len(t.Data))
		}
	}
	indexPath := filepath.Join(dir, IndexFileName)
	err = writeAtomic(indexPath, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(idx)
	})
	if err != nil {
		return err
	}
	return removeStale(dir, keep, SingleFileName)
}

// removeStale removes from dir the file other (if present) and every
// model-*-of-*.safetensors shard not in keep.
func removeStale(dir string, keep map[string]bool, other string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &Error{File: dir, Err: err}
	}
	for _, e := range entries {
		name := e.Name()
		if keep[name] || name != other && !shardPattern.MatchString(name) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &Error{File: dir, Err: fmt.Errorf("remove stale %s: %w", name, err)}
		}
	}
	return nil
}
