package safetensors

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// F32 → F16 rounding. The float32 inputs are given by their bits; the
// expected binary16 bits come from Python's struct.pack('<e', x) (CPython's
// own IEEE 754 half-precision packer, round-half-to-even), except the two
// overflow rows, where Python raises OverflowError and IEEE 754 rounding
// gives ±Inf.
func TestFloat32ToFloat16(t *testing.T) {
	tests := []struct {
		name string
		in   uint32 // float32 bits
		want uint16
	}{
		{"+0", 0x00000000, 0x0000},
		{"-0", 0x80000000, 0x8000},
		{"1", 0x3f800000, 0x3c00},
		{"-2", 0xc0000000, 0xc000},
		{"0.5", 0x3f000000, 0x3800},
		{"0.1", 0x3dcccccd, 0x2e66},
		{"-3.14159", 0xc0490fd0, 0xc248},
		{"max half 65504", 0x477fe000, 0x7bff},
		{"65519.99 rounds down to max", 0x477feffd, 0x7bff},
		{"65520 ties to even = overflow to +Inf", 0x477ff000, 0x7c00},
		{"1e6 overflows to +Inf", 0x49742400, 0x7c00},
		{"-1e6 overflows to -Inf", 0xc9742400, 0xfc00},
		{"smallest normal 2^-14", 0x38800000, 0x0400},
		{"smallest subnormal 2^-24", 0x33800000, 0x0001},
		{"2^-25 ties to even = 0", 0x33000000, 0x0000},
		{"just above 2^-25 rounds up", 0x33000001, 0x0001},
		{"3·2^-25 ties to even = 2·2^-24", 0x33c00000, 0x0002},
		{"2^-26 rounds to 0", 0x32800000, 0x0000},
		{"largest subnormal 1023·2^-24", 0x387fc000, 0x03ff},
		{"1023.5·2^-24 ties to even = smallest normal", 0x387fe000, 0x0400},
		{"6.1e-5 subnormal", 0x387fda40, 0x03ff},
		{"5.96e-8 subnormal", 0x337ffae5, 0x0001},
		{"1+2^-11 ties to even = 1", 0x3f801000, 0x3c00},
		{"1+3·2^-11 ties to even = 1+2^-9", 0x3f803000, 0x3c02},
		{"1+2^-11+2^-20 rounds up", 0x3f801008, 0x3c01},
		{"float32 subnormal → 0", 0x00000001, 0x0000},
		{"+Inf", 0x7f800000, 0x7c00},
		{"-Inf", 0xff800000, 0xfc00},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Float32ToFloat16(math.Float32frombits(tt.in)), "got %#04x", Float32ToFloat16(math.Float32frombits(tt.in)))
		})
	}
	// A NaN stays a NaN (quiet bit set, whatever the payload).
	for _, nan := range []uint32{0x7fc00000, 0x7f800001, 0xffc00123} {
		h := Float32ToFloat16(math.Float32frombits(nan))
		assert.Equal(t, uint16(0x7c00), h&0x7c00, "exponent of NaN %#x", nan)
		assert.NotZero(t, h&0x3ff, "mantissa of NaN %#x", nan)
		assert.Equal(t, uint16(nan>>16)&0x8000, h&0x8000, "sign of NaN %#x", nan)
	}
}

// F16 → F32. Expected values are the IEEE 754 binary16 definitions:
// (-1)^s × 2^(e-15) × 1.m for normals, (-1)^s × 2^-14 × 0.m for subnormals.
func TestFloat16ToFloat32(t *testing.T) {
	tests := []struct {
		in   uint16
		want float64
	}{
		{0x0000, 0},
		{0x3c00, 1},
		{0xc000, -2},
		{0x3555, 0.333251953125},         // 2^-2 × (1 + 341/1024)
		{0x7bff, 65504},                  // largest finite
		{0x0400, math.Ldexp(1, -14)},     // smallest normal
		{0x0001, math.Ldexp(1, -24)},     // smallest subnormal
		{0x03ff, math.Ldexp(1023, -24)},  // largest subnormal
		{0x8001, -math.Ldexp(1, -24)},    // negative subnormal
		{0x0200, math.Ldexp(1, -15)},     // subnormal 512 × 2^-24
		{0x7c00, math.Inf(1)},            // +Inf
		{0xfc00, math.Inf(-1)},           // -Inf
		{0x2e66, 0.0999755859375},        // 0.1 rounded to half
		{0xc248, -3.140625},              // -3.14159 rounded to half
		{0x3bff, 1 - math.Ldexp(1, -11)}, // largest below 1
		{0x0155, math.Ldexp(341, -24)},   // subnormal with several bits
		{0x5640, 100},                    // 2^6 × 1.5625
		{0xd640, -100},                   // sign bit
		{0x3c01, 1 + math.Ldexp(1, -10)}, // 1 + ulp
		{0x4248, 3.140625},               // pi in half
		{0x7800, 32768},                  // 2^15
		{0x1400, math.Ldexp(1, -10)},     // 2^-10
		{0x0004, math.Ldexp(4, -24)},     // subnormal 2^-22
		{0x0002, math.Ldexp(2, -24)},     // subnormal 2^-23
		{0x03fe, math.Ldexp(1022, -24)},  // subnormal
		{0x8400, -math.Ldexp(1, -14)},    // negative smallest normal
		{0x83ff, -math.Ldexp(1023, -24)}, // negative largest subnormal
		{0x7bfe, 65472},                  // second largest
		{0x3800, 0.5},                    // 2^-1
		{0x3e00, 1.5},                    // 1.5
		{0x4900, 10},                     // 2^3 × 1.25
		{0x3c02, 1 + math.Ldexp(1, -9)},  // 1 + 2 ulp
		{0x6400, 1024},                   // 2^10
		{0x6800, 2048},                   // 2^11
		{0x6c00, 4096},                   // 2^12
		{0x0100, math.Ldexp(256, -24)},   // subnormal 2^-16
		{0x0080, math.Ldexp(128, -24)},   // subnormal 2^-17
		{0x8000 | 0x3c00, -1},            // -1
	}
	for _, tt := range tests {
		assert.Equal(t, float32(tt.want), Float16ToFloat32(tt.in), "half %#04x", tt.in)
	}
	assert.Equal(t, uint32(0x80000000), math.Float32bits(Float16ToFloat32(0x8000)), "-0 keeps its sign")
	for _, nan := range []uint16{0x7e00, 0x7c01, 0xfe00} {
		assert.True(t, math.IsNaN(float64(Float16ToFloat32(nan))), "half %#04x is NaN", nan)
	}
}

// Every binary16 value survives F16 → F32 → F16 unchanged (NaNs stay NaN):
// F32 holds every half exactly, so rounding back must be the identity.
func TestFloat16RoundTripAll(t *testing.T) {
	for h := range 1 << 16 {
		got := Float32ToFloat16(Float16ToFloat32(uint16(h)))
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			require.Equal(t, uint16(0x7c00), got&0x7c00, "NaN %#04x", h)
			require.NotZero(t, got&0x3ff, "NaN %#04x", h)
			continue
		}
		require.Equal(t, uint16(h), got, "half %#04x", h)
	}
}

// BF16 is the top half of a float32, rounded to nearest even on the dropped
// 16 bits (IEEE 754 roundTiesToEven applied to an 8-bit significand).
func TestFloat32ToBFloat16(t *testing.T) {
	tests := []struct {
		name string
		in   uint32
		want uint16
	}{
		{"1 exact", 0x3f800000, 0x3f80},
		{"-2 exact", 0xc0000000, 0xc000},
		{"1+2^-8 ties to even = 1", 0x3f808000, 0x3f80},
		{"1+3·2^-8 ties to even = 0x3f82", 0x3f818000, 0x3f82},
		{"just above the tie rounds up", 0x3f808001, 0x3f81},
		{"just below the tie rounds down", 0x3f807fff, 0x3f80},
		{"0.1 (0x3dcccccd) rounds to 0x3dcd", 0x3dcccccd, 0x3dcd},
		{"max float32 rounds to +Inf", 0x7f7fffff, 0x7f80},
		{"+Inf", 0x7f800000, 0x7f80},
		{"-Inf", 0xff800000, 0xff80},
		{"-0", 0x80000000, 0x8000},
		{"float32 subnormal keeps its top bits", 0x00010000, 0x0001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Float32ToBFloat16(math.Float32frombits(tt.in)))
		})
	}
	// A NaN whose payload lies only in the dropped bits must not become Inf.
	for _, nan := range []uint32{0x7f800001, 0x7fc00000, 0xff800100} {
		b := Float32ToBFloat16(math.Float32frombits(nan))
		assert.True(t, math.IsNaN(float64(BFloat16ToFloat32(b))), "NaN %#x → %#04x", nan, b)
	}
	assert.Equal(t, float32(1.0078125), BFloat16ToFloat32(0x3f81), "1 + 2^-7")
	for b := range 1 << 16 {
		f := BFloat16ToFloat32(uint16(b))
		require.Equal(t, uint32(b)<<16, math.Float32bits(f), "bf16 %#04x is the top half of its float32", b)
		if !math.IsNaN(float64(f)) {
			require.Equal(t, uint16(b), Float32ToBFloat16(f), "bf16 %#04x round trip", b)
		}
	}
}
