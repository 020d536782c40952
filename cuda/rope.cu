// rope.cu: rotary position embeddings (RoPE) and their transpose, in place.
//
// Contract: x [rows, heads·head_dim] (fp32 or bf16, x_type) is rotated in
// place by the rotate-half (NeoX) convention: for each row r, head and
// j < head_dim/2, with a = float(pos[r])·inv_freq[j] rounded to fp32,
//   (x1, x2) <- (x1·cos a - x2·s·sin a, x2·cos a + x1·s·sin a)
// where x1 is element j and x2 element j + head_dim/2 of the head, and
// s = 1 (tune_rope) or -1 (transpose != 0: the rotation by -a, RoPE's
// backward pass). pos [rows] (int32) and inv_freq [head_dim/2] (fp32) are
// device arrays: the caller computes the inverse frequencies (theta^(-2j/d)
// rounded to fp32 as Hugging Face does, or a scaled variant), so this file
// knows nothing of theta. cos and sin are the precise cosf and sinf of the
// fp32 angle (sincosf); the products and sums are rounded one by one, with no fused
// multiply-add, as backend/cpu computes them.
//
// One thread per (row, j) pair computes the angle once and rotates that
// pair in every head of the row.

#include <math.h>

#include "common.cuh"
#include "elements.cuh"

namespace {

__global__ void __launch_bounds__(kThreads) rope_kernel(elems x, const int32_t *pos, const float *inv_freq,
                                                        int64_t rows, int64_t heads, int64_t head_dim, float sign) {
  const int64_t half = head_dim / 2, pairs = rows * half;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < pairs; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / half, j = i % half;
    const float a = __fmul_rn((float)pos[r], inv_freq[j]);
    float c, s;
    sincosf(a, &s, &c);
    s *= sign;
    for (int64_t h = 0; h < heads; h++) {
      const int64_t at = (r * heads + h) * head_dim + j;
      const float x1 = load(x, at), x2 = load(x, at + half);
      store(x, at, __fadd_rn(__fmul_rn(x1, c), -__fmul_rn(x2, s)));
      store(x, at + half, __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s)));
    }
  }
}

}  // namespace

extern "C" {

TUNE_API tune_status tune_rope(tune_ctx *ctx, tune_ptr x, tune_dtype x_type, tune_ptr pos, tune_ptr inv_freq,
                               int64_t rows, int64_t heads, int64_t head_dim, int transpose) {
  const char *op = transpose ? "tune_rope (transpose)" : "tune_rope";
  TRY(enter(ctx));
  if (rows < 0 || heads < 1 || head_dim < 2 || head_dim % 2 != 0)
    return fail(TUNE_ERR_ARGUMENT, "%s: rows=%lld heads=%lld head_dim=%lld (head_dim must be even and >= 2)", op,
                (long long)rows, (long long)heads, (long long)head_dim);
  if (rows == 0) return TUNE_OK;
  TRY(check_elems(op, {{x, x_type, "x"}}));
  if (pos == 0 || inv_freq == 0) return fail(TUNE_ERR_ARGUMENT, "%s: null positions or inverse frequencies", op);
  const int64_t pairs = rows * (head_dim / 2);
  const int64_t blocks = (pairs + kThreads - 1) / kThreads;
  rope_kernel<<<(unsigned)(blocks < 65536 ? blocks : 65536), kThreads, 0, ctx->stream>>>(
      elems_at(x, x_type), reinterpret_cast<const int32_t *>(pos), reinterpret_cast<const float *>(inv_freq), rows,
      heads, head_dim, transpose ? -1.0f : 1.0f);
  return launched("RoPE kernel");
}

}  // extern "C"
