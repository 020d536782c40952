package pyjson

import (
	"math"
	"testing"
)

func TestFloat(t *testing.T) {
	// Expected strings are Python 3.11's repr() (and json.dumps()) of the
	// same doubles.
	cases := []struct {
		f    float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{-2, "-2.0"},
		{0.1, "0.1"},
		{1.0 / 3, "0.3333333333333333"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{2.5e-7, "2.5e-07"},
		{123456789.125, "123456789.125"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{1.5e16, "1.5e+16"},
		{1e100, "1e+100"},
		{5e-324, "5e-324"},
		{0.00012345, "0.00012345"},
		{float64(float32(0.0123)), "0.012299999594688416"},
		{float64(float32(3.1e-5)), "3.099999958067201e-05"},
		{12345.678, "12345.678"},
		{123456789012345680, "1.2345678901234568e+17"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	}
	for _, c := range cases {
		if got := Float(c.f); got != c.want {
			t.Errorf("Float(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

func TestAppendQuote(t *testing.T) {
	cases := map[string]string{
		"plain":         `"plain"`,
		`q"b\`:          `"q\"b\\"`,
		"a\nb\tc\r\b\f": `"a\nb\tc\r\b\f"`,
		"\x01\x7f":      `"\u0001\u007f"`,
		"é😀":            `"\u00e9\ud83d\ude00"`,
		"<&>/":          `"<&>/"`,
	}
	for in, want := range cases {
		if got := string(appendQuote(nil, in)); got != want {
			t.Errorf("appendQuote(%q) = %s, want %s", in, got, want)
		}
		v, err := Decode([]byte(want))
		if err != nil || v != in {
			t.Errorf("decode %s = %q, %v", want, v, err)
		}
	}
}

func TestCompactAndStructs(t *testing.T) {
	type rec struct {
		Step int     `json:"step"`
		Loss float64 `json:"loss"`
		Note string  `json:"note,omitempty"`
	}
	v := map[string]any{
		"b":   []int{1, 2},
		"a":   rec{Step: 3, Loss: 2},
		"c":   map[string]float64{"y": 1, "x": 0.5},
		"nil": nil,
		"ptr": &rec{Step: 1},
		"e":   []any{},
	}
	b, err := Append(nil, v, "")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a": {"loss": 2, "step": 3}, "b": [1, 2], "c": {"x": 0.5, "y": 1.0}, "e": [], "nil": null, "ptr": {"loss": 0, "step": 1}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	for _, bad := range []string{``, `{`, `[1,]`, `{"a" 1}`, `01`, `1.`, `-`, `nul`, `"\x"`, `{"a":1}x`, `nan`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("decode %q: no error", bad)
		}
	}
}
