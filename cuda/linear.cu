// linear.cu: the frozen linear layers that no adapter touches (the LM head,
// a projection LoRA does not target), forward and backward, on cuBLASLt.
//
// Contract (row-major; W [out,in] the Hugging Face layout):
//   tune_linear:             y  = x·Wᵀ + bias      x [rows,in], y [rows,out]   (`=`)
//   tune_linear_backward:    dx = dy·W             dy [rows,out], dx [rows,in] (`=`)
//   tune_linear_weight_grad: dW += dyᵀ·x           dW [out,in] fp32            (`+=`)
// Every product is summed in fp32 (CUBLAS_COMPUTE_32F, no TF32). The
// activations (x, y, dy, dx) are fp32 or bf16, each of its own dtype
// argument. The GEMM runs in the type of its activation operand (x, or dy):
//   - W (tune_weight: dense fp32 or bf16, or NF4) is used as it is when it
//     has that type. Otherwise it is converted to that type, per call, into
//     the weight scratch (the same slot as lora_linear.cu's Wcat, since one
//     layer runs at a time): an fp32 W under bf16 activations is rounded to
//     bf16 once, as a bf16 model's weight is; a bf16 W under fp32
//     activations widens exactly; NF4 is dequantized (nf4.cu) to that type.
//     The schedule keeps its frozen weights in bf16 beside bf16
//     activations, so its calls convert nothing.
//   - The output (y, dx) is fp32, or bf16 when the activation operand is
//     bf16 (cuBLASLt's fp32-compute combinations); bf16 outputs are rounded
//     once, from the fp32 sum plus bias.
//   - The bias ([out], fp32 or bf16, 0 for none) is added in the GEMM's
//     epilogue in the output's type, converted into a scratch when it has
//     another (bf16 bias under fp32 y: exact; fp32 bias under bf16 y:
//     rounded once, as the weight).
//   - tune_linear_weight_grad takes dy and x of one type and accumulates into
//     an fp32 dW (beta = 1).
// Outputs must not overlap inputs (cuBLASLt's rule).

#include "common.cuh"

namespace {

tune_status check_dims(const char *op, int64_t rows, int64_t in, int64_t out) {
  if (rows < 1 || in < 1 || out < 1)
    return fail(TUNE_ERR_ARGUMENT, "%s: shape rows=%lld in=%lld out=%lld (each must be >= 1)", op, (long long)rows,
                (long long)in, (long long)out);
  return TUNE_OK;
}

tune_status check_type(const char *op, const char *what, tune_dtype t) {
  if (t != TUNE_F32 && t != TUNE_BF16)
    return fail(TUNE_ERR_ARGUMENT, "%s: %s of unknown type %d (want TUNE_F32 or TUNE_BF16)", op, what, (int)t);
  return TUNE_OK;
}

// check_output rejects a bf16 output of an fp32 GEMM, which cuBLASLt has no
// combination for.
tune_status check_output(const char *op, const char *what, tune_dtype out, const char *from, tune_dtype in) {
  TRY(check_type(op, what, out));
  if (out == TUNE_BF16 && in == TUNE_F32)
    return fail(TUNE_ERR_ARGUMENT, "%s: %s is bf16 but %s is fp32 (an fp32 GEMM writes fp32)", op, what, from);
  return TUNE_OK;
}

// weight_as returns W [out,in] as a dense matrix of type t: W itself, or W
// converted or dequantized into the weight scratch.
tune_status weight_as(tune_ctx *ctx, const tune_weight *w, int64_t out, int64_t in, tune_dtype t, const char *op,
                      tune_ptr *p) {
  if (w == nullptr) return fail(TUNE_ERR_ARGUMENT, "%s: null weight", op);
  const int64_t n = out * in;
  if (w->is_nf4) {
    if (w->nf4.n != n)
      return fail(TUNE_ERR_ARGUMENT, "%s: NF4 weight of %lld elements for out=%lld in=%lld", op, (long long)w->nf4.n,
                  (long long)out, (long long)in);
    void *s = nullptr;
    TRY(scratch(ctx, SCRATCH_WEIGHT, (size_t)n * (t == TUNE_F32 ? 4 : 2), &s));
    *p = (tune_ptr)(uintptr_t)s;
    return tune_nf4_dequantize(ctx, *p, t, &w->nf4);
  }
  if (w->ptr == 0) return fail(TUNE_ERR_ARGUMENT, "%s: null weight", op);
  TRY(check_type(op, "weight", w->dtype));
  if (w->dtype == t) {
    *p = w->ptr;
    return TUNE_OK;
  }
  return convert_scratch(ctx, SCRATCH_WEIGHT, w->ptr, w->dtype, t, n, p);
}

}  // namespace

extern "C" {

TUNE_API tune_status tune_linear(tune_ctx *ctx, tune_ptr y, tune_dtype y_type, tune_ptr x, tune_dtype x_type,
                                 const tune_weight *w, tune_ptr bias, tune_dtype bias_type, int64_t rows, int64_t in,
                                 int64_t out) {
  const char *op = "tune_linear";
  TRY(enter(ctx));
  TRY(check_dims(op, rows, in, out));
  if (y == 0 || x == 0) return fail(TUNE_ERR_ARGUMENT, "%s: null buffer", op);
  TRY(check_type(op, "x", x_type));
  TRY(check_output(op, "y", y_type, "x", x_type));
  if (bias != 0) TRY(check_type(op, "bias", bias_type));
  tune_ptr wp = 0, b = bias;
  TRY(weight_as(ctx, w, out, in, x_type, op, &wp));
  if (bias != 0 && bias_type != y_type) TRY(convert_scratch(ctx, SCRATCH_BIAS, bias, bias_type, y_type, out, &b));
  const cudaDataType_t t = cuda_type(x_type);
  return gemm(ctx, rows, out, in, 1.0f, mat{x, t, in, false}, mat{wp, t, in, true}, 0.0f,
              mat{y, cuda_type(y_type), out, false}, b);
}

TUNE_API tune_status tune_linear_backward(tune_ctx *ctx, tune_ptr dx, tune_dtype dx_type, tune_ptr dy,
                                          tune_dtype dy_type, const tune_weight *w, int64_t rows, int64_t in,
                                          int64_t out) {
  const char *op = "tune_linear_backward";
  TRY(enter(ctx));
  TRY(check_dims(op, rows, in, out));
  if (dx == 0 || dy == 0) return fail(TUNE_ERR_ARGUMENT, "%s: null buffer", op);
  TRY(check_type(op, "dy", dy_type));
  TRY(check_output(op, "dx", dx_type, "dy", dy_type));
  tune_ptr wp = 0;
  TRY(weight_as(ctx, w, out, in, dy_type, op, &wp));
  const cudaDataType_t t = cuda_type(dy_type);
  return gemm(ctx, rows, in, out, 1.0f, mat{dy, t, out, false}, mat{wp, t, in, false}, 0.0f,
              mat{dx, cuda_type(dx_type), in, false}, 0);
}

TUNE_API tune_status tune_linear_weight_grad(tune_ctx *ctx, tune_ptr dw, tune_ptr dy, tune_dtype dy_type, tune_ptr x,
                                             tune_dtype x_type, int64_t rows, int64_t in, int64_t out) {
  const char *op = "tune_linear_weight_grad";
  TRY(enter(ctx));
  TRY(check_dims(op, rows, in, out));
  if (dw == 0 || dy == 0 || x == 0) return fail(TUNE_ERR_ARGUMENT, "%s: null buffer", op);
  TRY(check_type(op, "dy", dy_type));
  TRY(check_type(op, "x", x_type));
  if (dy_type != x_type)
    return fail(TUNE_ERR_ARGUMENT, "%s: dy is %s but x is %s (one GEMM type)", op, dy_type == TUNE_BF16 ? "bf16" : "fp32",
                x_type == TUNE_BF16 ? "bf16" : "fp32");
  const cudaDataType_t t = cuda_type(x_type);
  return gemm(ctx, out, in, rows, 1.0f, mat{dy, t, out, true}, mat{x, t, in, false}, 1.0f,
              mat{dw, CUDA_R_32F, in, false}, 0);
}

}  // extern "C"
