// nf4.cu: NF4 dequantization of bitsandbytes' layout, to fp32 or bf16, and
// quantization with double quantization, bit-exact with package quant.
//
// Contract: out[i] = code[nibble(i)] * scale(i / block_size) for i < n,
// written with `=`; nibble(i) is the high half of data[i/2] for even i and
// the low half for odd i (bitsandbytes packs element 2j in the high
// nibble). scale(b) is absmax[b], or with double quantization
// code2[qabsmax[b]] * absmax2[b / block_size2] + offset, each operation
// rounded to fp32 (no fused multiply-add) exactly as bitsandbytes'
// dequantize_blockwise followed by `absmax += offset`. The element is the
// fp32 product, converted to bf16 by round-to-nearest-even when out is bf16.
//
// Speed: the op moves n/2 bytes in and 2n (bf16) or 4n (fp32) bytes out.
// Each thread takes 32 elements: one 16-byte load of packed codes, one
// block scale (block_size is a multiple of 32), and 16-byte stores. Threads
// whose 32 elements run past n, or when out is not 16-byte aligned or the
// block size not a multiple of 32, take the per-element path.

// Quantize contract (tune_nf4_quantize): for w [n] (fp32 or bf16, every
// element finite) and block size B, exactly as package quant's
// Quantize(w, shape, B, double=true):
//   absmax[b] = max |w[i]| over block b; inv = 1/absmax[b] (+Inf for an
//   all-zero block); code(x) = the number of NF4 thresholds strictly below x
//   (a NaN, from 0*Inf, gets 0); data[i/2] = code(w[i]*inv) << 4 |
//   code(w[i+1]*inv), the element after an odd tensor's last being 0.
//   offset = float(sum of absmax in float64, in index order / blocks);
//   per nested block c of 256 absmax values: absmax2[c] = max |absmax -
//   offset|, inv2 = 1/absmax2[c], qabsmax[b] = quantize8(code2, (absmax[b] -
//   offset)*inv2), bitsandbytes' binary search of the 256-entry code2.
// Every product, difference and quotient is one fp32 (the sum fp64)
// operation rounded to nearest; none of them can be contracted into a
// fused multiply-add. The float64 sum is taken by one thread in index order
// (its rounding depends on the order); the absmax is ~1/64 of the weight,
// so that pass moves 2% of the bytes the codes do.

#include "common.cuh"
#include "nf4.cuh"

namespace {

template <typename T>
__device__ __forceinline__ void store_element(T *out, int64_t i, float v);

template <>
__device__ __forceinline__ void store_element<float>(float *out, int64_t i, float v) {
  out[i] = v;
}

template <>
__device__ __forceinline__ void store_element<__nv_bfloat16>(__nv_bfloat16 *out, int64_t i, float v) {
  out[i] = __float2bfloat16_rn(v);
}

// store32 writes 32 values with 16-byte stores (out + i is 16-byte aligned).
__device__ __forceinline__ void store32(float *out, int64_t i, const float (&v)[32]) {
  float4 *o = reinterpret_cast<float4 *>(out + i);
#pragma unroll
  for (int j = 0; j < 8; j++) o[j] = make_float4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
}

__device__ __forceinline__ void store32(__nv_bfloat16 *out, int64_t i, const float (&v)[32]) {
  uint4 *o = reinterpret_cast<uint4 *>(out + i);
#pragma unroll
  for (int j = 0; j < 4; j++) {
    uint32_t w[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
      __nv_bfloat162 h = __floats2bfloat162_rn(v[8 * j + 2 * k], v[8 * j + 2 * k + 1]);
      w[k] = *reinterpret_cast<uint32_t *>(&h);
    }
    o[j] = make_uint4(w[0], w[1], w[2], w[3]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) dequantize_kernel(T *__restrict__ out, const tune_nf4 q, bool vector) {
  __shared__ float code[16];
  if (threadIdx.x == 0) {
    // Constant indices: a run-time index would copy q to local memory.
#pragma unroll
    for (int j = 0; j < 16; j++) code[j] = q.code[j];
  }
  __syncthreads();
  const uint8_t *data = reinterpret_cast<const uint8_t *>(q.data);
  int64_t first = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 32;
  if (first >= q.n) return;
  if (vector && first + 32 <= q.n) {
    uint4 packed = __ldg(reinterpret_cast<const uint4 *>(data + (first >> 1)));
    float s = nf4_scale(q, first);
    const uint32_t words[4] = {packed.x, packed.y, packed.z, packed.w};
    float v[32];
#pragma unroll
    for (int j = 0; j < 16; j++) {
      uint32_t byte = (words[j / 4] >> (8 * (j % 4))) & 0xff;
      v[2 * j] = __fmul_rn(code[byte >> 4], s);
      v[2 * j + 1] = __fmul_rn(code[byte & 15], s);
    }
    store32(out, first, v);
    return;
  }
  int64_t last = first + 32 < q.n ? first + 32 : q.n;
  for (int64_t i = first; i < last; i++) {
    uint8_t byte = data[i >> 1];
    int nib = (i & 1) ? (byte & 15) : (byte >> 4);
    store_element(out, i, __fmul_rn(code[nib], nf4_scale(q, i)));
  }
}

// nf4_code returns the NF4 code of x: the number of thresholds strictly
// below it. nf4_thresholds[k] separates code k from code k+1: the float
// literals of bitsandbytes' dQuantizeNF4 decision tree, as package quant
// holds them (unrolled, they become immediates).
__device__ __forceinline__ uint32_t nf4_code(float x) {
  const float nf4_thresholds[15] = {
      -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
      -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
      0.1202552504837513f,  0.2035212516784668f,  0.2920137718319893f,  0.3893125355243683f,
      0.5016634166240692f,  0.6427869200706482f,  0.8614784181118011f};
  uint32_t q = 0;
#pragma unroll
  for (int k = 0; k < 15; k++) q += x > nf4_thresholds[k] ? 1u : 0u;
  return q;
}

__device__ __forceinline__ float load_float(const void *w, tune_dtype t, int64_t i) {
  if (t == TUNE_BF16) return __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(w)[i]);
  return reinterpret_cast<const float *>(w)[i];
}

// block_max reduces v over the block (blockDim.x a multiple of 32) with
// shared memory red[32]; max is exact in any order.
__device__ float block_max(float v, float *red) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  if (lane == 0) red[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? red[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) red[0] = v;
  }
  __syncthreads();
  return red[0];
}

// quantize_blocks: one thread block per NF4 block: its absmax, then its
// codes, two elements (one byte) per thread and step.
__global__ void __launch_bounds__(kThreads)
    quantize_blocks_kernel(uint8_t *__restrict__ data, float *__restrict__ absmax, const void *__restrict__ w,
                           tune_dtype wt, int64_t n, int block_size) {
  __shared__ float red[32];
  int64_t lo = (int64_t)blockIdx.x * block_size;
  int64_t hi = lo + block_size < n ? lo + block_size : n;
  float m = 0.0f;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) m = fmaxf(m, fabsf(load_float(w, wt, i)));
  m = block_max(m, red);
  if (threadIdx.x == 0) absmax[blockIdx.x] = m;
  float inv = 1.0f / m;
  for (int64_t i = lo + 2 * (int64_t)threadIdx.x; i < hi; i += 2 * (int64_t)blockDim.x) {
    float next = i + 1 < hi ? load_float(w, wt, i + 1) : 0.0f;
    data[i >> 1] = (uint8_t)(nf4_code(load_float(w, wt, i) * inv) << 4 | nf4_code(next * inv));
  }
}

// quantize_offset: the mean of the block absmax values, summed in fp64 by
// one thread in index order as package quant sums them.
__global__ void quantize_offset_kernel(float *__restrict__ offset, const float *__restrict__ absmax, int64_t blocks) {
  double sum = 0;
  for (int64_t b = 0; b < blocks; b++) sum += (double)absmax[b];
  *offset = (float)(sum / (double)blocks);
}

// quantize8 is package quant's quantize8: bitsandbytes' dQuantize
// (non-stochastic) over the ascending 256-entry code.
__device__ uint8_t quantize8(const float *code, float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = code[pivot];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot, lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot, upper = val;
      pivot -= i;
    }
    val = code[pivot];
  }
  if (upper_pivot == 255) upper = code[255];
  if (lower_pivot == 0) lower = code[0];
  if (x > val) return (uint8_t)(x > (upper + val) * 0.5f ? upper_pivot : pivot);
  return (uint8_t)(x < (lower + val) * 0.5f ? lower_pivot : pivot);
}

// quantize_nested: one thread block of kNested threads per nested block
// of the absmax values.
constexpr int kNested = 256;
__global__ void __launch_bounds__(kNested)
    quantize_nested_kernel(uint8_t *__restrict__ qabsmax, float *__restrict__ absmax2, const float *__restrict__ code2,
                           const float *__restrict__ absmax, const float *__restrict__ offset, int64_t blocks) {
  __shared__ float code[256];
  __shared__ float red[32];
  for (int j = threadIdx.x; j < 256; j += blockDim.x) code[j] = code2[j];
  int64_t b = (int64_t)blockIdx.x * kNested + threadIdx.x;
  float off = *offset;
  float d = b < blocks ? absmax[b] - off : 0.0f;
  float m = block_max(fabsf(d), red);  // also orders the code's writes before its reads
  if (threadIdx.x == 0) absmax2[blockIdx.x] = m;
  if (b < blocks) qabsmax[b] = quantize8(code, d * (1.0f / m));
}

}  // namespace

tune_status nf4_check(const tune_nf4 *q, const char *op) {
  if (q == nullptr) return fail(TUNE_ERR_ARGUMENT, "%s: null NF4 tensor", op);
  if (q->n <= 0 || q->block_size <= 0 || q->data == 0)
    return fail(TUNE_ERR_ARGUMENT, "%s: NF4 tensor with n=%lld, block size %d, data %s", op, (long long)q->n,
                q->block_size, q->data == 0 ? "missing" : "present");
  if (q->absmax == 0 && (q->qabsmax == 0 || q->absmax2 == 0 || q->code2 == 0 || q->block_size2 <= 0))
    return fail(TUNE_ERR_ARGUMENT, "%s: NF4 tensor has neither absmax nor a complete double quantization", op);
  bool pow2 = (q->block_size & (q->block_size - 1)) == 0 &&
              (q->absmax != 0 || (q->block_size2 & (q->block_size2 - 1)) == 0);
  if (!pow2)
    return fail(TUNE_ERR_ARGUMENT, "%s: NF4 block sizes %d and %d: powers of two only", op, q->block_size,
                q->block_size2);
  return TUNE_OK;
}

extern "C" TUNE_API tune_status tune_nf4_dequantize(tune_ctx *ctx, tune_ptr out, tune_dtype out_type,
                                                   const tune_nf4 *q) {
  TRY(enter(ctx));
  TRY(nf4_check(q, "tune_nf4_dequantize"));
  if (out == 0) return fail(TUNE_ERR_ARGUMENT, "tune_nf4_dequantize: null output");
  bool vector = q->block_size % 32 == 0 && misalign(out) == 0 && misalign(q->data) == 0;
  unsigned grid = blocks_for(q->n, kThreads * 32);
  switch (out_type) {
    case TUNE_F32:
      dequantize_kernel<float><<<grid, kThreads, 0, ctx->stream>>>(reinterpret_cast<float *>(out), *q, vector);
      break;
    case TUNE_BF16:
      dequantize_kernel<__nv_bfloat16>
          <<<grid, kThreads, 0, ctx->stream>>>(reinterpret_cast<__nv_bfloat16 *>(out), *q, vector);
      break;
    default:
      return fail(TUNE_ERR_ARGUMENT, "tune_nf4_dequantize: unknown output type %d", (int)out_type);
  }
  return launched("NF4 dequantize kernel");
}

extern "C" TUNE_API tune_status tune_nf4_quantize(tune_ctx *ctx, tune_nf4 *q, tune_ptr w, tune_dtype w_type) {
  TRY(enter(ctx));
  if (q == nullptr || w == 0) return fail(TUNE_ERR_ARGUMENT, "tune_nf4_quantize: null %s", q == nullptr ? "tensor" : "input");
  if (q->absmax != 0 || q->block_size2 != kNested || q->block_size < 32 || q->block_size > 4096)
    return fail(TUNE_ERR_ARGUMENT,
                "tune_nf4_quantize: wants double quantization (absmax 0, nested block size %d, got %d) and a block "
                "size from 32 to 4096 (got %d)",
                kNested, q->block_size2, q->block_size);
  TRY(nf4_check(q, "tune_nf4_quantize"));
  if (w_type != TUNE_F32 && w_type != TUNE_BF16)
    return fail(TUNE_ERR_ARGUMENT, "tune_nf4_quantize: unknown input type %d", (int)w_type);
  int64_t blocks = (q->n + q->block_size - 1) / q->block_size;
  void *tmp;
  TRY(scratch(ctx, SCRATCH_NF4, sizeof(float) * (size_t)(blocks + 1), &tmp));
  float *absmax = reinterpret_cast<float *>(tmp), *offset = absmax + blocks;
  // Each thread codes two elements per step: half a block's threads, at
  // least a warp (block_max wants whole warps), at most kThreads.
  int threads = q->block_size / 2 < 32 ? 32 : q->block_size / 2 > kThreads ? kThreads : q->block_size / 2;
  quantize_blocks_kernel<<<(unsigned)blocks, threads, 0, ctx->stream>>>(
      reinterpret_cast<uint8_t *>(q->data), absmax, reinterpret_cast<const void *>(w), w_type, q->n, q->block_size);
  TRY(launched("NF4 quantize kernel"));
  quantize_offset_kernel<<<1, 1, 0, ctx->stream>>>(offset, absmax, blocks);
  TRY(launched("NF4 offset kernel"));
  quantize_nested_kernel<<<blocks_for(blocks, kNested), kNested, 0, ctx->stream>>>(
      reinterpret_cast<uint8_t *>(q->qabsmax), reinterpret_cast<float *>(q->absmax2),
      reinterpret_cast<const float *>(q->code2), absmax, offset, blocks);
  TRY(launched("NF4 nested quantize kernel"));
  TRY_CUDA(cudaMemcpyAsync(&q->offset, offset, sizeof(float), cudaMemcpyDeviceToHost, ctx->stream),
           "cudaMemcpyAsync (NF4 offset)");
  TRY_CUDA(cudaStreamSynchronize(ctx->stream), "cudaStreamSynchronize");
  return TUNE_OK;
}
