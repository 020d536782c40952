// Package quant implements NF4 (4-bit NormalFloat) quantization exactly as
// bitsandbytes does it (functional.quantize_4bit / dequantize_4bit with
// quant_type="nf4", optionally with compress_statistics=True), and reads and
// writes bitsandbytes' serialized layout, so that QLoRA can keep frozen
// weights packed and load checkpoints that transformers saved with
// BitsAndBytesConfig(load_in_4bit=True).
//
// # Format
//
// The n elements of a tensor, in row-major order, are cut into blocks of
// BlockSize (64 by default; the last block may be shorter). Each block is
// scaled by its absolute maximum absmax into [-1, 1] and every element is
// replaced by the 4-bit index of the nearest of the 16 [NF4Code] values.
// Two codes share a byte: element 2i in the high nibble of byte i, element
// 2i+1 in the low nibble, so an odd tensor ends with a padding nibble.
// Dequantization is NF4Code[code] * absmax of the block.
//
// Double quantization stores the float32 absmax values in 8 bits: their mean
// is the offset, and the differences absmax-offset are quantized in blocks
// of 256 with the 256-entry signed dynamic map ([DynamicMap]), each nested
// block scaled by its own float32 absolute maximum. The scale of block i is
// then code[q_i] * nested_absmax[i/256] + offset.
//
// # Arithmetic, ties and edge cases
//
// Quantization follows bitsandbytes' CUDA kernels, the path by which
// transformers quantizes: the scaled value is the float32 product of the
// element and the float32 reciprocal of the absmax; the NF4 code is taken
// with the strict comparisons of the kernel's decision tree (dQuantizeNF4)
// against its float literals, which lie within one unit in the last place
// (ulp) of the float32 midpoints of adjacent codes, so a value exactly on
// one gets the lower code; the 8-bit code of double quantization is found
// by the kernel's binary search (dQuantize), which at an exact midpoint
// keeps its final pivot, the upper or the lower neighbour depending on the
// search path. An all-zero block has absmax 0, reciprocal +Inf and scaled
// values NaN, which both kernels map to code 0; it dequantizes to zeros.
//
// Three details cannot be matched to the bit, and each can only move the
// code of a value lying within about one float32 ulp of a decision
// boundary: bitsandbytes builds its kernels with --use_fast_math, so on the
// GPU the reciprocal is the hardware approximation (within one ulp of the
// IEEE reciprocal used here) and denormals flush to zero; the offset of
// double quantization is PyTorch's float32 mean, whose last bit depends on
// the reduction order (here the sum is accumulated in float64 and rounded
// once); and the dynamic map depends in its last bits on PyTorch's CPU
// vector kernel (see [DynamicMap]).
//
// bitsandbytes' CPU paths differ more: its C++ 8-bit quantizer divides by
// the absmax, breaks ties towards the lower index and overwrites code[0] of
// the map with -1; its PyTorch fallback for 4-bit scales in the weights'
// own dtype and takes the first of equally near codes.
//
// Dequantization gives the float32 products code value × scale (the scale
// of double quantization rounded as bitsandbytes rounds it), bit for bit
// the values bitsandbytes computes before it rounds them to the original
// dtype recorded in NF4.DType. Loading a checkpoint with [Read] therefore
// reproduces bitsandbytes' weights exactly.
//
// # Serialized layout
//
// Linear4bit saves a weight named W as these tensors ([NF4.Tensors],
// [Read]):
//
//	W                                   U8  [(n+1)/2, 1]  packed codes
//	W.absmax                            F32 [blocks], or U8 [blocks] when double-quantized
//	W.quant_map                         F32 [16]      the NF4 code
//	W.nested_absmax                     F32 [ceil(blocks/256)]  (double only)
//	W.nested_quant_map                  F32 [256]     the dynamic map  (double only)
//	W.quant_state.bitsandbytes__nf4     U8  [bytes]   JSON
//
// The JSON is QuantState.as_dict's non-tensor items as Python's json.dumps
// writes them, e.g.
//
//	{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4864, 896],
//	 "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0104}
//
// (on one line). [Read] also accepts packed weights stored in another dtype
// (bitsandbytes' quant_storage), and rejects fp4 weights with an error
// wrapping [ErrUnsupported].
package quant
