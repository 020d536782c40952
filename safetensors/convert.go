package safetensors

import (
	"encoding/binary"
	"math"
)

// Float16ToFloat32 converts an IEEE 754 binary16 value (given by its bits) to
// float32. Every binary16 value, subnormals, infinities and NaNs included, is
// exactly representable in float32.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0: // ±0
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: mant × 2^-24; normalise it
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	case exp == 0x1f: // ±Inf, or NaN with its payload kept
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToFloat16 converts f to IEEE 754 binary16 bits, rounding to nearest
// even. Values too large become ±Inf, values too small become subnormals or
// ±0, and a NaN stays a (quiet) NaN.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7c00 | 0x200 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127
	switch {
	case e > 15:
		return sign | 0x7c00
	case e >= -14: // normal binary16; a carry out of the mantissa bumps the exponent, up to Inf
		h := sign | uint16(e+15)<<10 | uint16(mant>>13)
		if rem := mant & 0x1fff; rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
			h++
		}
		return h
	case e < -25: // below half the smallest subnormal (2^-25): rounds to ±0
		return sign
	}
	// Subnormal binary16: k × 2^-24 with k = m × 2^(e+1), m the 24-bit significand.
	m := mant | 0x800000
	s := uint(-e - 1) // 14..24
	k := m >> s
	rem, half := m&(1<<s-1), uint32(1)<<(s-1)
	if rem > half || rem == half && k&1 == 1 {
		k++ // may become 0x400, the smallest normal, which is the right encoding
	}
	return sign | uint16(k)
}

// BFloat16ToFloat32 converts bfloat16 bits, the top 16 bits of a float32, to
// float32 (exact).
func BFloat16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}

// Float32ToBFloat16 converts f to bfloat16 bits, rounding to nearest even. A
// NaN stays a (quiet) NaN.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// EncodeF32 returns v as little-endian F32 bytes.
func EncodeF32(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

// EncodeF16 returns v as little-endian F16 bytes, rounded to nearest even.
func EncodeF16(v []float32) []byte {
	out := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(out[2*i:], Float32ToFloat16(x))
	}
	return out
}

// EncodeBF16 returns v as little-endian BF16 bytes, rounded to nearest even.
func EncodeBF16(v []float32) []byte {
	out := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(out[2*i:], Float32ToBFloat16(x))
	}
	return out
}

// EncodeI64 returns v as little-endian I64 bytes.
func EncodeI64(v []int64) []byte {
	out := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(out[8*i:], uint64(x))
	}
	return out
}
