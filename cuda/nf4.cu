// nf4.cu: NF4 dequantization of bitsandbytes' layout, to fp32 or bf16.
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
