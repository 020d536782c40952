package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize is the largest header this package accepts, as in the
// reference implementation (100 MB). A larger length is taken as corruption.
const MaxHeaderSize = 100_000_000

// metadataKey is the header key of the free-form string metadata.
const metadataKey = "__metadata__"

// Header is a parsed and validated safetensors header.
type Header struct {
	Metadata   map[string]string // nil when the header has no __metadata__
	Tensors    []TensorInfo      // in data order: sorted by Begin (then End, then Name)
	DataOffset int64             // where the data section starts in the file: 8 + header length
}

// TensorInfo is one header entry. Begin and End are relative to the start of
// the data section.
type TensorInfo struct {
	Name       string
	DType      DType
	Shape      []int
	Begin, End int64
}

// ParseHeader parses and validates the header of a safetensors file of
// fileSize bytes whose first bytes are buf. buf must hold at least the 8-byte
// length and the header; it may hold more (the whole file) but the data
// section is never read. Errors are *Error values without a file name (Open
// adds it).
func ParseHeader(buf []byte, fileSize int64) (*Header, error) {
	if fileSize < 8 {
		return nil, errorf("", "", "file is %d bytes, too short for the 8-byte header length", fileSize)
	}
	if len(buf) < 8 {
		return nil, errorf("", "", "buffer holds %d bytes, too short for the 8-byte header length", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > uint64(fileSize-8) {
		return nil, errorf("", "", "header length %d runs past the end of the file (%d bytes, so at most %d)", n, fileSize, fileSize-8)
	}
	if n > MaxHeaderSize {
		return nil, errorf("", "", "header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if uint64(len(buf)-8) < n {
		return nil, errorf("", "", "buffer holds %d bytes but the header needs %d", len(buf), 8+n)
	}
	h := &Header{DataOffset: 8 + int64(n)}
	if err := h.parseJSON(buf[8 : 8+n]); err != nil {
		return nil, err
	}
	if err := h.validate(fileSize - h.DataOffset); err != nil {
		return nil, err
	}
	return h, nil
}

// parseJSON walks the header with a token decoder so that duplicate keys,
// which encoding/json would silently merge, are caught.
func (h *Header) parseJSON(js []byte) error {
	if !utf8.Valid(js) {
		return errorf("", "", "header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return jsonErr("", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return jsonErr("", err)
		}
		if seen[key] {
			if key == metadataKey {
				return errorf("", "", "duplicate %s in header", metadataKey)
			}
			return errorf("", key, "duplicate name in header")
		}
		seen[key] = true
		if key == metadataKey {
			if h.Metadata, err = parseMetadata(dec); err != nil {
				return err
			}
			continue
		}
		ti, err := parseEntry(dec, key)
		if err != nil {
			return err
		}
		h.Tensors = append(h.Tensors, ti)
	}
	if err := expectDelim(dec, '}'); err != nil {
		return jsonErr("", err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			return errorf("", "", "invalid header JSON: unexpected %s after the header object", describe(tok))
		}
		return jsonErr("", err)
	}
	return nil
}

// jsonErr reports a JSON syntax or structure error.
func jsonErr(tensor string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &Error{Tensor: tensor, Err: fmt.Errorf("invalid header JSON: %w", err)}
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %s", want, describe(tok))
	}
	return nil
}

func objectKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("expected an object key, found %s", describe(tok))
	}
	return key, nil
}

// describe names a JSON token for an error message.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return strconv.Quote(v.String())
	case string:
		return "string " + strconv.Quote(v)
	case json.Number:
		return "number " + v.String()
	case bool:
		return fmt.Sprintf("%t", v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// parseMetadata reads the value of __metadata__: null or an object of strings.
func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr("", err)
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errorf("", "", "%s must be an object of strings, found %s", metadataKey, describe(tok))
	}
	md := map[string]string{}
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return nil, jsonErr("", err)
		}
		if _, dup := md[key]; dup {
			return nil, errorf("", "", "%s: duplicate key %q", metadataKey, key)
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr("", err)
		}
		s, ok := tok.(string)
		if !ok {
			return nil, errorf("", "", "%s: value of %q must be a string, found %s", metadataKey, key, describe(tok))
		}
		md[key] = s
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, jsonErr("", err)
	}
	return md, nil
}

// parseEntry reads {"dtype": ..., "shape": [...], "data_offsets": [b, e]}.
// Unknown fields are skipped, as other readers do.
func parseEntry(dec *json.Decoder, name string) (TensorInfo, error) {
	ti := TensorInfo{Name: name}
	tok, err := dec.Token()
	if err != nil {
		return ti, jsonErr(name, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return ti, errorf("", name, "entry must be an object, found %s", describe(tok))
	}
	var hasDType, hasShape, hasOffsets bool
	seen := map[string]bool{}
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return ti, jsonErr(name, err)
		}
		if seen[key] {
			return ti, errorf("", name, "duplicate field %q", key)
		}
		seen[key] = true
		switch key {
		case "dtype":
			tok, err := dec.Token()
			if err != nil {
				return ti, jsonErr(name, err)
			}
			s, ok := tok.(string)
			if !ok {
				return ti, errorf("", name, "dtype must be a string, found %s", describe(tok))
			}
			ti.DType, hasDType = DType(s), true
		case "shape":
			dims, err := intArray(dec, name, "shape")
			if err != nil {
				return ti, err
			}
			ti.Shape = make([]int, len(dims))
			for i, d := range dims {
				if d < 0 {
					return ti, errorf("", name, "negative dimension %d in shape %s", d, formatDims(dims))
				}
				if d > math.MaxInt {
					return ti, errorf("", name, "dimension %d in shape %s is too large", d, formatDims(dims))
				}
				ti.Shape[i] = int(d)
			}
			hasShape = true
		case "data_offsets":
			offs, err := intArray(dec, name, "data_offsets")
			if err != nil {
				return ti, err
			}
			if len(offs) != 2 {
				return ti, errorf("", name, "data_offsets %s must be [begin, end]", formatDims(offs))
			}
			ti.Begin, ti.End, hasOffsets = offs[0], offs[1], true
		default:
			if err := dec.Decode(new(json.RawMessage)); err != nil {
				return ti, jsonErr(name, err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return ti, jsonErr(name, err)
	}
	var missing []string
	for _, f := range []struct {
		ok   bool
		name string
	}{{hasDType, "dtype"}, {hasShape, "shape"}, {hasOffsets, "data_offsets"}} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return ti, errorf("", name, "entry lacks %s", strings.Join(missing, ", "))
	}
	return ti, nil
}

// intArray reads a JSON array of integers (field names the array in errors).
func intArray(dec *json.Decoder, name, field string) ([]int64, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(name, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, errorf("", name, "%s must be an array of integers, found %s", field, describe(tok))
	}
	var out []int64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(name, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, errorf("", name, "%s must be an array of integers, found %s", field, describe(tok))
		}
		v, err := strconv.ParseInt(num.String(), 10, 64)
		if err != nil {
			return nil, errorf("", name, "%s: %s is not a 64-bit integer", field, num)
		}
		out = append(out, v)
	}
	if err := expectDelim(dec, ']'); err != nil {
		return nil, jsonErr(name, err)
	}
	return out, nil
}

// validate checks every entry against the dtype table and the data section
// of dataLen bytes, then checks that the entries tile the data section.
func (h *Header) validate(dataLen int64) error {
	for _, ti := range h.Tensors {
		size := ti.DType.Size()
		if size == 0 {
			return errorf("", ti.Name, "unknown dtype %q", string(ti.DType))
		}
		if ti.Begin < 0 || ti.End < ti.Begin {
			return errorf("", ti.Name, "data_offsets [%d, %d] are not an increasing pair of non-negative offsets", ti.Begin, ti.End)
		}
		if ti.End > dataLen {
			return errorf("", ti.Name, "data_offsets [%d, %d] run past the end of the data section (%d bytes)", ti.Begin, ti.End, dataLen)
		}
		n, ok := byteCount(ti.Shape, size)
		if !ok {
			return errorf("", ti.Name, "shape %s × %s overflows", formatDims(ti.Shape), ti.DType)
		}
		if span := uint64(ti.End - ti.Begin); n != span {
			return errorf("", ti.Name, "shape %s × %s = %d bytes but data_offsets span %d", formatDims(ti.Shape), ti.DType, n, span)
		}
	}
	slices.SortFunc(h.Tensors, func(a, b TensorInfo) int {
		if a.Begin != b.Begin {
			return cmp.Compare(a.Begin, b.Begin)
		}
		if a.End != b.End {
			return cmp.Compare(a.End, b.End)
		}
		return strings.Compare(a.Name, b.Name)
	})
	var end int64
	for i, ti := range h.Tensors {
		switch {
		case i == 0 && ti.Begin != 0:
			return errorf("", ti.Name, "data_offsets [%d, %d]: the first tensor of the data section must begin at 0", ti.Begin, ti.End)
		case ti.Begin < end:
			prev := h.Tensors[i-1]
			return errorf("", ti.Name, "data_offsets [%d, %d] overlap tensor %q [%d, %d]", ti.Begin, ti.End, prev.Name, prev.Begin, prev.End)
		case ti.Begin > end:
			prev := h.Tensors[i-1]
			return errorf("", ti.Name, "data_offsets [%d, %d] leave a gap of %d bytes after tensor %q [%d, %d]", ti.Begin, ti.End, ti.Begin-end, prev.Name, prev.Begin, prev.End)
		}
		end = ti.End
	}
	if end != dataLen {
		if len(h.Tensors) == 0 {
			return errorf("", "", "header lists no tensors but the data section is %d bytes", dataLen)
		}
		last := h.Tensors[len(h.Tensors)-1]
		return errorf("", last.Name, "the last tensor ends at %d but the data section is %d bytes (%d bytes unaccounted for)", end, dataLen, dataLen-end)
	}
	return nil
}

// byteCount is the product of shape and size, with ok false on overflow.
func byteCount(shape []int, size int) (n uint64, ok bool) {
	n = uint64(size)
	for _, d := range shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	return n, true
}

// formatDims writes a shape or offset pair as [a, b, c].
func formatDims[T int | int64](v []T) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range v {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(int64(d), 10))
	}
	b.WriteByte(']')
	return b.String()
}
