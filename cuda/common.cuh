// common.cuh: what the library's .cu files share (not part of the ABI).
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <stdint.h>

#include "tune_cuda.h"

// Reusable device scratch, one slot per use, grown on demand and kept for
// the context's lifetime (a whole-weight bf16 copy is reused across layers).
enum scratch_slot {
  SCRATCH_WEIGHT,   // bf16 [round8(out)+round8(r), round8(in)+round8(r)]: [W | B] over [A | 0];
                    // or linear.cu's W [out, in] converted to its GEMM's type
  SCRATCH_LORA_A,   // bf16 activation scratch: the copied x or dy with s*t or s*g beside it, or z or e
  SCRATCH_LORA_B,   // bf16 A and B alone, when dx is skipped
  SCRATCH_T,        // bf16 [rows, round8(rank)]: scale * x*A^T
  SCRATCH_G,        // bf16 [rows, round8(rank)]: scale * dy*B
  SCRATCH_BIAS,     // [out]: the bias converted to the output's type
  SCRATCH_DROP,     // bf16 [rows, in]: x with the elements dropout drops zeroed
  SCRATCH_PARTIALS, // double [<= 1024]: per-block sums of squares
  SCRATCH_NF4,      // float [blocks + 1]: the block absmax values and their mean, of an NF4 quantization
  SCRATCH_LOSS,     // float [rows]: per-row losses when the caller wants only their sum
  SCRATCH_ATTN_LSE, // float [batch, heads, q]: the attention backward's recomputed log-sum-exp
  SCRATCH_ATTN_DSUM,// float [batch, heads, q]: the attention backward's rowsum(dout * out)
  SCRATCH_SLOTS
};

struct gemm_cache;  // gemm.cu

struct tune_ctx {
  int device;
  cudaStream_t stream;
  cublasLtHandle_t lt;
  void *workspace;  // cuBLASLt workspace
  size_t workspace_bytes;
  double *sum;      // device scalar: the last sum of squares
  void *scratch[SCRATCH_SLOTS];
  size_t scratch_bytes[SCRATCH_SLOTS];
  gemm_cache *gemms; // cuBLASLt plans by shape (gemm.cu)
};

// fail records a formatted message as the calling thread's last error and
// returns st.
tune_status fail(tune_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// cuda_fail maps a CUDA runtime error to a status and message about what.
tune_status cuda_fail(cudaError_t e, const char *what);
// enter checks ctx and makes its device current on this thread.
tune_status enter(tune_ctx *ctx);
// launched checks for a launch error of the kernel just queued.
tune_status launched(const char *kernel);
// scratch returns slot of ctx with at least bytes bytes.
tune_status scratch(tune_ctx *ctx, scratch_slot slot, size_t bytes, void **out);
// gemm_cache_destroy frees the cuBLASLt plans (gemm.cu).
void gemm_cache_destroy(tune_ctx *ctx);

// A row-major matrix operand of gemm: stored [rows, cols] with row stride
// ld, used transposed when trans is set.
struct mat {
  tune_ptr p;
  cudaDataType_t type;
  int64_t ld;
  bool trans;
};

// gemm computes, row-major, D[M,N] = alpha·op(A)[M,K]·op(B)[K,N] + beta·C
// (+ bias[N], of D's type, when bias is not 0) with fp32 accumulation, where
// C is D itself, or the matrix at c (D's type and layout) when c is not 0.
// A and B must share a type; D is fp32, or bf16 with bf16 operands (else an
// argument error). Plans are cached (gemm.cu).
tune_status gemm(tune_ctx *ctx, int64_t M, int64_t N, int64_t K, float alpha, mat A, mat B, float beta, mat D,
                 tune_ptr bias, tune_ptr c = 0);
// convert queues dst[i] = src[i] for i < n, converting between fp32 and
// bf16 (to nearest, ties to even); the same type copies.
tune_status convert(tune_ctx *ctx, tune_ptr dst, tune_dtype dst_type, tune_ptr src, tune_dtype src_type, int64_t n);
// convert_scratch converts n elements of src into slot of ctx, as dst_type,
// and returns the slot's address in out.
tune_status convert_scratch(tune_ctx *ctx, scratch_slot slot, tune_ptr src, tune_dtype src_type, tune_dtype dst_type,
                            int64_t n, tune_ptr *out);
// cuda_type is the cuBLASLt type of t.
static inline cudaDataType_t cuda_type(tune_dtype t) { return t == TUNE_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

#define TRY(call)                        \
  do {                                   \
    tune_status st_ = (call);            \
    if (st_ != TUNE_OK) return st_;      \
  } while (0)

#define TRY_CUDA(call, what)                               \
  do {                                                     \
    cudaError_t e_ = (call);                               \
    if (e_ != cudaSuccess) return cuda_fail(e_, (what));   \
  } while (0)

// Threads per block of the elementwise kernels.
constexpr int kThreads = 256;
// Blocks of a grid-stride elementwise launch, at most.
constexpr int64_t kMaxBlocks = 65535;

static inline unsigned blocks_for(int64_t work, int per_block) {
  return (unsigned)((work + per_block - 1) / per_block);
}

// misalign returns the address's offset past a 16-byte boundary.
static inline unsigned misalign(tune_ptr p) { return (unsigned)(p & 15); }
