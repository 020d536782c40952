// cublaslt.cpp: the cuBLASLt stand-in (cublasLt.h). Column-major, as the
// real library: D [m,n] = alpha·op(A)·op(B) + beta·C (+ bias[m]), with
// op(A) [m,k] and op(B) [k,n], products summed in fp32 in order of k.
//
// What it checks, each a failed status and a warning naming the operand
// (the calls tune makes must pass all of them on a GPU too):
//  - descriptors, layouts and preferences use only what is declared here;
//  - the types are a combination the real library runs with fp32 compute:
//    A and B of one type, D (and C) fp32, or bf16 when A and B are bf16;
//  - the layouts' dimensions agree with each other and with the transposes,
//    and every leading dimension covers its rows;
//  - every operand lies inside one device allocation (C only when beta is
//    not 0; the bias vector for m elements of D's type);
//  - D overlaps neither A nor B, nor C unless C is D;
//  - each pointer is as aligned as the preference the algorithm was chosen
//    under (a plan cached for aligned operands and reused for a misaligned
//    view fails here, as its kernel would fault on a GPU).
// What it cannot show: the real library's algorithms, their tensor-core
// rounding, or which shapes they support.
#include <vector>

#include "cublasLt.h"
#include "cuda_bf16.h"

struct emu_lt {};
struct emu_desc {
  cublasOperation_t trans_a = CUBLAS_OP_N, trans_b = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void *bias = nullptr;
};
struct emu_layout {
  cudaDataType_t type;
  uint64_t rows, cols;
  int64_t ld;
};
struct emu_pref {
  uint64_t workspace = 0;
  uint32_t align[4] = {256, 256, 256, 256};  // A, B, C, D: cuBLASLt's defaults
};

namespace {

// The algorithm remembers the alignments it was chosen for.
struct emu_algo {
  uint32_t align[4];
};
static_assert(sizeof(emu_algo) <= sizeof(cublasLtMatmulAlgo_t), "emu_algo must fit cublasLtMatmulAlgo_t");

size_t element_bytes(cudaDataType_t t) { return t == CUDA_R_16BF ? 2 : 4; }

float load(const void *p, cudaDataType_t t, uint64_t i) {
  if (t == CUDA_R_16BF) return __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
  return static_cast<const float *>(p)[i];
}

void store(void *p, cudaDataType_t t, uint64_t i, float v) {
  if (t == CUDA_R_16BF)
    static_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(v);
  else
    static_cast<float *>(p)[i] = v;
}

// extent is the bytes a layout's matrix spans from its first element.
uint64_t extent(const emu_layout *l) { return ((l->cols - 1) * (uint64_t)l->ld + l->rows) * element_bytes(l->type); }

bool overlap(const void *a, uint64_t na, const void *b, uint64_t nb) {
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return x < y + nb && y < x + na;
}

uint32_t alignment(const void *p) {
  uint32_t a = 256;
  while (a > 1 && (uintptr_t)p % a != 0) a /= 2;
  return a;
}

// shape checks that the layouts make one GEMM and returns its m, n, k.
bool shape(const emu_desc *d, const emu_layout *a, const emu_layout *b, const emu_layout *c, const emu_layout *dl,
           uint64_t *m, uint64_t *n, uint64_t *k) {
  *m = dl->rows;
  *n = dl->cols;
  bool ta = d->trans_a == CUBLAS_OP_T, tb = d->trans_b == CUBLAS_OP_T;
  uint64_t am = ta ? a->cols : a->rows, ak = ta ? a->rows : a->cols;
  uint64_t bk = tb ? b->cols : b->rows, bn = tb ? b->rows : b->cols;
  *k = ak;
  if (am == *m && bn == *n && ak == bk && c->rows == dl->rows && c->cols == dl->cols) return true;
  emu::warn("cublasLt: op(A) is %lux%lu, op(B) %lux%lu, C %lux%lu, D %lux%lu: not one GEMM", (unsigned long)am,
            (unsigned long)ak, (unsigned long)bk, (unsigned long)bn, (unsigned long)c->rows, (unsigned long)c->cols,
            (unsigned long)*m, (unsigned long)*n);
  return false;
}

// types checks that A, B and D are a combination cuBLASLt runs with
// CUBLAS_COMPUTE_32F: A and B alike, D fp32 or (with bf16 A and B) bf16.
bool types(const emu_layout *a, const emu_layout *b, const emu_layout *dl) {
  if (a->type == b->type && (dl->type == CUDA_R_32F || a->type == CUDA_R_16BF)) return true;
  emu::warn("cublasLt: A of type %d, B %d, D %d: not a combination of CUBLAS_COMPUTE_32F", (int)a->type, (int)b->type,
            (int)dl->type);
  return false;
}

// gather returns op(X) [rows, cols] as fp32, column-major.
std::vector<float> gather(const void *p, const emu_layout *l, bool trans, uint64_t rows, uint64_t cols) {
  std::vector<float> v(rows * cols);
  for (uint64_t j = 0; j < cols; j++)
    for (uint64_t i = 0; i < rows; i++) v[i + j * rows] = load(p, l->type, trans ? j + i * l->ld : i + j * l->ld);
  return v;
}

}  // namespace

cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) {
  *h = new emu_lt;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t compute, cudaDataType_t scale) {
  if (compute != CUBLAS_COMPUTE_32F || scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  *d = new emu_desc;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
  delete d;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr,
                                              const void *value, size_t bytes) {
  void *field = nullptr;
  size_t want = 4;
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA: field = &d->trans_a; break;
    case CUBLASLT_MATMUL_DESC_TRANSB: field = &d->trans_b; break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE: field = &d->epilogue; break;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: field = &d->bias, want = 8; break;
  }
  if (field == nullptr || bytes != want) return CUBLAS_STATUS_INVALID_VALUE;
  memcpy(field, value, bytes);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType_t type, uint64_t rows, uint64_t cols,
                                          int64_t ld) {
  if (type != CUDA_R_32F && type != CUDA_R_16BF) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (rows == 0 || cols == 0 || ld < (int64_t)rows) {
    emu::warn("cublasLtMatrixLayoutCreate: %lux%lu with leading dimension %ld", (unsigned long)rows,
              (unsigned long)cols, (long)ld);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  *l = new emu_layout{type, rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
  delete l;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p) {
  *p = new emu_pref;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
  delete p;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                    cublasLtMatmulPreferenceAttributes_t attr, const void *value,
                                                    size_t bytes) {
  if (attr == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES && bytes == 8) {
    memcpy(&p->workspace, value, 8);
    return CUBLAS_STATUS_SUCCESS;
  }
  int i = (int)attr - (int)CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES;
  if (i < 0 || i > 3 || bytes != 4) return CUBLAS_STATUS_INVALID_VALUE;
  memcpy(&p->align[i], value, 4);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t a,
                                              cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
                                              cublasLtMatrixLayout_t dl, cublasLtMatmulPreference_t p, int requested,
                                              cublasLtMatmulHeuristicResult_t results[], int *found) {
  *found = 0;
  uint64_t m, n, k;
  if (requested < 1 || !shape(d, a, b, c, dl, &m, &n, &k)) return CUBLAS_STATUS_INVALID_VALUE;
  if (!types(a, b, dl)) return CUBLAS_STATUS_NOT_SUPPORTED;
  memset(&results[0], 0, sizeof results[0]);
  emu_algo algo;
  memcpy(algo.align, p->align, sizeof algo.align);
  memcpy(&results[0].algo, &algo, sizeof algo);
  results[0].state = CUBLAS_STATUS_SUCCESS;
  *found = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulAlgoCapGetAttribute(const cublasLtMatmulAlgo_t *,
                                                 cublasLtMatmulAlgoCapAttributes_t attr, void *value, size_t bytes,
                                                 size_t *written) {
  if (attr != CUBLASLT_ALGO_CAP_OUT_OF_PLACE_RESULT_SUPPORT || bytes != 4) return CUBLAS_STATUS_INVALID_VALUE;
  int32_t yes = 1;
  memcpy(value, &yes, 4);
  if (written != nullptr) *written = 4;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t d, const void *alpha, const void *A,
                              cublasLtMatrixLayout_t a, const void *B, cublasLtMatrixLayout_t b, const void *beta,
                              const void *C, cublasLtMatrixLayout_t c, void *D, cublasLtMatrixLayout_t dl,
                              const cublasLtMatmulAlgo_t *algo, void *workspace, size_t workspace_bytes,
                              cudaStream_t) {
  uint64_t m, n, k;
  if (!shape(d, a, b, c, dl, &m, &n, &k)) return CUBLAS_STATUS_INVALID_VALUE;
  if (!types(a, b, dl)) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (c->type != dl->type || c->ld != dl->ld) {
    emu::warn("cublasLtMatmul: C and D have different layouts");
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  float al, be;
  memcpy(&al, alpha, 4);
  memcpy(&be, beta, 4);
  emu_algo chosen;
  memcpy(&chosen, algo, sizeof chosen);
  const void *ptrs[4] = {A, B, C, D};
  const emu_layout *layouts[4] = {a, b, c, dl};
  for (int i = 0; i < 4; i++) {
    const char name = "ABCD"[i];
    if (name == 'C' && be == 0) continue;
    if (alignment(ptrs[i]) < chosen.align[i]) {
      emu::warn("cublasLtMatmul m=%lu n=%lu k=%lu: %c at %p is %u-byte aligned, but the algorithm was chosen for %u",
                (unsigned long)m, (unsigned long)n, (unsigned long)k, name, ptrs[i], alignment(ptrs[i]),
                chosen.align[i]);
      return CUBLAS_STATUS_INVALID_VALUE;
    }
    const emu_layout *l = layouts[i];
    if (!emu::inside(ptrs[i], extent(l))) {
      emu::warn("cublasLtMatmul m=%lu n=%lu k=%lu: %c (%lux%lu, ld %ld) at %p runs outside its device allocation",
                (unsigned long)m, (unsigned long)n, (unsigned long)k, name, (unsigned long)l->rows,
                (unsigned long)l->cols, (long)l->ld, ptrs[i]);
      return CUBLAS_STATUS_INVALID_VALUE;
    }
  }
  if (overlap(D, extent(dl), A, extent(a)) || overlap(D, extent(dl), B, extent(b)) ||
      (be != 0 && C != D && overlap(D, extent(dl), C, extent(c)))) {
    emu::warn("cublasLtMatmul m=%lu n=%lu k=%lu: D overlaps an input", (unsigned long)m, (unsigned long)n,
              (unsigned long)k);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  bool bias = d->epilogue == CUBLASLT_EPILOGUE_BIAS;
  if (bias && (d->bias == nullptr || !emu::inside(d->bias, m * element_bytes(dl->type)))) {
    emu::warn("cublasLtMatmul: the bias vector at %p (%lu elements) is not in device memory", d->bias,
              (unsigned long)m);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (workspace_bytes > 0 && !emu::inside(workspace, workspace_bytes)) {
    emu::warn("cublasLtMatmul: the workspace (%zu bytes at %p) is not in device memory", workspace_bytes, workspace);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  std::vector<float> opa = gather(A, a, d->trans_a == CUBLAS_OP_T, m, k);
  std::vector<float> opb = gather(B, b, d->trans_b == CUBLAS_OP_T, k, n);
  std::vector<float> out(m * n);
  for (uint64_t j = 0; j < n; j++)
    for (uint64_t i = 0; i < m; i++) {
      float acc = 0;
      for (uint64_t l = 0; l < k; l++) acc += opa[i + l * m] * opb[l + j * k];
      float v = al * acc;
      if (be != 0) v += be * load(C, c->type, i + j * c->ld);
      if (bias) v += load(d->bias, dl->type, i);
      out[i + j * m] = v;
    }
  for (uint64_t j = 0; j < n; j++)
    for (uint64_t i = 0; i < m; i++) store(D, dl->type, i + j * dl->ld, out[i + j * m]);
  return CUBLAS_STATUS_SUCCESS;
}
