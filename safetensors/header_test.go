package safetensors

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// safetensorsBytes lays out a file by hand: u64 little-endian header length,
// header, data (the format as described in the golden README).
func safetensorsBytes(header string, dataLen int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, dataLen)...)
}

func writeTemp(t *testing.T, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, os.WriteFile(path, content, 0o644))
	return path
}

// Every malformed file is rejected with an error naming the file and, where
// one is at fault, the tensor. The expected phrases are this package's
// wording; the expected numbers follow from the hand-made headers (F32 is 4
// bytes an element).
func TestOpenRejectsBadFiles(t *testing.T) {
	const a8 = `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	tests := []struct {
		name   string
		raw    []byte // file content
		tensor string // tensor the error must name, "" for none
		want   string // phrase the error must contain
	}{
		{"empty file", nil, "", "file is 0 bytes, too short for the 8-byte header length"},
		{"truncated length", []byte{2, 0, 0, 0, 0}, "", "file is 5 bytes"},
		{"header length past end", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), "",
			"header length 1000 runs past the end of the file (10 bytes, so at most 2)"},
		{"header length near 2^64", append(binary.LittleEndian.AppendUint64(nil, 1<<63+5), "{}"...), "",
			"header length 9223372036854775813 runs past the end of the file"},
		{"header cut short", safetensorsBytes(`{"a":{"dtype":"F32","shape":[2],"data_o`, 0), "a", "invalid header JSON"},
		{"data cut short", safetensorsBytes(`{`+a8+`}`, 6), "a", "data_offsets [0, 8] run past the end of the data section (6 bytes)"},
		{"offsets out of range", safetensorsBytes(`{`+a8+`,"b":{"dtype":"F32","shape":[8],"data_offsets":[8,40]}}`, 16), "b",
			"data_offsets [8, 40] run past the end of the data section (16 bytes)"},
		{"overlapping offsets", safetensorsBytes(`{`+a8+`,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), "b",
			`data_offsets [4, 12] overlap tensor "a" [0, 8]`},
		{"same offsets twice", safetensorsBytes(`{`+a8+`,"b":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, 8), "b",
			`data_offsets [0, 8] overlap tensor "a" [0, 8]`},
		{"gap between tensors", safetensorsBytes(`{`+a8+`,"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}`, 20), "b",
			`data_offsets [12, 20] leave a gap of 4 bytes after tensor "a" [0, 8]`},
		{"first tensor not at 0", safetensorsBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), "a",
			"the first tensor of the data section must begin at 0"},
		{"trailing data", safetensorsBytes(`{`+a8+`}`, 12), "a",
			"the last tensor ends at 8 but the data section is 12 bytes (4 bytes unaccounted for)"},
		{"no tensors but data", safetensorsBytes(`{}`, 4), "", "header lists no tensors but the data section is 4 bytes"},
		{"reversed offsets", safetensorsBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, 8), "a",
			"data_offsets [8, 0] are not an increasing pair of non-negative offsets"},
		{"negative offset", safetensorsBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, 8), "a",
			"data_offsets [-8, 0] are not an increasing pair"},
		{"three offsets", safetensorsBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, 8), "a",
			"data_offsets [0, 4, 8] must be [begin, end]"},
		{"unknown dtype", safetensorsBytes(`{"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}}`, 8), "a", `unknown dtype "F99"`},
		{"lower-case dtype", safetensorsBytes(`{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}`, 8), "a", `unknown dtype "f32"`},
		{"dtype not a string", safetensorsBytes(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, 8), "a", "dtype must be a string, found number 4"},
		{"dtype true", safetensorsBytes(`{"a":{"dtype":true,"shape":[2],"data_offsets":[0,8]}}`, 8), "a", "dtype must be a string, found true"},
		{"dtype null", safetensorsBytes(`{"a":{"dtype":null,"shape":[2],"data_offsets":[0,8]}}`, 8), "a", "dtype must be a string, found null"},
		{"shape bytes mismatch", safetensorsBytes(`{"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}}`, 8), "a",
			"shape [2, 3] × BF16 = 12 bytes but data_offsets span 8"},
		{"shape overflows", safetensorsBytes(`{"a":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}}`, 8), "a",
			"shape [2147483647, 2147483647, 2147483647] × F32 overflows"},
		{"negative dimension", safetensorsBytes(`{"a":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,8]}}`, 8), "a",
			"negative dimension -3 in shape [2, -3]"},
		{"fractional dimension", safetensorsBytes(`{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, 8), "a",
			"shape: 2.5 is not a 64-bit integer"},
		{"dimension as string", safetensorsBytes(`{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, 8), "a",
			`shape must be an array of integers, found string "2"`},
		{"nested shape", safetensorsBytes(`{"a":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}}`, 8), "a",
			`shape must be an array of integers, found "["`},
		{"missing fields", safetensorsBytes(`{"a":{"dtype":"F32"}}`, 0), "a", "entry lacks shape, data_offsets"},
		{"entry not an object", safetensorsBytes(`{"a":[0,8]}`, 8), "a", `entry must be an object, found "["`},
		{"duplicate names", safetensorsBytes(`{`+a8+`,`+a8+`}`, 8), "a", "duplicate name in header"},
		{"duplicate names apart", safetensorsBytes(`{`+a8+`,"b":{"dtype":"U8","shape":[0],"data_offsets":[8,8]},`+a8+`}`, 8), "a",
			"duplicate name in header"},
		{"duplicate field", safetensorsBytes(`{"a":{"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}}`, 8), "a",
			`duplicate field "dtype"`},
		{"duplicate metadata", safetensorsBytes(`{"__metadata__":{},"__metadata__":{}}`, 0), "", "duplicate __metadata__"},
		{"duplicate metadata key", safetensorsBytes(`{"__metadata__":{"k":"1","k":"2"}}`, 0), "", `__metadata__: duplicate key "k"`},
		{"metadata value not a string", safetensorsBytes(`{"__metadata__":{"format":"pt","n":1}}`, 0), "",
			`__metadata__: value of "n" must be a string, found number 1`},
		{"metadata value an object", safetensorsBytes(`{"__metadata__":{"o":{}}}`, 0), "",
			`__metadata__: value of "o" must be a string, found "{"`},
		{"metadata not an object", safetensorsBytes(`{"__metadata__":["pt"]}`, 0), "", `__metadata__ must be an object of strings, found "["`},
		{"header not an object", safetensorsBytes(`[]`, 0), "", `invalid header JSON: expected "{", found "["`},
		{"empty header", safetensorsBytes(``, 0), "", "invalid header JSON: unexpected EOF"},
		{"trailing comma", safetensorsBytes(`{`+a8+`,}`, 8), "", "invalid header JSON"},
		{"missing colon", safetensorsBytes(`{"a" {}}`, 0), "a", "invalid header JSON"},
		{"garbage after object", safetensorsBytes(`{`+a8+`} x`, 8), "", "invalid header JSON"},
		{"second object", safetensorsBytes(`{`+a8+`}{}`, 8), "", `invalid header JSON: unexpected "{" after the header object`},
		{"padding with NUL bytes", safetensorsBytes(`{`+a8+"}\x00\x00", 8), "", "invalid header JSON"},
		{"invalid UTF-8", safetensorsBytes("{\"\xff\":{}}", 0), "", "header is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.raw)
			f, err := Open(path)
			require.Error(t, err)
			assert.Nil(t, f)
			msg := err.Error()
			t.Log(msg)
			assert.True(t, strings.HasPrefix(msg, "safetensors: "+path+": "), "error names the file: %s", msg)
			if tt.tensor != "" {
				assert.Contains(t, msg, `tensor "`+tt.tensor+`": `, "error names the tensor")
			}
			assert.Contains(t, msg, tt.want)
			var e *Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, path, e.File)
			assert.Equal(t, tt.tensor, e.Tensor)
		})
	}
}

// The message of the issue, word for word.
func TestOpenShapeMismatchMessage(t *testing.T) {
	path := writeTemp(t, safetensorsBytes(`{"model.norm.weight":{"dtype":"F32","shape":[64],"data_offsets":[0,252]}}`, 252))
	_, err := Open(path)
	require.EqualError(t, err, "safetensors: "+path+`: tensor "model.norm.weight": shape [64] × F32 = 256 bytes but data_offsets span 252`)
}

func TestOpenMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.safetensors")
	_, err := Open(path)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), path)
	_, err = Open(t.TempDir())
	require.ErrorContains(t, err, "not a regular file")
}

// Headers that are unusual but valid.
func TestOpenAcceptsValidEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		raw     []byte
		names   []string
		meta    map[string]string
		shapeOf map[string][]int
	}{
		{"empty checkpoint", safetensorsBytes(`{}`, 0), []string{}, nil, nil},
		{"null metadata", safetensorsBytes(`{"__metadata__":null}`, 0), []string{}, nil, nil},
		{"metadata only, padded", safetensorsBytes(`{"__metadata__":{"format":"pt"}}      `, 0), []string{}, map[string]string{"format": "pt"}, nil},
		{"unknown entry fields ignored",
			safetensorsBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":{"x":[1,{"y":null}]}}}`, 8),
			[]string{"a"}, nil, map[string][]int{"a": {2}}},
		{"scalar and zero-size tensors, entries out of order",
			safetensorsBytes(`{"z":{"dtype":"F64","shape":[],"data_offsets":[4,12]},"e":{"dtype":"I32","shape":[0,5],"data_offsets":[4,4]},`+
				`"b":{"dtype":"BOOL","shape":[4],"data_offsets":[0,4]},"e2":{"dtype":"U8","shape":[0],"data_offsets":[12,12]}}`, 12),
			[]string{"b", "e", "e2", "z"}, nil, map[string][]int{"z": {}, "e": {0, 5}, "b": {4}, "e2": {0}}},
		{"all dtypes", safetensorsBytes(`{`+
			`"f64":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"i64":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},`+
			`"u64":{"dtype":"U64","shape":[1],"data_offsets":[16,24]},"f32":{"dtype":"F32","shape":[1],"data_offsets":[24,28]},`+
			`"i32":{"dtype":"I32","shape":[1],"data_offsets":[28,32]},"u32":{"dtype":"U32","shape":[1],"data_offsets":[32,36]},`+
			`"f16":{"dtype":"F16","shape":[1],"data_offsets":[36,38]},"bf16":{"dtype":"BF16","shape":[1],"data_offsets":[38,40]},`+
			`"i16":{"dtype":"I16","shape":[1],"data_offsets":[40,42]},"u16":{"dtype":"U16","shape":[1],"data_offsets":[42,44]},`+
			`"i8":{"dtype":"I8","shape":[1],"data_offsets":[44,45]},"u8":{"dtype":"U8","shape":[1],"data_offsets":[45,46]},`+
			`"bool":{"dtype":"BOOL","shape":[1],"data_offsets":[46,47]},"e4m3":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[47,48]},`+
			`"e5m2":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[48,49]}}`, 49),
			[]string{"bf16", "bool", "e4m3", "e5m2", "f16", "f32", "f64", "i16", "i32", "i64", "i8", "u16", "u32", "u64", "u8"}, nil, nil},
		{"escaped and non-ASCII names", safetensorsBytes(`{"a\"b\u00e9\\":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"ж":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2),
			[]string{"a\"bé\\", "ж"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(writeTemp(t, tt.raw))
			require.NoError(t, err)
			defer f.Close()
			assert.Equal(t, tt.names, f.Names())
			assert.Equal(t, tt.meta, f.Metadata)
			for name, shape := range tt.shapeOf {
				tn, ok := f.Tensor(name)
				require.True(t, ok)
				assert.Equal(t, shape, tn.Shape, name)
			}
		})
	}
}

// ParseHeader needs only the header bytes, not the data section, and reports
// the tensors in data order.
func TestParseHeaderWithoutData(t *testing.T) {
	buf := safetensorsBytes(`{"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"I64","shape":[3],"data_offsets":[8,32]}}`, 0)
	h, err := ParseHeader(buf, int64(len(buf))+32)
	require.NoError(t, err)
	assert.Equal(t, int64(len(buf)), h.DataOffset)
	require.Len(t, h.Tensors, 2)
	assert.Equal(t, TensorInfo{Name: "b", DType: F32, Shape: []int{2}, Begin: 0, End: 8}, h.Tensors[0])
	assert.Equal(t, TensorInfo{Name: "a", DType: I64, Shape: []int{3}, Begin: 8, End: 32}, h.Tensors[1])

	_, err = ParseHeader(buf[:20], int64(len(buf))+32)
	require.ErrorContains(t, err, "buffer holds 20 bytes but the header needs")
	_, err = ParseHeader(buf[:3], 100)
	require.ErrorContains(t, err, "buffer holds 3 bytes")
	_, err = ParseHeader(safetensorsBytes(strings.Repeat(" ", MaxHeaderSize+1), 0), MaxHeaderSize+9)
	require.ErrorContains(t, err, "exceeds the limit")
}
