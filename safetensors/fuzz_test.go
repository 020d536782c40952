package safetensors

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseHeader checks that ParseHeader never panics and that whatever it
// accepts satisfies the format's invariants. The seeds come from every golden
// safetensors file: its __metadata__ and first three tensors (in data order)
// with their dtypes, shapes and offsets, and the matching file size. The full
// headers (up to 14 KB) would make the fuzzer spend its time minimising.
// A few hand-made headers follow.
func FuzzParseHeader(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join(goldenDir, "*", "*.safetensors"))
	more, _ := filepath.Glob(filepath.Join(goldenDir, "*", "*", "*.safetensors"))
	for _, path := range append(golden, more...) {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		h, err := ParseHeader(raw, int64(len(raw)))
		if err != nil {
			f.Fatal(err)
		}
		var seed []Tensor
		var dataLen int64
		for _, ti := range h.Tensors[:min(3, len(h.Tensors))] {
			seed = append(seed, Tensor{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: make([]byte, ti.End-ti.Begin)})
			dataLen += ti.End - ti.Begin
		}
		header := encodeHeader(seed, h.Metadata)
		buf := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
		f.Add(append(buf, header...), int64(len(buf)+len(header))+dataLen)
	}
	for _, h := range []string{
		`{}`,
		`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}`,
		`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}}`,
		`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`,
	} {
		buf := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		f.Add(append(buf, h...), int64(len(buf)+len(h)+8))
	}
	f.Fuzz(func(t *testing.T, buf []byte, fileSize int64) {
		h, err := ParseHeader(buf, fileSize)
		if err != nil {
			return
		}
		if h.DataOffset < 8 || h.DataOffset > fileSize {
			t.Fatalf("data offset %d outside file of %d bytes", h.DataOffset, fileSize)
		}
		var end int64
		for _, ti := range h.Tensors {
			if ti.Begin != end {
				t.Fatalf("tensor %q begins at %d, previous ended at %d", ti.Name, ti.Begin, end)
			}
			if !ti.DType.Valid() {
				t.Fatalf("tensor %q has unknown dtype %q", ti.Name, ti.DType)
			}
			if n, ok := byteCount(ti.Shape, ti.DType.Size()); !ok || int64(n) != ti.End-ti.Begin {
				t.Fatalf("tensor %q: %v × %s does not fill [%d, %d]", ti.Name, ti.Shape, ti.DType, ti.Begin, ti.End)
			}
			end = ti.End
		}
		if end != fileSize-h.DataOffset {
			t.Fatalf("tensors end at %d, data section is %d bytes", end, fileSize-h.DataOffset)
		}
	})
}
