package quant

import (
	"math"
	"slices"
)

// dynamicMap is built once; DynamicMap returns copies.
var dynamicMap = buildDynamicMap()

// DynamicMap returns the signed 8-bit dynamic quantization map that
// bitsandbytes uses as the nested quant map of double quantization:
// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), 256
// ascending float32 values from -0.99297 to 1 with 0 at index 127.
//
// For exponent e = 0..6 it holds ±10^(e-6) times the 2^e midpoints of
// torch.linspace(0.1, 1, 2^e+1), plus 0 and 1. bitsandbytes builds it with
// PyTorch on the CPU, and the last bit of some linspace values depends on
// the vector kernel PyTorch picks: these are the values of its AVX2 kernel
// (x86-64 with AVX2, the common case; checked against PyTorch 1.13). With
// its generic kernel 12 entries come out one or two units in the last place
// smaller in magnitude, and an emulation of its AVX-512 kernel differs in 28
// entries. Checkpoints carry the map they were quantized with, and [Read]
// uses that one.
func DynamicMap() [256]float32 { return dynamicMap }

// buildDynamicMap follows create_dynamic_map: float32 linspace boundaries,
// float32 midpoints (b[j]+b[j+1])/2, scaled by the float32 of 10^(e-6) and
// negated, then 0 and 1 added and everything sorted.
func buildDynamicMap() [256]float32 {
	data := make([]float32, 0, 256)
	for e := range 7 {
		b := torchLinspace(0.1, 1, 1<<e+1)
		s := float32(math.Pow10(e - 6))
		for j := range len(b) - 1 {
			v := s * ((b[j] + b[j+1]) / 2)
			data = append(data, v, -v)
		}
	}
	data = append(data, 0, 1)
	slices.Sort(data)
	return [256]float32(data)
}

// torchLinspace returns torch.linspace(start, end, steps,
// dtype=torch.float32) as PyTorch's AVX2 CPU kernel computes it: element i
// is start + step*i below steps/2 and end - step*(steps-1-i) from there on,
// each a fused multiply-add (the compiler contracts them), except that
// whole pairs of 8-lane vectors, from the start, are filled as
// base + k*step (not fused) from the first element of each vector.
func torchLinspace(start, end float32, steps int) []float32 {
	step := (end - start) / float32(steps-1)
	half := steps / 2
	at := func(i int) float32 {
		// The operands are small (i <= 64 and values below 2), so the
		// float64 fused multiply-add is exact and rounding it to float32
		// is the float32 fused multiply-add.
		if i < half {
			return float32(math.FMA(float64(step), float64(i), float64(start)))
		}
		return float32(math.FMA(-float64(step), float64(steps-1-i), float64(end)))
	}
	const lanes = 8
	out := make([]float32, steps)
	vec := steps / (2 * lanes) * (2 * lanes)
	for i := 0; i < vec; i += lanes {
		base := at(i)
		for k := range lanes {
			out[i+k] = base + float32(float32(k)*step) // the conversion keeps the product rounded (no fusion)
		}
	}
	for i := vec; i < steps; i++ {
		out[i] = at(i)
	}
	return out
}

// quantize8 returns the index of x, a value scaled into [-1, 1], in the
// ascending 256-entry code, as bitsandbytes' CUDA dQuantize (non-stochastic)
// finds it: a 7-step binary search from index 127, then the nearer of the
// final pivot and its neighbour across x, decided against their float32
// midpoint. At an exact midpoint it keeps the pivot, which is the upper
// neighbour or the lower one depending on the search path; a NaN gets 0.
func quantize8(code *[256]float32, x float32) uint8 {
	pivot, upperPivot, lowerPivot := 127, 255, 0
	lower, upper := float32(-1), float32(1)
	val := code[pivot]
	for i := 64; i > 0; i >>= 1 {
		if x > val {
			lowerPivot, lower = pivot, val
			pivot += i
		} else {
			upperPivot, upper = pivot, val
			pivot -= i
		}
		val = code[pivot]
	}
	if upperPivot == 255 {
		upper = code[255]
	}
	if lowerPivot == 0 {
		lower = code[0]
	}
	if x > val {
		if x > float32(upper+val)*0.5 {
			return uint8(upperPivot)
		}
		return uint8(pivot)
	}
	if x < float32(lower+val)*0.5 {
		return uint8(lowerPivot)
	}
	return uint8(pivot)
}

// doubleQuantize quantizes the per-block absmax values as quantize_4bit
// does with compress_statistics=True: the offset is their mean, and the
// differences absmax-offset are quantized blockwise (blocks of 256) with
// the dynamic map, each nested block scaled by the reciprocal of its
// absolute maximum. The mean is accumulated in float64 and rounded once;
// PyTorch's float32 reduction may differ from it in the last bit.
func doubleQuantize(absmax []float32) *DoubleQuant {
	var sum float64
	for _, a := range absmax {
		sum += float64(a)
	}
	d := &DoubleQuant{
		QAbsmax:   make([]uint8, len(absmax)),
		Code:      DynamicMap(),
		Absmax:    make([]float32, ceilDiv(len(absmax), nestedBlockSize)),
		BlockSize: nestedBlockSize,
		Offset:    float32(sum / float64(len(absmax))),
	}
	for b := range d.Absmax {
		diff := absmax[b*nestedBlockSize : min((b+1)*nestedBlockSize, len(absmax))]
		var m float32
		for _, a := range diff {
			m = max(m, abs32(a-d.Offset))
		}
		d.Absmax[b] = m
		inv := 1 / m // +Inf when every difference is 0: NaN codes become 0, which dequantize to the offset
		for i, a := range diff {
			d.QAbsmax[b*nestedBlockSize+i] = quantize8(&d.Code, (a-d.Offset)*inv)
		}
	}
	return d
}
