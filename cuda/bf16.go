package cuda

import "math"

// Buffers of bfloat16 are converted on the host: Upload rounds float32 to
// bfloat16 and Download widens it back.

// bf16Bits returns the bfloat16 nearest to f (ties to even), the rounding
// the kernels use (__float2bfloat16_rn); a NaN stays a NaN.
func bf16Bits(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40 // quiet NaN, sign kept
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// bf16Float returns the float32 value of the bfloat16 h (exact).
func bf16Float(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

func encodeBF16(dst []uint16, src []float32) {
	for i, f := range src {
		dst[i] = bf16Bits(f)
	}
}

func decodeBF16(dst []float32, src []uint16) {
	for i, h := range src {
		dst[i] = bf16Float(h)
	}
}
