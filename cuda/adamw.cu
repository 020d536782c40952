// adamw.cu: the sum of squares (for the global gradient norm) and AdamW
// over one flat fp32 arena of every LoRA tensor, in one launch.
//
// Contract:
//  - tune_sum_squares: *out = sum of x[i]^2 (fp32 squares widened to fp64,
//    exact, summed in fp64). The order of the sum depends on n only, so a
//    result is reproducible run to run.
//  - tune_adamw: p, m and v are updated in place (`=`), g is read. Per
//    element, in this float32 order with every operation rounded (no fused
//    multiply-add), as PyTorch's single-tensor AdamW and backend/cpu do:
//      g' = g*scale
//      p  = p*(1-lr*wd)
//      m  = m*b1 + g'*(1-b1)
//      v  = v*b2 + ((1-b2)*g')*g'
//      p  = p + ((-step_size)*m) / (sqrt(v)/bc2 + eps)
//    with step_size = lr/(1-b1^t) and bc2 = sqrt(1-b2^t) computed in
//    double and rounded to float32, as torch does with its Python floats.
//    With max_norm > 0, scale = min(1, max_norm/(float(norm) + 1e-6)) where
//    norm = sqrt(sum of g^2) comes from tune_sum_squares' kernels on the
//    device (torch.nn.utils.clip_grad_norm_; a NaN norm gives a NaN scale,
//    as it does there).
//
// Speed: AdamW moves 28 bytes per parameter (p, g, m, v in; p, m, v out),
// clipping reads g once more (4 bytes). Threads take float4s; pointers that
// share their offset past a 16-byte boundary (as slices of one arena do)
// take the vector path after a scalar head, others the scalar path.

#include <math.h>

#include "common.cuh"

namespace {

constexpr int kMaxPartials = 1024;

__device__ __forceinline__ double block_sum(double v) {
  __shared__ double warp_sums[kThreads / 32];
#pragma unroll
  for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? warp_sums[threadIdx.x] : 0.0;
  if (threadIdx.x < 32) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  }
  return v;  // in thread 0
}

__device__ __forceinline__ double sq(float x) { return (double)x * (double)x; }

// A split of n fp32 elements into a scalar head (up to the first 16-byte
// boundary), nvec float4s and a scalar tail.
struct split {
  int64_t head, nvec, tail;
};

split split_for(tune_ptr p, int64_t n, bool vector) {
  split s{n, 0, 0};
  if (!vector) return s;
  int64_t head = (int64_t)((16 - misalign(p)) % 16) / 4;
  if (head >= n) return s;
  s.head = head;
  s.nvec = (n - head) / 4;
  s.tail = n - head - 4 * s.nvec;
  return s;
}

// scalar_index maps j < head+tail to the element it names.
__device__ __forceinline__ int64_t scalar_index(const split &s, int64_t j) {
  return j < s.head ? j : s.head + 4 * s.nvec + (j - s.head);
}

__global__ void __launch_bounds__(kThreads) sum_squares_kernel(const float *__restrict__ x, split s,
                                                               double *__restrict__ partials) {
  double acc = 0;
  const float4 *v = reinterpret_cast<const float4 *>(x + s.head);
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < s.nvec; i += (int64_t)gridDim.x * blockDim.x) {
    float4 a = __ldg(v + i);
    acc += sq(a.x) + sq(a.y) + sq(a.z) + sq(a.w);
  }
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    for (int64_t j = 0; j < s.head + s.tail; j++) acc += sq(x[scalar_index(s, j)]);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(kThreads) sum_partials_kernel(const double *__restrict__ partials, int count,
                                                                double *__restrict__ out) {
  double acc = 0;
  for (int i = threadIdx.x; i < count; i += kThreads) acc += partials[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) *out = acc;
}

// queue_sum_squares queues the two kernels that leave the sum in ctx->sum.
tune_status queue_sum_squares(tune_ctx *ctx, tune_ptr x, int64_t n) {
  split s = split_for(x, n, true);
  int64_t per_block = (int64_t)kThreads * 8;  // float4s per block at the least
  int grid = (int)(s.nvec / per_block + 1);
  if (grid > kMaxPartials) grid = kMaxPartials;
  void *partials = nullptr;
  TRY(scratch(ctx, SCRATCH_PARTIALS, kMaxPartials * sizeof(double), &partials));
  sum_squares_kernel<<<grid, kThreads, 0, ctx->stream>>>(reinterpret_cast<const float *>(x), s,
                                                         static_cast<double *>(partials));
  TRY(launched("sum of squares kernel"));
  sum_partials_kernel<<<1, kThreads, 0, ctx->stream>>>(static_cast<const double *>(partials), grid, ctx->sum);
  return launched("sum of squares kernel (final)");
}

struct adamw_consts {
  float decay, b1, b2, c1, c2, step_size, bc2, eps;
  float grad_scale, max_norm;
  const double *sum;  // clipping: the device sum of g^2; else null
};

__device__ __forceinline__ float grad_scale(const adamw_consts &c) {
  if (c.sum == nullptr) return c.grad_scale;
  float norm = (float)sqrt(*c.sum);
  float coef = __fdiv_rn(c.max_norm, __fadd_rn(norm, 1e-6f));
  return (coef < 1.0f || isnan(coef)) ? coef : 1.0f;
}

__device__ __forceinline__ void adamw_one(float &p, float g, float &m, float &v, float scale, const adamw_consts &c) {
  float gi = __fmul_rn(g, scale);
  p = __fmul_rn(p, c.decay);
  m = __fadd_rn(__fmul_rn(m, c.b1), __fmul_rn(gi, c.c1));
  v = __fadd_rn(__fmul_rn(v, c.b2), __fmul_rn(__fmul_rn(c.c2, gi), gi));
  float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), c.bc2), c.eps);
  p = __fadd_rn(p, __fdiv_rn(__fmul_rn(-c.step_size, m), denom));
}

__global__ void __launch_bounds__(kThreads) adamw_kernel(float *__restrict__ p, const float *__restrict__ g,
                                                         float *__restrict__ m, float *__restrict__ v, split s,
                                                         adamw_consts c) {
  float scale = grad_scale(c);
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < s.nvec) {
    int64_t o = s.head + 4 * i;
    float4 pv = *reinterpret_cast<float4 *>(p + o);
    float4 gv = __ldg(reinterpret_cast<const float4 *>(g + o));
    float4 mv = *reinterpret_cast<float4 *>(m + o);
    float4 vv = *reinterpret_cast<float4 *>(v + o);
    adamw_one(pv.x, gv.x, mv.x, vv.x, scale, c);
    adamw_one(pv.y, gv.y, mv.y, vv.y, scale, c);
    adamw_one(pv.z, gv.z, mv.z, vv.z, scale, c);
    adamw_one(pv.w, gv.w, mv.w, vv.w, scale, c);
    *reinterpret_cast<float4 *>(p + o) = pv;
    *reinterpret_cast<float4 *>(m + o) = mv;
    *reinterpret_cast<float4 *>(v + o) = vv;
  }
  if (i < s.head + s.tail) {
    int64_t j = scalar_index(s, i);
    adamw_one(p[j], g[j], m[j], v[j], scale, c);
  }
}

}  // namespace

extern "C" {

TUNE_API tune_status tune_sum_squares(tune_ctx *ctx, tune_ptr x, int64_t n, double *out) {
  TRY(enter(ctx));
  if (out == nullptr) return fail(TUNE_ERR_ARGUMENT, "tune_sum_squares: null output");
  if (n < 0 || (n > 0 && x == 0))
    return fail(TUNE_ERR_ARGUMENT, "tune_sum_squares: n=%lld with x %s", (long long)n, x ? "set" : "null");
  *out = 0;
  if (n == 0) return TUNE_OK;
  TRY(queue_sum_squares(ctx, x, n));
  TRY_CUDA(cudaMemcpyAsync(out, ctx->sum, sizeof(double), cudaMemcpyDeviceToHost, ctx->stream), "sum of squares");
  TRY_CUDA(cudaStreamSynchronize(ctx->stream), "sum of squares");
  return TUNE_OK;
}

TUNE_API tune_status tune_adamw(tune_ctx *ctx, tune_ptr p, tune_ptr g, tune_ptr m, tune_ptr v, int64_t n,
                                const tune_adamw_step *s, double *norm) {
  TRY(enter(ctx));
  if (s == nullptr) return fail(TUNE_ERR_ARGUMENT, "tune_adamw: null step");
  if (n < 0 || (n > 0 && (p == 0 || g == 0 || m == 0 || v == 0)))
    return fail(TUNE_ERR_ARGUMENT, "tune_adamw: n=%lld with a null buffer", (long long)n);
  if (s->step < 1) return fail(TUNE_ERR_ARGUMENT, "tune_adamw: step %lld (steps count from 1)", (long long)s->step);
  if (n == 0) return TUNE_OK;
  adamw_consts c;
  c.decay = (float)(1 - s->lr * s->weight_decay);
  c.b1 = (float)s->beta1;
  c.b2 = (float)s->beta2;
  c.c1 = (float)(1 - s->beta1);
  c.c2 = (float)(1 - s->beta2);
  c.step_size = (float)(s->lr / (1 - pow(s->beta1, (double)s->step)));
  c.bc2 = (float)sqrt(1 - pow(s->beta2, (double)s->step));
  c.eps = (float)s->eps;
  c.grad_scale = s->grad_scale;
  c.max_norm = s->max_norm;
  c.sum = nullptr;
  bool clip = s->max_norm > 0;
  if (clip) {
    TRY(queue_sum_squares(ctx, g, n));
    c.sum = ctx->sum;
  }
  unsigned a = misalign(p);
  split sp = split_for(p, n, misalign(g) == a && misalign(m) == a && misalign(v) == a && a % 4 == 0);
  int64_t threads = sp.nvec > sp.head + sp.tail ? sp.nvec : sp.head + sp.tail;
  adamw_kernel<<<blocks_for(threads, kThreads), kThreads, 0, ctx->stream>>>(
      reinterpret_cast<float *>(p), reinterpret_cast<const float *>(g), reinterpret_cast<float *>(m),
      reinterpret_cast<float *>(v), sp, c);
  TRY(launched("AdamW kernel"));
  if (clip && norm != nullptr) {
    double sum = 0;
    TRY_CUDA(cudaMemcpyAsync(&sum, ctx->sum, sizeof(double), cudaMemcpyDeviceToHost, ctx->stream), "AdamW norm");
    TRY_CUDA(cudaStreamSynchronize(ctx->stream), "AdamW norm");
    *norm = sqrt(sum);
  }
  return TUNE_OK;
}

}  // extern "C"
