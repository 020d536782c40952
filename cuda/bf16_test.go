package cuda

import (
	"math"
	"testing"
)

func TestBF16Rounding(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{-2.5, 0xc020},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even below
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, even above
		{math.Float32frombits(0x3f808001), 0x3f81}, // just above the tie
		{math.MaxFloat32, 0x7f80},                  // rounds up to +Inf
		{float32(math.Inf(-1)), 0xff80},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1e-40, 0x0001}, // subnormal
	} {
		if got := bf16Bits(c.in); got != c.want {
			t.Errorf("bf16Bits(%v) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	nan := bf16Bits(float32(math.NaN()))
	if f := bf16Float(nan); !math.IsNaN(float64(f)) {
		t.Errorf("NaN became %v", f)
	}
	v := []float32{0.1, -3.25, 65504}
	h := make([]uint16, len(v))
	encodeBF16(h, v)
	back := make([]float32, len(v))
	decodeBF16(back, h)
	for i := range v {
		if d := math.Abs(float64(back[i]-v[i])) / math.Abs(float64(v[i])); d > 1.0/256 {
			t.Errorf("%v came back as %v (relative %.2g > 2^-8)", v[i], back[i], d)
		}
	}
}
