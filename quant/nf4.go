package quant

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// NF4Code holds the 16 values of the NF4 data type in ascending order; code
// k dequantizes to NF4Code[k] times the block scale. They are bitsandbytes'
// values (functional.get_4bit_type("nf4"), the CUDA nf4_dequantization_lut):
// quantiles of a standard normal distribution normalised to [-1, 1], with an
// exact zero at code 7. Do not modify it.
var NF4Code = [16]float32{
	-1.0,
	-0.6961928009986877,
	-0.5250730514526367,
	-0.39491748809814453,
	-0.28444138169288635,
	-0.18477343022823334,
	-0.09105003625154495,
	0.0,
	0.07958029955625534,
	0.16093020141124725,
	0.24611230194568634,
	0.33791524171829224,
	0.44070982933044434,
	0.5626170039176941,
	0.7229568362236023,
	1.0,
}

// nf4Thresholds[k] separates NF4Code[k] from NF4Code[k+1]. They are the
// float literals of bitsandbytes' CUDA decision tree dQuantizeNF4, which the
// compiler rounds from decimal straight to float32, as Go does here. Each is
// within one unit in the last place of the float32 midpoint
// (NF4Code[k]+NF4Code[k+1])*0.5: equal to it, except thresholds 0, 12 and
// 14, one below it, and threshold 8, one above it.
var nf4Thresholds = [15]float32{
	-0.8480964004993439,
	-0.6106329262256622,
	-0.4599952697753906,
	-0.33967943489551544,
	-0.23460740596055984,
	-0.13791173323988914,
	-0.045525018125772476,
	0.03979014977812767,
	0.1202552504837513,
	0.2035212516784668,
	0.2920137718319893,
	0.3893125355243683,
	0.5016634166240692,
	0.6427869200706482,
	0.8614784181118011,
}

// quantizeNF4 returns the NF4 code of x, a value already scaled into
// [-1, 1]: the number of thresholds strictly below x. That is what the
// decision tree of dQuantizeNF4 returns, for x equal to a threshold (the
// lower code) too, and like it a NaN gets code 0.
func quantizeNF4(x float32) byte {
	var q byte
	for _, t := range nf4Thresholds {
		if x > t {
			q++
		}
	}
	return q
}

// ErrUnsupported is wrapped by the errors of [Read] for a checkpoint this
// package cannot load (a quant_type other than nf4, an unknown dtype).
var ErrUnsupported = errors.New("unsupported quantization")

// NF4 is a tensor quantized to 4-bit NormalFloat in blocks of BlockSize
// consecutive elements (row-major order), as bitsandbytes' quantize_4bit with
// quant_type="nf4" produces it. Its methods only read it, so it may be used
// from several goroutines at once.
type NF4 struct {
	Shape     []int        // logical shape, e.g. [out, in]
	BlockSize int          // elements per block: a power of two from 32 to 4096 (bitsandbytes' default is 64)
	Data      []byte       // packed codes, len (n+1)/2: element 2i in the high nibble of Data[i], 2i+1 in the low one
	Absmax    []float32    // per-block absmax when not double-quantized, nil otherwise
	Double    *DoubleQuant // the quantized absmax values when double-quantized, nil otherwise
	DType     string       // the dtype of the original weights, recorded in the quant state: "bfloat16", "float16" or "float32"
}

// DoubleQuant is the second quantization of the per-block absmax values
// (bitsandbytes' compress_statistics=True, QLoRA's double quantization):
// Offset is subtracted from every absmax and the differences are quantized
// with the 8-bit Code in blocks of BlockSize, so block i of the weight has
// scale Code[QAbsmax[i]]*Absmax[i/BlockSize] + Offset.
type DoubleQuant struct {
	QAbsmax   []uint8      // per-block absmax code index
	Code      [256]float32 // nested quant map
	Absmax    []float32    // per-BlockSize-block (nested) absmax of the differences
	BlockSize int          // absmax values per nested block; 256 when made by Quantize
	Offset    float32      // mean of the original absmax values
}

// The dtypes a quant state may record.
const (
	dtypeBF16 = "bfloat16"
	dtypeF16  = "float16"
	dtypeF32  = "float32"
)

// nestedBlockSize is the block size bitsandbytes' quantize_4bit uses for the
// absmax values when compress_statistics=True.
const nestedBlockSize = 256

// Quantize quantizes w, a tensor of the given shape, to NF4 in blocks of
// blockSize elements, double-quantizing the absmax values if double is set,
// exactly as bitsandbytes' CUDA quantize_4bit(quant_type="nf4",
// compress_statistics=double) does for weights holding the same values.
// DType is set to "float32"; set it to the dtype the weights were stored in
// (they convert to float32 exactly) before writing the result with
// [NF4.Tensors]. It returns an error if blockSize is not a power of two from
// 32 to 4096, if shape does not hold len(w) elements or holds none, or if w
// holds a NaN or an infinity.
func Quantize(w []float32, shape []int, blockSize int, double bool) (*NF4, error) {
	if !validBlockSize(blockSize) {
		return nil, fmt.Errorf("quant: block size %d is not a power of two from 32 to 4096", blockSize)
	}
	n, err := numElements(shape)
	if err != nil {
		return nil, fmt.Errorf("quant: %w", err)
	}
	if n != len(w) {
		return nil, fmt.Errorf("quant: shape %v holds %d elements but %d values were given", shape, n, len(w))
	}
	if n == 0 {
		return nil, fmt.Errorf("quant: shape %v holds no elements", shape)
	}
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("quant: element %d is %v", i, v)
		}
	}
	blocks := ceilDiv(n, blockSize)
	q := &NF4{
		Shape:     slices.Clone(shape),
		BlockSize: blockSize,
		Data:      make([]byte, (n+1)/2),
		Absmax:    make([]float32, blocks),
		DType:     dtypeF32,
	}
	for b := range blocks {
		lo, hi := b*blockSize, min((b+1)*blockSize, n)
		var m float32
		for _, v := range w[lo:hi] {
			m = max(m, abs32(v))
		}
		q.Absmax[b] = m
		// Like the kernel: multiply by the reciprocal, which is +Inf for an
		// all-zero block, so 0*Inf = NaN gives every element code 0 (and
		// dequantizes to -1*0 = 0). An odd tensor's last byte pairs the
		// last element with a 0 scaled the same way.
		inv := 1 / m
		for i := lo; i < hi; i += 2 {
			next := float32(0)
			if i+1 < hi {
				next = w[i+1]
			}
			q.Data[i/2] = quantizeNF4(w[i]*inv)<<4 | quantizeNF4(next*inv)
		}
	}
	if double {
		q.Double = doubleQuantize(q.Absmax)
		q.Absmax = nil
	}
	return q, nil
}

// Len is the number of elements of the logical tensor.
func (q *NF4) Len() int {
	n := 1
	for _, d := range q.Shape {
		n *= d
	}
	return n
}

// blocks is the number of quantization blocks.
func (q *NF4) blocks() int { return ceilDiv(q.Len(), q.BlockSize) }

// scale is the factor of block b: its absmax, or with double quantization
// the dequantized absmax, rounded like bitsandbytes (the float32 product
// code*nested absmax, then the float32 sum with the offset).
func (q *NF4) scale(b int) float32 {
	if d := q.Double; d != nil {
		return float32(d.Code[d.QAbsmax[b]]*d.Absmax[b/d.BlockSize]) + d.Offset
	}
	return q.Absmax[b]
}

// Scales returns the per-block scales that dequantization multiplies the
// NF4 code values by: Absmax, or with double quantization
// Code[QAbsmax[i]]*Absmax[i/BlockSize] + Offset computed in float32 as
// bitsandbytes does.
func (q *NF4) Scales() []float32 {
	s := make([]float32, q.blocks())
	for b := range s {
		s[b] = q.scale(b)
	}
	return s
}

// Dequantize writes the Len() values of q into out: element i is
// NF4Code[code i] * scale of its block, the float32 product bitsandbytes'
// dequantize_4bit computes before rounding to the original dtype. It panics
// if out does not hold Len() elements.
func (q *NF4) Dequantize(out []float32) {
	if n := q.Len(); len(out) != n {
		panic(fmt.Sprintf("quant: Dequantize: out holds %d elements but the tensor has %d", len(out), n))
	}
	q.DequantizeRange(out, 0)
}

// DequantizeRange writes elements [start, start+len(out)) of q into out, so
// that a tensor can be dequantized tile by tile (or by several goroutines at
// once). It panics if the range is not inside [0, Len()).
func (q *NF4) DequantizeRange(out []float32, start int) {
	n := q.Len()
	if start < 0 || start > n || len(out) > n-start {
		panic(fmt.Sprintf("quant: DequantizeRange: range [%d, %d) is not inside the tensor's [0, %d)", start, start+len(out), n))
	}
	end := start + len(out)
	for i, b := start, start/q.BlockSize; i < end; b++ {
		hi := min((b+1)*q.BlockSize, end)
		var t [16]float32
		s := q.scale(b)
		for k, c := range NF4Code {
			t[k] = c * s
		}
		o := out[i-start : hi-start]
		if i&1 == 1 { // the low nibble of a byte whose high nibble is outside the range
			o[0] = t[q.Data[i/2]&15]
			o = o[1:]
			i++
		}
		src := q.Data[i/2 : hi/2]
		dst := o[:2*len(src)]
		for k, by := range src {
			dst[2*k] = t[by>>4]
			dst[2*k+1] = t[by&15]
		}
		if len(o) > len(dst) { // the high nibble of a byte whose low nibble is outside the range
			o[len(dst)] = t[q.Data[hi/2]>>4]
		}
		i = hi
	}
}

// Bytes is the memory the packed form takes: its parts (PartSizes) and,
// with double quantization, the offset.
func (q *NF4) Bytes() int {
	b := 0
	for _, n := range PartSizes(q.Len(), q.BlockSize, q.Double != nil) {
		b += n
	}
	if q.Double != nil {
		b += 4
	}
	return b
}

// PartSizes gives the bytes of each array of an NF4 tensor of n elements
// in blocks of blockSize, as Quantize makes it, in the order a device
// stores them: the packed codes, then the float32 absmax values, or with
// double quantization the 8-bit absmax codes, the float32 nested absmax
// values and the float32 nested code table. A memory plan sizes the
// quantized weights with it before any exist.
func PartSizes(n, blockSize int, double bool) []int {
	blocks := ceilDiv(n, blockSize)
	if !double {
		return []int{(n + 1) / 2, 4 * blocks}
	}
	return []int{(n + 1) / 2, blocks, 4 * ceilDiv(blocks, nestedBlockSize), 4 * len(DoubleQuant{}.Code)}
}

// check reports whether the fields of q are consistent with each other.
func (q *NF4) check() error {
	n, err := numElements(q.Shape)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("shape %v holds no elements", q.Shape)
	}
	if !validBlockSize(q.BlockSize) {
		return fmt.Errorf("block size %d is not a power of two from 32 to 4096", q.BlockSize)
	}
	if len(q.Data) != (n+1)/2 {
		return fmt.Errorf("%d packed bytes for %d elements, want %d", len(q.Data), n, (n+1)/2)
	}
	switch q.DType {
	case dtypeBF16, dtypeF16, dtypeF32:
	default:
		return fmt.Errorf("dtype %q: %w; want bfloat16, float16 or float32", q.DType, ErrUnsupported)
	}
	blocks := ceilDiv(n, q.BlockSize)
	d := q.Double
	if d == nil {
		if len(q.Absmax) != blocks {
			return fmt.Errorf("%d absmax values for %d blocks", len(q.Absmax), blocks)
		}
		return nil
	}
	if q.Absmax != nil {
		return errors.New("both Absmax and Double are set")
	}
	if len(d.QAbsmax) != blocks {
		return fmt.Errorf("%d quantized absmax values for %d blocks", len(d.QAbsmax), blocks)
	}
	if !validBlockSize(d.BlockSize) {
		return fmt.Errorf("nested block size %d is not a power of two from 32 to 4096", d.BlockSize)
	}
	if want := ceilDiv(blocks, d.BlockSize); len(d.Absmax) != want {
		return fmt.Errorf("%d nested absmax values for %d nested blocks", len(d.Absmax), want)
	}
	return nil
}

// validBlockSize reports whether bs is a block size bitsandbytes' CUDA
// kernels accept: a power of two from 32 to 4096.
func validBlockSize(bs int) bool {
	return bs >= 32 && bs <= 4096 && bs&(bs-1) == 0
}

// numElements is the product of shape, or an error for a negative
// dimension or a product that overflows int.
func numElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if d > 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v holds too many elements", shape)
		}
		n *= d
	}
	return n, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
