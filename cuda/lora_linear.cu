// lora_linear.cu: the fused NF4 + LoRA linear layer, forward and backward,
// and the plain cuBLASLt bf16 GEMM it is measured against.
//
// Contract (row-major; x, y, dx, dy bf16; A, B, dA, dB fp32; W [out,in]
// NF4, fp32 or bf16; bias any of fp32/bf16 or none; s = scale):
//   forward:   y  = x·Wᵀ + bias + s·(x·Aᵀ)·Bᵀ                 (`=`)
//   backward:  dx = dy·W + s·(dy·B)·A                          (`=`, skipped when dx is 0)
//              dA += s·(dy·B)ᵀ·x                               (`+=`)
//              dB += s·dyᵀ·(x·Aᵀ)                              (`+=`)
// with x [rows,in], y and dy [rows,out], A [rank,in], B [out,rank].
//
// Algebra. Both big products go through one merged weight
//   W' = W + s·B·A   [out,in], rounded once to bf16,
// because x·W'ᵀ = x·Wᵀ + s·(x·Aᵀ)·Bᵀ and dy·W' = dy·W + s·(dy·B)·A. The
// merge kernel reads W once (dequantizing NF4 tiles as bitsandbytes does,
// see nf4.cu), adds s·B·A from tiles of A and B in shared memory (rank
// fp32 FMAs per element) and writes W' into a bf16 scratch reused by every
// layer. Then
//   forward:  one cuBLASLt GEMM  y = x·W'ᵀ + bias  (bias in the epilogue),
//             so y is written once and x read once;
//   backward: one cuBLASLt GEMM  dx = dy·W', and four skinny ones for the
//             adapter: t = s·x·Aᵀ and g = s·dy·B [rows,rank] (bf16), then
//             dA += gᵀ·x and dB += dyᵀ·t (fp32, beta = 1).
// This is the concatenation trick [x | s·x·Aᵀ]·[W | B]ᵀ with the
// concatenation done on the weight side, where it costs no copy of x or dy.
//
// Precision: W' and the bias are rounded to bf16 (relative 2^-8 each, as
// the bf16 weight of a bf16 model is), GEMMs accumulate in fp32, y and dx
// are rounded to bf16 once, t and g are rounded to bf16 before the weight
// gradients, which accumulate in fp32.

#include <string.h>

#include "common.cuh"
#include "nf4.cuh"

// ---------------------------------------------------------------------------
// cuBLASLt GEMMs, with a cache of plans (descriptors and the heuristic's
// algorithm) by shape, so repeated layers cost no heuristic query.

namespace {

struct gemm_key {
  int32_t trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldd;
  int32_t a_type, b_type, d_type;
  int32_t bias;
  uint32_t align_a, align_b, align_d, align_bias;
};

struct gemm_plan {
  bool used;
  gemm_key key;
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t a, b, d;
  cublasLtMatmulAlgo_t algo;
};

constexpr int kPlans = 64;

}  // namespace

struct gemm_cache {
  gemm_plan plans[kPlans];
  int next;  // the slot the next new plan takes (round robin)
};

namespace {

void plan_release(gemm_plan *p) {
  if (!p->used) return;
  cublasLtMatrixLayoutDestroy(p->a);
  cublasLtMatrixLayoutDestroy(p->b);
  cublasLtMatrixLayoutDestroy(p->d);
  cublasLtMatmulDescDestroy(p->op);
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
  return fail(TUNE_ERR_CUBLAS, "cuBLASLt %s (status %d) for m=%lld n=%lld k=%lld, A %s ld %lld op %s, B %s ld %lld op %s, D %s ld %lld",
              what, (int)s, (long long)k.m, (long long)k.n, (long long)k.k, type_name(k.a_type), (long long)k.lda,
              k.trans_a ? "T" : "N", type_name(k.b_type), (long long)k.ldb, k.trans_b ? "T" : "N",
              type_name(k.d_type), (long long)k.ldd);
}

#define TRY_LT(call, what, key)                                  \
  do {                                                           \
    cublasStatus_t s_ = (call);                                  \
    if (s_ != CUBLAS_STATUS_SUCCESS) return lt_fail(s_, what, key); \
  } while (0)

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
  // cuBLASLt is column-major: op(A) is m×k, op(B) is k×n, D is m×n.
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
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &k.align_d, sizeof k.align_d);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &k.align_d, sizeof k.align_d);
  cublasLtMatmulHeuristicResult_t result;
  int found = 0;
  cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(ctx->lt, p->op, p->a, p->b, p->d, p->d, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS) return lt_fail(s, "heuristic", k);
  if (found == 0) return lt_fail(CUBLAS_STATUS_NOT_SUPPORTED, "found no algorithm", k);
  p->algo = result.algo;
  return TUNE_OK;
}

// A row-major matrix operand: stored [rows, cols] with row stride ld, used
// transposed when trans is set.
struct mat {
  tune_ptr p;
  cudaDataType_t type;
  int64_t ld;
  bool trans;
};

// gemm computes, row-major, C[M,N] = alpha·op(A)[M,K]·op(B)[K,N] + beta·C
// (+ bias[N], bf16, when bias is not 0). Row-major C is column-major Cᵀ,
// so cuBLASLt computes Cᵀ = op(B)ᵀ·op(A)ᵀ with B as its first operand.
tune_status gemm(tune_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha, mat A, mat B, float beta, mat C,
                 tune_ptr bias) {
  gemm_key k;
  memset(&k, 0, sizeof k);  // the key is compared bytewise, padding included
  k.trans_a = B.trans;
  k.trans_b = A.trans;
  k.m = N;
  k.n = M;
  k.k = K;
  k.lda = B.ld;
  k.ldb = A.ld;
  k.ldd = C.ld;
  k.a_type = B.type;
  k.b_type = A.type;
  k.d_type = C.type;
  k.bias = bias != 0;
  k.align_a = alignment(B.p);
  k.align_b = alignment(A.p);
  k.align_d = alignment(C.p);
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
                        plan->b, &beta, (const void *)(uintptr_t)C.p, plan->d, (void *)(uintptr_t)C.p, plan->d,
                        &plan->algo, ctx->workspace, ctx->workspace_bytes, ctx->stream),
         "matmul", k);
  return TUNE_OK;
}

// ---------------------------------------------------------------------------
// Small conversions to bf16 (LoRA factors, bias).

__global__ void __launch_bounds__(kThreads) to_bf16_kernel(__nv_bfloat16 *__restrict__ out, const void *__restrict__ in,
                                                           tune_dtype type, int64_t n) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = type == TUNE_F32 ? __float2bfloat16_rn(static_cast<const float *>(in)[i])
                            : static_cast<const __nv_bfloat16 *>(in)[i];
}

tune_status to_bf16(tune_ctx *ctx, scratch_slot slot, tune_ptr src, tune_dtype type, int64_t n, tune_ptr *out) {
  void *p = nullptr;
  TRY(scratch(ctx, slot, (size_t)n * 2, &p));
  to_bf16_kernel<<<blocks_for(n, kThreads), kThreads, 0, ctx->stream>>>(static_cast<__nv_bfloat16 *>(p),
                                                                       (const void *)(uintptr_t)src, type, n);
  *out = (tune_ptr)(uintptr_t)p;
  return launched("bf16 conversion kernel");
}

// ---------------------------------------------------------------------------
// The merge kernel: W' = bf16(W + s·B·A), tile by tile.
//
// A block of 256 threads makes a tile of 32 rows × 256 columns of W'. Its
// thread (tx, ty) = (t % 32, t / 32) owns columns 8tx..8tx+7 of rows ty,
// ty+8, ty+16, ty+24: 32 fp32 accumulators of (B·A). The rank runs in chunks
// of 16 through shared memory (A: 16×256, B: 32×16, zero-padded). The
// packed NF4 codes of the thread's rows are loaded before the FMAs so that
// their latency overlaps the arithmetic. The row's 8 elements are then finished
// and written with one 16-byte store when in % 8 == 0; other shapes and
// misaligned dense weights take the per-element path.

constexpr int kTileRows = 32, kTileCols = 256, kRankChunk = 16, kRowsPerThread = kTileRows / 8;

struct weight_src {
  tune_weight w;
  int64_t in;
  bool vector;  // 8 consecutive elements of a row load and store as a group
};

// base1 returns element i of the flattened weight as fp32 (code: the NF4
// code book in shared memory).
__device__ __forceinline__ float base1(const weight_src &src, const float *code, int64_t i) {
  const tune_weight &w = src.w;
  if (w.is_nf4) {
    uint8_t byte = reinterpret_cast<const uint8_t *>(w.nf4.data)[i / 2];
    int nib = (i & 1) ? (byte & 15) : (byte >> 4);
    return __fmul_rn(code[nib], nf4_scale(w.nf4, i / w.nf4.block_size));
  }
  if (w.dtype == TUNE_F32) return reinterpret_cast<const float *>(w.ptr)[i];
  return __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(w.ptr)[i]);
}

// base8 loads elements i..i+7 (i % 8 == 0, src.vector) as fp32; for NF4,
// from the 4 packed bytes prefetched by the caller.
__device__ __forceinline__ void base8(const weight_src &src, const float *code, int64_t i, uint32_t word,
                                      float (&v)[8]) {
  const tune_weight &w = src.w;
  if (w.is_nf4) {
    float scale = nf4_scale(w.nf4, i / w.nf4.block_size);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      uint32_t byte = (word >> (8 * j)) & 0xff;
      v[2 * j] = __fmul_rn(code[byte >> 4], scale);
      v[2 * j + 1] = __fmul_rn(code[byte & 15], scale);
    }
  } else if (w.dtype == TUNE_F32) {
    const float4 *p = reinterpret_cast<const float4 *>(reinterpret_cast<const float *>(w.ptr) + i);
    float4 a = __ldg(p), b = __ldg(p + 1);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  } else {
    uint4 u = __ldg(reinterpret_cast<const uint4 *>(reinterpret_cast<const __nv_bfloat16 *>(w.ptr) + i));
    const uint32_t words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int j = 0; j < 4; j++) {
      v[2 * j] = __uint_as_float(words[j] << 16);
      v[2 * j + 1] = __uint_as_float(words[j] & 0xffff0000u);
    }
  }
}

__global__ void __launch_bounds__(kThreads, 2)
    merge_kernel(__nv_bfloat16 *__restrict__ out, const weight_src src, const float *__restrict__ A,
                 const float *__restrict__ B, float scale, int64_t rows, int64_t rank) {
  __shared__ float As[kRankChunk][kTileCols];
  __shared__ float Bs[kTileRows][kRankChunk + 1];
  __shared__ float code[16];
  const int t = threadIdx.x, tx = t % 32, ty = t / 32;
  if (t == 0) {
    // Constant indices: a run-time index would copy src to local memory.
#pragma unroll
    for (int j = 0; j < 16; j++) code[j] = src.w.nf4.code[j];
  }
  __syncthreads();
  const int64_t in = src.in;
  const int64_t o0 = (int64_t)blockIdx.y * kTileRows, k0 = (int64_t)blockIdx.x * kTileCols;
  const int64_t kk = k0 + 8 * tx;

  uint32_t word[kRowsPerThread];
  const bool nf4 = src.w.is_nf4 && src.vector && kk < in;
#pragma unroll
  for (int i = 0; i < kRowsPerThread; i++) {
    int64_t o = o0 + ty + 8 * i;
    word[i] = 0;
    if (nf4 && o < rows)
      word[i] = __ldg(reinterpret_cast<const uint32_t *>(reinterpret_cast<const uint8_t *>(src.w.nf4.data) + (o * in + kk) / 2));
  }

  float acc[kRowsPerThread][8];
#pragma unroll
  for (int i = 0; i < kRowsPerThread; i++)
#pragma unroll
    for (int c = 0; c < 8; c++) acc[i][c] = 0;

  for (int64_t r0 = 0; r0 < rank; r0 += kRankChunk) {
#pragma unroll
    for (int j = 0; j < kRankChunk; j++) {
      int64_t r = r0 + j, k = k0 + t;
      As[j][t] = (r < rank && k < in) ? __ldg(A + r * in + k) : 0.0f;
    }
#pragma unroll
    for (int q = 0; q < kTileRows * kRankChunk / kThreads; q++) {
      int e = t + kThreads * q, i = e / kRankChunk, j = e % kRankChunk;
      int64_t o = o0 + i, r = r0 + j;
      Bs[i][j] = (o < rows && r < rank) ? __ldg(B + o * rank + r) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kRankChunk; j++) {
      float4 a0 = *reinterpret_cast<const float4 *>(&As[j][8 * tx]);
      float4 a1 = *reinterpret_cast<const float4 *>(&As[j][8 * tx + 4]);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
#pragma unroll
      for (int i = 0; i < kRowsPerThread; i++) {
        float b = Bs[ty + 8 * i][j];
#pragma unroll
        for (int c = 0; c < 8; c++) acc[i][c] = fmaf(b, a[c], acc[i][c]);
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kRowsPerThread; i++) {
    int64_t o = o0 + ty + 8 * i;
    if (o >= rows) continue;
    if (src.vector && kk < in) {
      float v[8];
      base8(src, code, o * in + kk, word[i], v);
      uint32_t packed[4];
#pragma unroll
      for (int j = 0; j < 4; j++) {
        __nv_bfloat162 h = __floats2bfloat162_rn(fmaf(scale, acc[i][2 * j], v[2 * j]),
                                                 fmaf(scale, acc[i][2 * j + 1], v[2 * j + 1]));
        packed[j] = *reinterpret_cast<uint32_t *>(&h);
      }
      *reinterpret_cast<uint4 *>(out + o * in + kk) = make_uint4(packed[0], packed[1], packed[2], packed[3]);
    } else {
#pragma unroll
      for (int c = 0; c < 8; c++) {
        if (kk + c < in) out[o * in + kk + c] = __float2bfloat16_rn(fmaf(scale, acc[i][c], base1(src, code, o * in + kk + c)));
      }
    }
  }
}

// merge writes W' = bf16(W + s·B·A) [out,in] into the weight scratch.
tune_status merge(tune_ctx *ctx, const tune_weight *w, tune_ptr a, tune_ptr b, const tune_lora_shape *s,
                  tune_ptr *out) {
  void *p = nullptr;
  TRY(scratch(ctx, SCRATCH_WEIGHT, (size_t)(s->out * s->in) * 2, &p));
  weight_src src;
  src.w = *w;
  src.in = s->in;
  if (w->is_nf4)
    src.vector = s->in % 8 == 0 && w->nf4.block_size % 8 == 0 && misalign(w->nf4.data) % 4 == 0;
  else
    src.vector = s->in % 8 == 0 && misalign(w->ptr) == 0;
  dim3 grid(blocks_for(s->in, kTileCols), blocks_for(s->out, kTileRows));
  merge_kernel<<<grid, kThreads, 0, ctx->stream>>>(static_cast<__nv_bfloat16 *>(p), src,
                                                   reinterpret_cast<const float *>(a),
                                                   reinterpret_cast<const float *>(b), s->scale, s->out, s->rank);
  *out = (tune_ptr)(uintptr_t)p;
  return launched("LoRA merge kernel");
}

tune_status check_shape(const tune_lora_shape *s, const tune_weight *w, const char *op) {
  if (s == nullptr || w == nullptr) return fail(TUNE_ERR_ARGUMENT, "%s: null shape or weight", op);
  if (s->rows < 1 || s->in < 1 || s->out < 1 || s->rank < 1)
    return fail(TUNE_ERR_ARGUMENT, "%s: shape rows=%lld in=%lld out=%lld rank=%lld (each must be >= 1)", op,
                (long long)s->rows, (long long)s->in, (long long)s->out, (long long)s->rank);
  if (w->is_nf4) {
    TRY(nf4_check(&w->nf4, op));
    if (w->nf4.n != s->out * s->in)
      return fail(TUNE_ERR_ARGUMENT, "%s: NF4 weight of %lld elements for out=%lld in=%lld", op,
                  (long long)w->nf4.n, (long long)s->out, (long long)s->in);
  } else if (w->ptr == 0 || (w->dtype != TUNE_F32 && w->dtype != TUNE_BF16)) {
    return fail(TUNE_ERR_ARGUMENT, "%s: dense weight missing or of unknown type %d", op, (int)w->dtype);
  }
  return TUNE_OK;
}

const cudaDataType_t BF16 = CUDA_R_16BF, F32 = CUDA_R_32F;

}  // namespace

void gemm_cache_destroy(tune_ctx *ctx) {
  if (ctx->gemms == nullptr) return;
  for (gemm_plan &p : ctx->gemms->plans) plan_release(&p);
  free(ctx->gemms);
  ctx->gemms = nullptr;
}

extern "C" {

TUNE_API tune_status tune_lora_linear_forward(tune_ctx *ctx, tune_ptr y, tune_ptr x, const tune_weight *w,
                                              tune_ptr bias, tune_dtype bias_type, tune_ptr a, tune_ptr b,
                                              const tune_lora_shape *s) {
  TRY(enter(ctx));
  TRY(check_shape(s, w, "tune_lora_linear_forward"));
  if (y == 0 || x == 0 || a == 0 || b == 0) return fail(TUNE_ERR_ARGUMENT, "tune_lora_linear_forward: null buffer");
  tune_ptr merged = 0, bias16 = 0;
  TRY(merge(ctx, w, a, b, s, &merged));
  if (bias != 0) TRY(to_bf16(ctx, SCRATCH_BIAS, bias, bias_type, s->out, &bias16));
  return gemm(ctx, s->rows, s->out, s->in, 1.0f, mat{x, BF16, s->in, false}, mat{merged, BF16, s->in, true}, 0.0f,
              mat{y, BF16, s->out, false}, bias16);
}

TUNE_API tune_status tune_lora_linear_backward(tune_ctx *ctx, tune_ptr dx, tune_ptr da, tune_ptr db, tune_ptr dy,
                                               tune_ptr x, const tune_weight *w, tune_ptr a, tune_ptr b,
                                               const tune_lora_shape *s) {
  TRY(enter(ctx));
  TRY(check_shape(s, w, "tune_lora_linear_backward"));
  if (da == 0 || db == 0 || dy == 0 || x == 0 || a == 0 || b == 0)
    return fail(TUNE_ERR_ARGUMENT, "tune_lora_linear_backward: null buffer");
  const int64_t rows = s->rows, in = s->in, out = s->out, rank = s->rank;
  if (dx != 0) {
    tune_ptr merged = 0;
    TRY(merge(ctx, w, a, b, s, &merged));
    TRY(gemm(ctx, rows, in, out, 1.0f, mat{dy, BF16, out, false}, mat{merged, BF16, in, false}, 0.0f,
             mat{dx, BF16, in, false}, 0));
  }
  tune_ptr a16 = 0, b16 = 0;
  TRY(to_bf16(ctx, SCRATCH_LORA_A, a, TUNE_F32, rank * in, &a16));
  TRY(to_bf16(ctx, SCRATCH_LORA_B, b, TUNE_F32, out * rank, &b16));
  void *tp = nullptr, *gp = nullptr;
  TRY(scratch(ctx, SCRATCH_T, (size_t)(rows * rank) * 2, &tp));
  TRY(scratch(ctx, SCRATCH_G, (size_t)(rows * rank) * 2, &gp));
  tune_ptr t = (tune_ptr)(uintptr_t)tp, g = (tune_ptr)(uintptr_t)gp;
  // t = s·x·Aᵀ [rows,rank]; g = s·dy·B [rows,rank]
  TRY(gemm(ctx, rows, rank, in, s->scale, mat{x, BF16, in, false}, mat{a16, BF16, in, true}, 0.0f,
           mat{t, BF16, rank, false}, 0));
  TRY(gemm(ctx, rows, rank, out, s->scale, mat{dy, BF16, out, false}, mat{b16, BF16, rank, false}, 0.0f,
           mat{g, BF16, rank, false}, 0));
  // dA += gᵀ·x [rank,in]; dB += dyᵀ·t [out,rank]
  TRY(gemm(ctx, rank, in, rows, 1.0f, mat{g, BF16, rank, true}, mat{x, BF16, in, false}, 1.0f,
           mat{da, F32, in, false}, 0));
  return gemm(ctx, out, rank, rows, 1.0f, mat{dy, BF16, out, true}, mat{t, BF16, rank, false}, 1.0f,
              mat{db, F32, rank, false}, 0);
}

TUNE_API tune_status tune_matmul_bf16(tune_ctx *ctx, tune_ptr c, tune_ptr a, tune_ptr w, int64_t rows, int64_t k,
                                      int64_t n, int trans_w) {
  TRY(enter(ctx));
  if (c == 0 || a == 0 || w == 0) return fail(TUNE_ERR_ARGUMENT, "tune_matmul_bf16: null buffer");
  if (rows < 1 || k < 1 || n < 1)
    return fail(TUNE_ERR_ARGUMENT, "tune_matmul_bf16: shape rows=%lld k=%lld n=%lld", (long long)rows, (long long)k,
                (long long)n);
  return gemm(ctx, rows, n, k, 1.0f, mat{a, BF16, k, false}, mat{w, BF16, trans_w ? k : n, trans_w != 0}, 0.0f,
              mat{c, BF16, n, false}, 0);
}

}  // extern "C"
