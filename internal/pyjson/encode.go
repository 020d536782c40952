package pyjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Append appends v to b as json.dumps writes it. With a non-empty indent
// it lays out nested values one per line like json.dumps(indent=...)
// (separators "," and ": "); with an empty one it writes a single line
// with json.dumps' default separators ", " and ": ". Map keys are sorted
// (sort_keys=True). Supported: nil, bool, strings, json.Number, all
// integer and float types, maps with string keys, slices, arrays and
// pointers to these; anything else (such as a struct) goes through
// encoding/json first.
func Append(b []byte, v any, indent string) ([]byte, error) {
	return appendValue(b, v, indent, 0)
}

// appendValue is Append at nesting depth depth.
func appendValue(b []byte, v any, indent string, depth int) ([]byte, error) {
	if depth > 1000 {
		return nil, errors.New("json: nesting too deep")
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendQuote(b, x), nil
	case json.Number:
		if !isNumber(string(x)) {
			return nil, fmt.Errorf("json: invalid number %q", string(x))
		}
		return append(b, x...), nil
	case float64:
		return append(b, Float(x)...), nil
	case float32:
		return append(b, Float(float64(x))...), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return appendObject(b, keys, func(k string) any { return x[k] }, indent, depth)
	case []any:
		return appendArray(b, len(x), func(i int) any { return x[i] }, indent, depth)
	case []map[string]any:
		return appendArray(b, len(x), func(i int) any { return x[i] }, indent, depth)
	}
	if _, ok := v.(json.Marshaler); ok {
		return appendViaStd(b, v, indent, depth)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool:
		return strconv.AppendBool(b, rv.Bool()), nil
	case reflect.String:
		return appendQuote(b, rv.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(b, rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return append(b, Float(rv.Float())...), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return append(b, "null"...), nil
		}
		return appendValue(b, rv.Elem().Interface(), indent, depth)
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			if rv.IsNil() {
				return append(b, "null"...), nil
			}
			keys := make([]string, 0, rv.Len())
			vals := make(map[string]any, rv.Len())
			it := rv.MapRange()
			for it.Next() {
				k := it.Key().String()
				keys = append(keys, k)
				vals[k] = it.Value().Interface()
			}
			sort.Strings(keys)
			return appendObject(b, keys, func(k string) any { return vals[k] }, indent, depth)
		}
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return append(b, "null"...), nil
		}
		if rv.Type().Elem().Kind() != reflect.Uint8 { // []byte: base64 via encoding/json
			return appendArray(b, rv.Len(), func(i int) any { return rv.Index(i).Interface() }, indent, depth)
		}
	}
	return appendViaStd(b, v, indent, depth)
}

// appendViaStd encodes v with encoding/json (honouring json tags and
// Marshaler), then re-lays the result out Python's way.
func appendViaStd(b []byte, v any, indent string, depth int) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dv, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	return appendValue(b, dv, indent, depth)
}

func appendObject(b []byte, keys []string, get func(string) any, indent string, depth int) ([]byte, error) {
	if len(keys) == 0 {
		return append(b, "{}"...), nil
	}
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = appendSep(b, indent)
		}
		b = appendNewline(b, indent, depth+1)
		b = appendQuote(b, k)
		b = append(b, ": "...)
		if b, err = appendValue(b, get(k), indent, depth+1); err != nil {
			return nil, err
		}
	}
	b = appendNewline(b, indent, depth)
	return append(b, '}'), nil
}

func appendArray(b []byte, n int, get func(int) any, indent string, depth int) ([]byte, error) {
	if n == 0 {
		return append(b, "[]"...), nil
	}
	b = append(b, '[')
	var err error
	for i := 0; i < n; i++ {
		if i > 0 {
			b = appendSep(b, indent)
		}
		b = appendNewline(b, indent, depth+1)
		if b, err = appendValue(b, get(i), indent, depth+1); err != nil {
			return nil, err
		}
	}
	b = appendNewline(b, indent, depth)
	return append(b, ']'), nil
}

func appendSep(b []byte, indent string) []byte {
	if indent == "" {
		return append(b, ", "...)
	}
	return append(b, ',')
}

func appendNewline(b []byte, indent string, depth int) []byte {
	if indent == "" {
		return b
	}
	b = append(b, '\n')
	for i := 0; i < depth; i++ {
		b = append(b, indent...)
	}
	return b
}

// Float formats f as Python's float.__repr__ (and so json.dumps) does:
// the shortest round-tripping digits, in exponent form when the decimal
// exponent is below -4 or at least 16, else positional with at least one
// fractional digit.
func Float(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	i := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	if exp < -4 || exp >= 16 {
		return e // Go and Python agree: 1e-05, 1.5e+16, 1e+100
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// appendQuote appends s as a JSON string the way
// json.dumps(ensure_ascii=True) writes it: printable ASCII as is, the short escapes \" \\ \n \r \t \b \f,
// everything else as \uXXXX (lowercase hex, surrogate pairs above the
// BMP). Invalid UTF-8 becomes \ufffd.
func appendQuote(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r >= 0x20 && r <= 0x7e:
			b = append(b, byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			b = u(u(b, r1), r2)
		default:
			b = u(b, r)
		}
	}
	return append(b, '"')
}
