// norm.cu: RMSNorm, its backward pass, and the residual add fused with the
// RMSNorm that follows it.
//
// Contract (rows of dim elements; x, out, dy, dx, a, b, sum fp32 or bf16
// and the weight w [dim] fp32 or bf16, each type given beside it; fp32
// arithmetic, each output rounded once to its type; `=` everywhere):
//   tune_rmsnorm:          out[r] = w·(x[r]·inv), inv = 1/sqrt(mean(x[r]²) + eps).
//   tune_rmsnorm_backward: dx = inv·(dy·w) - x·k with k = inv³·mean(dy·w·x);
//                          dx may alias dy.
//   tune_add_rmsnorm:      sum = a + b, rounded to sum's type and stored
//                          (sum may alias a or b), then h = RMSNorm(sum)
//                          of the stored values: what tune_add followed by
//                          tune_rmsnorm gives, in one pass.
// The order of operations is backend/cpu's (Hugging Face's): the mean of
// squares plus eps in fp32, then the reciprocal square root, then x·inv
// times w, with no fused multiply-add. The sums are fp32, over the block's
// threads in a fixed order, so a result depends on the shape alone.
//
// One block per row, of min(256, round32(dim)) threads; each thread strides
// through the row, so any dim works, and a row is read twice (the second
// time from cache: 7 KiB at dim 3584 in bf16).

#include <math.h>

#include "common.cuh"
#include "elements.cuh"

namespace {

constexpr int kWarps = kThreads / 32;

// row_sums adds s0 and s1 over the block's threads and gives both totals
// to every thread. It uses shared memory once per kernel: call it once.
__device__ __forceinline__ void row_sums(float &s0, float &s1) {
  __shared__ float partial[2 * kWarps];
#pragma unroll
  for (int o = 16; o > 0; o /= 2) {
    s0 += __shfl_xor_sync(0xffffffffu, s0, o);
    s1 += __shfl_xor_sync(0xffffffffu, s1, o);
  }
  const int warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (threadIdx.x % 32 == 0) {
    partial[warp] = s0;
    partial[kWarps + warp] = s1;
  }
  __syncthreads();
  s0 = 0;
  s1 = 0;
  for (int w = 0; w < warps; w++) {
    s0 += partial[w];
    s1 += partial[kWarps + w];
  }
}

// inv_rms is 1/sqrt(ss/dim + eps), in fp32 as backend/cpu rounds it.
__device__ __forceinline__ float inv_rms(float ss, int64_t dim, float eps) {
  return 1.0f / sqrtf(__fadd_rn(ss / (float)dim, eps));
}

__global__ void __launch_bounds__(kThreads) rmsnorm_kernel(elems out, elems x, elems w, int64_t dim, float eps) {
  const int64_t row = (int64_t)blockIdx.x * dim;
  float ss = 0, unused = 0;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    const float v = load(x, row + j);
    ss += v * v;
  }
  row_sums(ss, unused);
  const float inv = inv_rms(ss, dim, eps);
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
    store(out, row + j, __fmul_rn(load(w, j), __fmul_rn(load(x, row + j), inv)));
}

__global__ void __launch_bounds__(kThreads) rmsnorm_backward_kernel(elems dx, elems dy, elems x, elems w, int64_t dim,
                                                                    float eps) {
  const int64_t row = (int64_t)blockIdx.x * dim;
  float ss = 0, gx = 0;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    const float v = load(x, row + j);
    ss += v * v;
    gx += __fmul_rn(load(dy, row + j), load(w, j)) * v;
  }
  row_sums(ss, gx);  // every read of dy is done before dx is written
  const float inv = inv_rms(ss, dim, eps);
  const float k = __fmul_rn(__fmul_rn(inv, inv), inv) * (gx / (float)dim);
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    const float g = __fmul_rn(load(dy, row + j), load(w, j));
    store(dx, row + j, __fadd_rn(__fmul_rn(inv, g), -__fmul_rn(load(x, row + j), k)));
  }
}

__global__ void __launch_bounds__(kThreads) add_rmsnorm_kernel(elems sum, elems h, elems a, elems b, elems w,
                                                               int64_t dim, float eps) {
  const int64_t row = (int64_t)blockIdx.x * dim;
  float ss = 0, unused = 0;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
    store(sum, row + j, load(a, row + j) + load(b, row + j));
    const float v = load(sum, row + j);  // as stored: this thread's own write
    ss += v * v;
  }
  row_sums(ss, unused);
  const float inv = inv_rms(ss, dim, eps);
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
    store(h, row + j, __fmul_rn(load(w, j), __fmul_rn(load(sum, row + j), inv)));
}

// row_threads is the block size for rows of dim elements: a whole number
// of warps, at most kThreads.
unsigned row_threads(int64_t dim) { return (unsigned)(dim >= kThreads ? kThreads : (dim + 31) / 32 * 32); }

tune_status check_rows(int64_t rows, int64_t dim, const char *op) {
  if (rows < 0 || dim < 1 || rows > 0x7fffffff)
    return fail(TUNE_ERR_ARGUMENT, "%s: rows=%lld dim=%lld (want 0 <= rows < 2^31, dim >= 1)", op, (long long)rows,
                (long long)dim);
  return TUNE_OK;
}

}  // namespace

extern "C" {

TUNE_API tune_status tune_rmsnorm(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr x, tune_dtype x_type,
                                  tune_ptr w, tune_dtype w_type, int64_t rows, int64_t dim, float eps) {
  const char *op = "tune_rmsnorm";
  TRY(enter(ctx));
  TRY(check_rows(rows, dim, op));
  if (rows == 0) return TUNE_OK;
  TRY(check_elems(op, {{out, out_type, "out"}, {x, x_type, "x"}, {w, w_type, "w"}}));
  rmsnorm_kernel<<<(unsigned)rows, row_threads(dim), 0, ctx->stream>>>(
      elems_at(out, out_type), elems_at(x, x_type), elems_at(w, w_type), dim, eps);
  return launched("RMSNorm kernel");
}

TUNE_API tune_status tune_rmsnorm_backward(tune_ctx *ctx, tune_ptr dx, tune_dtype dx_type, tune_ptr dy,
                                           tune_dtype dy_type, tune_ptr x, tune_dtype x_type, tune_ptr w,
                                           tune_dtype w_type, int64_t rows, int64_t dim, float eps) {
  const char *op = "tune_rmsnorm_backward";
  TRY(enter(ctx));
  TRY(check_rows(rows, dim, op));
  if (rows == 0) return TUNE_OK;
  TRY(check_elems(op, {{dx, dx_type, "dx"}, {dy, dy_type, "dy"}, {x, x_type, "x"}, {w, w_type, "w"}}));
  rmsnorm_backward_kernel<<<(unsigned)rows, row_threads(dim), 0, ctx->stream>>>(
      elems_at(dx, dx_type), elems_at(dy, dy_type), elems_at(x, x_type), elems_at(w, w_type), dim, eps);
  return launched("RMSNorm backward kernel");
}

TUNE_API tune_status tune_add_rmsnorm(tune_ctx *ctx, tune_ptr sum, tune_dtype sum_type, tune_ptr h,
                                      tune_dtype h_type, tune_ptr a, tune_dtype a_type, tune_ptr b, tune_dtype b_type,
                                      tune_ptr w, tune_dtype w_type, int64_t rows, int64_t dim, float eps) {
  const char *op = "tune_add_rmsnorm";
  TRY(enter(ctx));
  TRY(check_rows(rows, dim, op));
  if (rows == 0) return TUNE_OK;
  TRY(check_elems(op, {{sum, sum_type, "sum"}, {h, h_type, "h"}, {a, a_type, "a"}, {b, b_type, "b"},
                       {w, w_type, "w"}}));
  add_rmsnorm_kernel<<<(unsigned)rows, row_threads(dim), 0, ctx->stream>>>(
      elems_at(sum, sum_type), elems_at(h, h_type), elems_at(a, a_type), elems_at(b, b_type), elems_at(w, w_type),
      dim, eps);
  return launched("add + RMSNorm kernel");
}

}  // extern "C"
