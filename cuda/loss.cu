// loss.cu: cross-entropy over a chunk of rows of logits, forward and
// backward, and the device-side sum of a chunk's losses.
//
// Contract (logits [rows, vocab] row-major, fp32 or bf16; targets [rows]
// int32 in device memory; TUNE_IGNORE_INDEX = -100 as in PyTorch):
//   tune_cross_entropy:  loss[r] = logsumexp(logits[r]) - logits[r][t]   (`=`, fp32 [rows])
//                        and 0 where t = targets[r] is the ignore index;
//                        with sum != 0 also sum[0] += scale·Σ_r loss[r] and
//                        sum[1] += the rows not ignored (fp32 sum[2], `+=`),
//                        on the device, with no host copy.
//   tune_cross_entropy_backward:
//                        dlogits[r] = scale·(softmax(logits[r]) - onehot(t))  (`=`)
//                        and 0 for ignored rows. dlogits may be logits itself
//                        (in place on a bf16 chunk), and otherwise must not
//                        overlap it.
// A target outside [0, vocab) that is not the ignore index gives NaN (the
// loss, or the row of dlogits), never a read outside the row.
//
// One block per row. Each thread keeps a running max m and sum of exp
// s = Σ exp(x - m) over its strided elements (rescaling s when m grows), so
// the row is read once; the block then combines the (m, s) pairs, warp
// shuffles first, in a fixed order. All of it is fp32 with precise expf and
// logf: loss = (m + logf(s)) - x[t]. The backward reads the row twice (the
// (m, s) pass, then p = expf(x - lse) per element), each thread writing
// only the elements it has just read, which is what makes the in-place
// form safe. bf16 outputs are rounded once.
//
// The sum: a second kernel of one block adds up loss[0:rows] in fp64 in an
// order fixed by rows alone, so a chunk's sum is the same run to run
// (atomics would not be), and adds it, times scale, and the count of rows
// not ignored into sum[0] and sum[1], each rounded to fp32 once (a step's
// few chunk sums lose no more than that; counts are exact below 2^24).
// Without a loss buffer the per-row losses go to a scratch.

#include <math.h>

#include "common.cuh"

namespace {

// Threads per block of the row kernels: 8 warps, a row of the 7B vocabulary
// (152064) is 594 elements per thread.
constexpr int kRowThreads = 256;

struct maxsum {
  float m, s;  // the running max and Σ exp(x - m)
};

// merge combines two partial (max, sum of exp) pairs. Equal maxima (-inf
// included, where both sums are 0) take factor 1, so no inf - inf appears.
__device__ __forceinline__ maxsum merge(maxsum a, maxsum b) {
  const float m = fmaxf(a.m, b.m);
  const float fa = a.m == m ? 1.0f : expf(a.m - m), fb = b.m == m ? 1.0f : expf(b.m - m);
  return maxsum{m, a.s * fa + b.s * fb};
}

__device__ __forceinline__ float load(const void *p, tune_dtype t, int64_t i) {
  return t == TUNE_F32 ? static_cast<const float *>(p)[i] : __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
}

__device__ __forceinline__ void store(void *p, tune_dtype t, int64_t i, float v) {
  if (t == TUNE_F32)
    static_cast<float *>(p)[i] = v;
  else
    static_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(v);
}

// row_maxsum returns, in every thread, the (max, sum of exp) of row [0:n).
__device__ maxsum row_maxsum(const void *row, tune_dtype t, int64_t n) {
  __shared__ float warp_m[kRowThreads / 32];
  __shared__ float warp_s[kRowThreads / 32];
  maxsum a{-INFINITY, 0.0f};
  for (int64_t j = threadIdx.x; j < n; j += kRowThreads) {
    const float v = load(row, t, j);
    if (v > a.m) {
      a.s = (a.m == -INFINITY ? 0.0f : a.s * expf(a.m - v)) + 1.0f;
      a.m = v;
    } else if (!(v == -INFINITY && a.m == -INFINITY)) {
      a.s += expf(v - a.m);  // a NaN v lands here and makes s NaN
    }
  }
#pragma unroll
  for (int o = 16; o > 0; o /= 2)
    a = merge(a, maxsum{__shfl_xor_sync(0xffffffffu, a.m, o), __shfl_xor_sync(0xffffffffu, a.s, o)});
  if (threadIdx.x % 32 == 0) {
    warp_m[threadIdx.x / 32] = a.m;
    warp_s[threadIdx.x / 32] = a.s;
  }
  __syncthreads();
  a = maxsum{warp_m[0], warp_s[0]};
  for (int w = 1; w < kRowThreads / 32; w++) a = merge(a, maxsum{warp_m[w], warp_s[w]});
  return a;
}

__global__ void __launch_bounds__(kRowThreads) cross_entropy_kernel(float *__restrict__ loss,
                                                                    const void *__restrict__ logits, tune_dtype type,
                                                                    const int32_t *__restrict__ targets, int64_t vocab) {
  const int64_t r = blockIdx.x;
  const int32_t t = targets[r];
  if (t == TUNE_IGNORE_INDEX) {  // the whole block leaves: no barrier follows
    if (threadIdx.x == 0) loss[r] = 0.0f;
    return;
  }
  const size_t esize = type == TUNE_F32 ? 4 : 2;
  const void *row = static_cast<const char *>(logits) + (size_t)r * vocab * esize;
  const maxsum a = row_maxsum(row, type, vocab);
  if (threadIdx.x == 0) loss[r] = t < 0 || t >= vocab ? NAN : (a.m + logf(a.s)) - load(row, type, t);
}

__global__ void __launch_bounds__(kRowThreads) cross_entropy_backward_kernel(void *dlogits, tune_dtype dtype,
                                                                             const void *logits, tune_dtype type,
                                                                             const int32_t *__restrict__ targets,
                                                                             int64_t vocab, float scale) {
  const int64_t r = blockIdx.x;
  const int32_t t = targets[r];
  const size_t off = (size_t)r * vocab;
  if (t == TUNE_IGNORE_INDEX) {
    for (int64_t j = threadIdx.x; j < vocab; j += kRowThreads) store(dlogits, dtype, off + j, 0.0f);
    return;
  }
  const void *row = static_cast<const char *>(logits) + off * (type == TUNE_F32 ? 4 : 2);
  const maxsum a = row_maxsum(row, type, vocab);
  const float lse = t < 0 || t >= vocab ? NAN : a.m + logf(a.s);
  // Every thread reads element j before writing it, and no other thread
  // touches j: dlogits may be logits.
  for (int64_t j = threadIdx.x; j < vocab; j += kRowThreads) {
    const float p = expf(load(row, type, j) - lse);
    store(dlogits, dtype, off + j, scale * (j == t ? p - 1.0f : p));
  }
}

__global__ void __launch_bounds__(kThreads) loss_sum_kernel(float *__restrict__ sum, const float *__restrict__ loss,
                                                            const int32_t *__restrict__ targets, int64_t rows,
                                                            float scale) {
  __shared__ double warp_loss[kThreads / 32];
  __shared__ double warp_count[kThreads / 32];
  double l = 0, c = 0;
  for (int64_t r = threadIdx.x; r < rows; r += kThreads) {
    if (targets[r] == TUNE_IGNORE_INDEX) continue;
    l += loss[r];
    c += 1;
  }
#pragma unroll
  for (int o = 16; o > 0; o /= 2) {
    l += __shfl_down_sync(0xffffffffu, l, o);
    c += __shfl_down_sync(0xffffffffu, c, o);
  }
  if (threadIdx.x % 32 == 0) {
    warp_loss[threadIdx.x / 32] = l;
    warp_count[threadIdx.x / 32] = c;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 1; w < kThreads / 32; w++) {
    l += warp_loss[w];
    c += warp_count[w];
  }
  sum[0] = (float)((double)sum[0] + (double)scale * l);
  sum[1] = (float)((double)sum[1] + c);
}

tune_status check_rows(const char *op, tune_ptr logits, tune_dtype type, tune_ptr targets, int64_t rows,
                       int64_t vocab) {
  if (rows < 1 || vocab < 1)
    return fail(TUNE_ERR_ARGUMENT, "%s: shape rows=%lld vocab=%lld (each must be >= 1)", op, (long long)rows,
                (long long)vocab);
  if (rows > INT32_MAX) return fail(TUNE_ERR_ARGUMENT, "%s: %lld rows (at most 2^31-1 per call)", op, (long long)rows);
  if (logits == 0 || targets == 0) return fail(TUNE_ERR_ARGUMENT, "%s: null buffer", op);
  if (type != TUNE_F32 && type != TUNE_BF16)
    return fail(TUNE_ERR_ARGUMENT, "%s: logits of unknown type %d (want TUNE_F32 or TUNE_BF16)", op, (int)type);
  return TUNE_OK;
}

}  // namespace

extern "C" {

TUNE_API tune_status tune_cross_entropy(tune_ctx *ctx, tune_ptr loss, tune_ptr logits, tune_dtype logits_type,
                                        tune_ptr targets, int64_t rows, int64_t vocab, tune_ptr sum, float scale) {
  const char *op = "tune_cross_entropy";
  TRY(enter(ctx));
  TRY(check_rows(op, logits, logits_type, targets, rows, vocab));
  if (loss == 0 && sum == 0) return fail(TUNE_ERR_ARGUMENT, "%s: neither loss nor sum given", op);
  if (loss == 0) {
    void *p = nullptr;
    TRY(scratch(ctx, SCRATCH_LOSS, (size_t)rows * sizeof(float), &p));
    loss = (tune_ptr)(uintptr_t)p;
  }
  const int32_t *tp = reinterpret_cast<const int32_t *>(targets);
  cross_entropy_kernel<<<(unsigned)rows, kRowThreads, 0, ctx->stream>>>(
      reinterpret_cast<float *>(loss), (const void *)(uintptr_t)logits, logits_type, tp, vocab);
  TRY(launched("cross-entropy kernel"));
  if (sum == 0) return TUNE_OK;
  loss_sum_kernel<<<1, kThreads, 0, ctx->stream>>>(reinterpret_cast<float *>(sum),
                                                   reinterpret_cast<const float *>(loss), tp, rows, scale);
  return launched("cross-entropy sum kernel");
}

TUNE_API tune_status tune_cross_entropy_backward(tune_ctx *ctx, tune_ptr dlogits, tune_dtype dlogits_type,
                                                 tune_ptr logits, tune_dtype logits_type, tune_ptr targets,
                                                 int64_t rows, int64_t vocab, float scale) {
  const char *op = "tune_cross_entropy_backward";
  TRY(enter(ctx));
  TRY(check_rows(op, logits, logits_type, targets, rows, vocab));
  if (dlogits == 0) return fail(TUNE_ERR_ARGUMENT, "%s: null buffer", op);
  if (dlogits_type != TUNE_F32 && dlogits_type != TUNE_BF16)
    return fail(TUNE_ERR_ARGUMENT, "%s: dlogits of unknown type %d", op, (int)dlogits_type);
  const uint64_t n = (uint64_t)rows * (uint64_t)vocab;
  const uint64_t in_bytes = n * (logits_type == TUNE_F32 ? 4 : 2), out_bytes = n * (dlogits_type == TUNE_F32 ? 4 : 2);
  if (dlogits == logits ? dlogits_type != logits_type
                        : dlogits < logits + in_bytes && logits < dlogits + out_bytes)
    return fail(TUNE_ERR_ARGUMENT, "%s: dlogits overlaps logits without being them, of the same type", op);
  cross_entropy_backward_kernel<<<(unsigned)rows, kRowThreads, 0, ctx->stream>>>(
      (void *)(uintptr_t)dlogits, dlogits_type, (const void *)(uintptr_t)logits, logits_type,
      reinterpret_cast<const int32_t *>(targets), vocab, scale);
  return launched("cross-entropy backward kernel");
}

}  // extern "C"
