// gemm.cu: the cuBLASLt GEMM every other file calls, with its cache of
// plans, and the element type conversion kernel (see common.cuh).
//
// Contract (row-major, as the whole library): gemm computes
// D[M,N] = alpha·op(A)[M,K]·op(B)[K,N] + beta·C (+ bias[N]) in fp32
// (CUBLAS_COMPUTE_32F, never TF32), where C is D itself or another matrix of
// D's type and layout. A and B share a type (bf16 or fp32); D is fp32, or
// bf16 when A and B are bf16 (the combinations cuBLASLt runs with fp32
// compute); the bias has D's type. A call of another combination is an
// argument error naming the types: the caller converts first (convert).
//
// Plans (descriptors and the heuristic's algorithm; for an out-of-place C,
// the first candidate that supports it) are cached by shape, types,
// transposes, leading dimensions and the alignment of every pointer, so
// repeated layers cost no heuristic query, and a view less aligned than the
// one a plan was made for gets a plan of its own.

#include <string.h>

#include <stdlib.h>

#include "common.cuh"

// The plan types are outside the anonymous namespace: gemm_cache, which
// common.cuh declares, holds them.
struct gemm_key {
  int32_t trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldd;
  int32_t a_type, b_type, d_type;
  int32_t bias;
  int32_t c_apart;  // C is another matrix than D (same type and layout)
  uint32_t align_a, align_b, align_c, align_d, align_bias;
};

struct gemm_plan {
  bool used;
  gemm_key key;
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t a, b, d;
  cublasLtMatmulAlgo_t algo;
};

namespace {

constexpr int kPlans = 64;
// Candidates asked of the heuristic when C is apart from D: the first that
// supports an out-of-place result is taken.
constexpr int kCandidates = 8;

}  // namespace

struct gemm_cache {
  gemm_plan plans[kPlans];
  int next;  // the slot the next new plan takes (round robin)
};

namespace {

// plan_release destroys what plan_build created (all of it, or the part
// before a failure) and marks the slot free.
void plan_release(gemm_plan *p) {
  if (p->a != nullptr) cublasLtMatrixLayoutDestroy(p->a);
  if (p->b != nullptr) cublasLtMatrixLayoutDestroy(p->b);
  if (p->d != nullptr) cublasLtMatrixLayoutDestroy(p->d);
  if (p->op != nullptr) cublasLtMatmulDescDestroy(p->op);
  memset(p, 0, sizeof *p);
}

// alignment returns the largest power of two (at most 256) dividing p.
uint32_t alignment(tune_ptr p) {
  uint32_t a = 256;
  while (a > 1 && p % a != 0) a /= 2;
  return a;
}

const char *type_name(int32_t t) { return t == CUDA_R_16BF ? "bf16" : t == CUDA_R_32F ? "fp32" : "?"; }

tune_status lt_fail(cublasStatus_t s, const char *what, const gemm_key &k) {
  return fail(TUNE_ERR_CUBLAS,
              "cuBLASLt %s (status %d) for m=%lld n=%lld k=%lld, A %s ld %lld op %s, B %s ld %lld op %s, D %s ld %lld%s",
              what, (int)s, (long long)k.m, (long long)k.n, (long long)k.k, type_name(k.a_type), (long long)k.lda,
              k.trans_a ? "T" : "N", type_name(k.b_type), (long long)k.ldb, k.trans_b ? "T" : "N",
              type_name(k.d_type), (long long)k.ldd, k.c_apart ? ", C apart from D" : "");
}

#define TRY_LT(call, what, key)                                  \
  do {                                                           \
    cublasStatus_t s_ = (call);                                  \
    if (s_ != CUBLAS_STATUS_SUCCESS) return lt_fail(s_, what, key); \
  } while (0)

// out_of_place reports whether algo can write D apart from C.
bool out_of_place(const cublasLtMatmulAlgo_t &algo) {
  int32_t ok = 0;
  size_t written = 0;
  if (cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_OUT_OF_PLACE_RESULT_SUPPORT, &ok, sizeof ok,
                                        &written) != CUBLAS_STATUS_SUCCESS)
    return false;
  return ok != 0;
}

tune_status plan_build(tune_ctx *ctx, gemm_plan *p, const gemm_key &k, tune_ptr bias) {
  p->used = true;
  p->key = k;
  cublasOperation_t ta = k.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = k.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  TRY_LT(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "descriptor", k);
  TRY_LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "descriptor", k);
  TRY_LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "descriptor", k);
  if (k.bias) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    TRY_LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "epilogue", k);
    TRY_LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "bias", k);
  }
  // cuBLASLt is column-major: op(A) is m×k, op(B) is k×n, D is m×n. C,
  // when apart from D, has D's layout.
  TRY_LT(cublasLtMatrixLayoutCreate(&p->a, (cudaDataType_t)k.a_type, k.trans_a ? k.k : k.m, k.trans_a ? k.m : k.k, k.lda),
         "layout", k);
  TRY_LT(cublasLtMatrixLayoutCreate(&p->b, (cudaDataType_t)k.b_type, k.trans_b ? k.n : k.k, k.trans_b ? k.k : k.n, k.ldb),
         "layout", k);
  TRY_LT(cublasLtMatrixLayoutCreate(&p->d, (cudaDataType_t)k.d_type, k.m, k.n, k.ldd), "layout", k);
  cublasLtMatmulPreference_t pref;
  TRY_LT(cublasLtMatmulPreferenceCreate(&pref), "preference", k);
  uint64_t ws = ctx->workspace_bytes;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &k.align_a, sizeof k.align_a);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &k.align_b, sizeof k.align_b);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &k.align_c, sizeof k.align_c);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &k.align_d, sizeof k.align_d);
  cublasLtMatmulHeuristicResult_t results[kCandidates];
  int found = 0;
  cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(ctx->lt, p->op, p->a, p->b, p->d, p->d, pref,
                                                    k.c_apart ? kCandidates : 1, results, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS) return lt_fail(s, "heuristic", k);
  for (int i = 0; i < found; i++) {
    if (results[i].state == CUBLAS_STATUS_SUCCESS && (!k.c_apart || out_of_place(results[i].algo))) {
      p->algo = results[i].algo;
      return TUNE_OK;
    }
  }
  return lt_fail(CUBLAS_STATUS_NOT_SUPPORTED, found == 0 ? "found no algorithm" : "found no out-of-place algorithm",
                 k);
}

}  // namespace

// Row-major D is column-major Dᵀ, so cuBLASLt computes Dᵀ = op(B)ᵀ·op(A)ᵀ
// with B as its first operand.
tune_status gemm(tune_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha, mat A, mat B, float beta, mat D,
                 tune_ptr bias, tune_ptr c) {
  if (A.type != B.type || (D.type != CUDA_R_32F && A.type != CUDA_R_16BF))
    return fail(TUNE_ERR_ARGUMENT, "GEMM of %s by %s into %s: cuBLASLt takes two operands of one type, into fp32 or "
                "(bf16 operands) bf16", type_name(A.type), type_name(B.type), type_name(D.type));
  if (c == 0) c = D.p;
  gemm_key k;
  memset(&k, 0, sizeof k);  // the key is compared bytewise, padding included
  k.trans_a = B.trans;
  k.trans_b = A.trans;
  k.m = N;
  k.n = M;
  k.k = K;
  k.lda = B.ld;
  k.ldb = A.ld;
  k.ldd = D.ld;
  k.a_type = B.type;
  k.b_type = A.type;
  k.d_type = D.type;
  k.bias = bias != 0;
  k.c_apart = c != D.p;
  k.align_a = alignment(B.p);
  k.align_b = alignment(A.p);
  k.align_c = alignment(c);
  k.align_d = alignment(D.p);
  k.align_bias = bias != 0 ? alignment(bias) : 0;
  if (ctx->gemms == nullptr) {
    ctx->gemms = (gemm_cache *)calloc(1, sizeof(gemm_cache));
    if (ctx->gemms == nullptr) return fail(TUNE_ERR_OUT_OF_MEMORY, "GEMM plan cache: out of host memory");
  }
  gemm_plan *plan = nullptr;
  for (gemm_plan &p : ctx->gemms->plans) {
    if (p.used && memcmp(&p.key, &k, sizeof k) == 0) {
      plan = &p;
      break;
    }
  }
  if (plan == nullptr) {
    plan = &ctx->gemms->plans[ctx->gemms->next];
    ctx->gemms->next = (ctx->gemms->next + 1) % kPlans;
    plan_release(plan);
    tune_status st = plan_build(ctx, plan, k, bias);
    if (st != TUNE_OK) {
      plan_release(plan);
      return st;
    }
  } else if (bias != 0) {
    TRY_LT(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "bias", k);
  }
  TRY_LT(cublasLtMatmul(ctx->lt, plan->op, &alpha, (const void *)(uintptr_t)B.p, plan->a, (const void *)(uintptr_t)A.p,
                        plan->b, &beta, (const void *)(uintptr_t)c, plan->d, (void *)(uintptr_t)D.p, plan->d,
                        &plan->algo, ctx->workspace, ctx->workspace_bytes, ctx->stream),
         "matmul", k);
  return TUNE_OK;
}


namespace {

__global__ void __launch_bounds__(kThreads) convert_kernel(void *__restrict__ out, tune_dtype out_type,
                                                           const void *__restrict__ in, tune_dtype in_type, int64_t n) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    float v = in_type == TUNE_F32 ? static_cast<const float *>(in)[i]
                                  : __bfloat162float(static_cast<const __nv_bfloat16 *>(in)[i]);
    if (out_type == TUNE_F32)
      static_cast<float *>(out)[i] = v;
    else
      static_cast<__nv_bfloat16 *>(out)[i] = __float2bfloat16_rn(v);
  }
}

}  // namespace

tune_status convert(tune_ctx *ctx, tune_ptr dst, tune_dtype dst_type, tune_ptr src, tune_dtype src_type, int64_t n) {
  if (n <= 0) return TUNE_OK;
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  convert_kernel<<<(unsigned)(blocks < kMaxBlocks ? blocks : kMaxBlocks), kThreads, 0, ctx->stream>>>(
      (void *)(uintptr_t)dst, dst_type, (const void *)(uintptr_t)src, src_type, n);
  return launched("type conversion kernel");
}

tune_status convert_scratch(tune_ctx *ctx, scratch_slot slot, tune_ptr src, tune_dtype src_type, tune_dtype dst_type,
                            int64_t n, tune_ptr *out) {
  void *p = nullptr;
  TRY(scratch(ctx, slot, (size_t)n * (dst_type == TUNE_F32 ? 4 : 2), &p));
  *out = (tune_ptr)(uintptr_t)p;
  return convert(ctx, *out, dst_type, src, src_type, n);
}

void gemm_cache_destroy(tune_ctx *ctx) {
  if (ctx->gemms == nullptr) return;
  for (gemm_plan &p : ctx->gemms->plans) plan_release(&p);
  free(ctx->gemms);
  ctx->gemms = nullptr;
}
