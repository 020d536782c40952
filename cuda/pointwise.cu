// pointwise.cu: the elementwise ops of the Qwen2 schedule and the
// embedding gather.
//
// Contract (n elements; every activation argument fp32 or bf16, its type
// given beside it; fp32 arithmetic, each result rounded once to its
// output's type; outputs written with `=` except tune_add_scaled):
//   tune_embedding:         out[i,:] = table[ids[i],:] for i < n rows of dim;
//                           ids are device int32 in [0, vocab) (the caller
//                           checks; a row whose id is outside reads nothing
//                           and is written as NaN).
//   tune_silu_mul:          out = silu(gate)·up, silu(x) = x/(1+exp(-x)).
//   tune_silu_mul_backward: dgate = dy·up·sig·(1 + gate·(1-sig)) and
//                           dup = dy·gate·sig, sig = 1/(1+exp(-gate));
//                           dgate may alias dy (each element is read before
//                           it is written, by the same thread).
//   tune_add:               out = a + b (out may alias a or b).
//   tune_add_scaled:        out += s·x (`+=`; the product rounded to fp32,
//                           then the sum: no fused multiply-add, as
//                           backend/cpu computes it).
//   tune_dropout:           out = x·mask, mask = 0 or float(1/(1-p)) from
//                           (seed, i) as package backend's DropoutMask
//                           draws it (dropout.cuh); out may alias x.
// exp is the precise expf (no fast math).
//
// Speed: these are memory-bound; each thread takes elements one at a time
// in a grid-stride loop (coalesced 2- or 4-byte accesses), which a GPU
// serves at most of its bandwidth.

#include <math.h>

#include "common.cuh"
#include "dropout.cuh"
#include "elements.cuh"

namespace {

// grid_for returns the blocks of a grid-stride loop over n elements.
unsigned grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  return (unsigned)(blocks < 65536 ? blocks : 65536);
}

#define FOR_EACH(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__global__ void __launch_bounds__(kThreads) embedding_kernel(elems out, elems table, const int32_t *ids, int64_t rows,
                                                             int64_t dim, int64_t vocab) {
  const int64_t r = blockIdx.x;
  const int32_t id = ids[r];
  const bool ok = id >= 0 && id < vocab;
  for (int64_t j = (int64_t)blockIdx.y * blockDim.x + threadIdx.x; j < dim; j += (int64_t)gridDim.y * blockDim.x)
    store(out, r * dim + j, ok ? load(table, (int64_t)id * dim + j) : NAN);
}

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__global__ void __launch_bounds__(kThreads) silu_mul_kernel(elems out, elems gate, elems up, int64_t n) {
  FOR_EACH(i, n) {
    const float x = load(gate, i);
    store(out, i, x / (1.0f + expf(-x)) * load(up, i));
  }
}

__global__ void __launch_bounds__(kThreads) silu_mul_backward_kernel(elems dgate, elems dup, elems dy, elems gate,
                                                                     elems up, int64_t n) {
  FOR_EACH(i, n) {
    const float x = load(gate, i), d = load(dy, i), u = load(up, i);
    const float sig = sigmoid(x);
    store(dup, i, __fmul_rn(__fmul_rn(d, x), sig));
    store(dgate, i, __fmul_rn(__fmul_rn(__fmul_rn(d, u), sig), __fadd_rn(1.0f, __fmul_rn(x, 1.0f - sig))));
  }
}

__global__ void __launch_bounds__(kThreads) add_kernel(elems out, elems a, elems b, int64_t n) {
  FOR_EACH(i, n) store(out, i, load(a, i) + load(b, i));
}

__global__ void __launch_bounds__(kThreads) add_scaled_kernel(elems out, elems x, float s, int64_t n) {
  FOR_EACH(i, n) store(out, i, __fadd_rn(load(out, i), __fmul_rn(s, load(x, i))));
}

__global__ void __launch_bounds__(kThreads) dropout_kernel(elems out, elems x, dropout_mask m, int64_t n) {
  FOR_EACH(i, n) store(out, i, load(x, i) * (dropped(m, (uint64_t)i) ? 0.0f : m.keep));
}

tune_status check_n(int64_t n, const char *op) {
  if (n < 0) return fail(TUNE_ERR_ARGUMENT, "%s: n = %lld (want >= 0)", op, (long long)n);
  return TUNE_OK;
}

}  // namespace

tune_status check_elems(const char *op, std::initializer_list<elems_arg> args) {
  for (const elems_arg &a : args) {
    if (a.p == 0) return fail(TUNE_ERR_ARGUMENT, "%s: %s is null", op, a.what);
    if (a.t != TUNE_F32 && a.t != TUNE_BF16)
      return fail(TUNE_ERR_ARGUMENT, "%s: %s of type %d (want TUNE_F32 or TUNE_BF16)", op, a.what, (int)a.t);
  }
  return TUNE_OK;
}

extern "C" {

TUNE_API tune_status tune_embedding(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr table,
                                    tune_dtype table_type, tune_ptr ids, int64_t rows, int64_t dim, int64_t vocab) {
  const char *op = "tune_embedding";
  TRY(enter(ctx));
  if (rows < 0 || dim < 1 || vocab < 1)
    return fail(TUNE_ERR_ARGUMENT, "%s: rows=%lld dim=%lld vocab=%lld", op, (long long)rows, (long long)dim,
                (long long)vocab);
  if (rows == 0) return TUNE_OK;
  TRY(check_elems(op, {{out, out_type, "out"}, {table, table_type, "table"}}));
  if (ids == 0) return fail(TUNE_ERR_ARGUMENT, "%s: ids is null", op);
  if (rows > 0x7fffffff) return fail(TUNE_ERR_ARGUMENT, "%s: %lld rows (at most 2^31-1)", op, (long long)rows);
  const int64_t tiles = (dim + kThreads - 1) / kThreads;
  dim3 grid((unsigned)rows, (unsigned)(tiles < 65535 ? tiles : 65535));
  embedding_kernel<<<grid, kThreads, 0, ctx->stream>>>(elems_at(out, out_type), elems_at(table, table_type),
                                                        reinterpret_cast<const int32_t *>(ids), rows, dim, vocab);
  return launched("embedding kernel");
}

TUNE_API tune_status tune_silu_mul(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr gate,
                                   tune_dtype gate_type, tune_ptr up, tune_dtype up_type, int64_t n) {
  const char *op = "tune_silu_mul";
  TRY(enter(ctx));
  TRY(check_n(n, op));
  if (n == 0) return TUNE_OK;
  TRY(check_elems(op, {{out, out_type, "out"}, {gate, gate_type, "gate"}, {up, up_type, "up"}}));
  silu_mul_kernel<<<grid_for(n), kThreads, 0, ctx->stream>>>(elems_at(out, out_type), elems_at(gate, gate_type),
                                                              elems_at(up, up_type), n);
  return launched("SiLU·mul kernel");
}

TUNE_API tune_status tune_silu_mul_backward(tune_ctx *ctx, tune_ptr dgate, tune_dtype dgate_type, tune_ptr dup,
                                            tune_dtype dup_type, tune_ptr dy, tune_dtype dy_type, tune_ptr gate,
                                            tune_dtype gate_type, tune_ptr up, tune_dtype up_type, int64_t n) {
  const char *op = "tune_silu_mul_backward";
  TRY(enter(ctx));
  TRY(check_n(n, op));
  if (n == 0) return TUNE_OK;
  TRY(check_elems(op, {{dgate, dgate_type, "dgate"}, {dup, dup_type, "dup"}, {dy, dy_type, "dy"},
                       {gate, gate_type, "gate"}, {up, up_type, "up"}}));
  silu_mul_backward_kernel<<<grid_for(n), kThreads, 0, ctx->stream>>>(
      elems_at(dgate, dgate_type), elems_at(dup, dup_type), elems_at(dy, dy_type), elems_at(gate, gate_type),
      elems_at(up, up_type), n);
  return launched("SiLU·mul backward kernel");
}

TUNE_API tune_status tune_add(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr a, tune_dtype a_type,
                              tune_ptr b, tune_dtype b_type, int64_t n) {
  const char *op = "tune_add";
  TRY(enter(ctx));
  TRY(check_n(n, op));
  if (n == 0) return TUNE_OK;
  TRY(check_elems(op, {{out, out_type, "out"}, {a, a_type, "a"}, {b, b_type, "b"}}));
  add_kernel<<<grid_for(n), kThreads, 0, ctx->stream>>>(elems_at(out, out_type), elems_at(a, a_type),
                                                         elems_at(b, b_type), n);
  return launched("add kernel");
}

TUNE_API tune_status tune_add_scaled(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr x,
                                     tune_dtype x_type, float s, int64_t n) {
  const char *op = "tune_add_scaled";
  TRY(enter(ctx));
  TRY(check_n(n, op));
  if (n == 0) return TUNE_OK;
  TRY(check_elems(op, {{out, out_type, "out"}, {x, x_type, "x"}}));
  add_scaled_kernel<<<grid_for(n), kThreads, 0, ctx->stream>>>(elems_at(out, out_type), elems_at(x, x_type), s, n);
  return launched("add-scaled kernel");
}

TUNE_API tune_status tune_dropout(tune_ctx *ctx, tune_ptr out, tune_dtype out_type, tune_ptr x, tune_dtype x_type,
                                  float p, uint64_t seed, int64_t n) {
  const char *op = "tune_dropout";
  TRY(enter(ctx));
  TRY(check_n(n, op));
  if (!(p >= 0 && p < 1)) return fail(TUNE_ERR_ARGUMENT, "%s: p = %g (want 0 <= p < 1)", op, (double)p);
  if (n == 0) return TUNE_OK;
  TRY(check_elems(op, {{out, out_type, "out"}, {x, x_type, "x"}}));
  dropout_kernel<<<grid_for(n), kThreads, 0, ctx->stream>>>(elems_at(out, out_type), elems_at(x, x_type),
                                                             dropout_of(p, seed), n);
  return launched("dropout kernel");
}

}  // extern "C"
