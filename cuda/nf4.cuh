// nf4.cuh: NF4 block scales, shared by nf4.cu and lora_linear.cu.
#pragma once

#include "common.cuh"

// nf4_scale returns the scale of the NF4 block holding element i:
// absmax[b], or with double quantization code2[qabsmax[b]] *
// absmax2[b / block_size2] + offset with both steps rounded to fp32, as
// bitsandbytes computes it. Block sizes are powers of two (nf4_check).
__device__ __forceinline__ float nf4_scale(const tune_nf4 &q, int64_t i) {
  int64_t b = i >> (__ffs(q.block_size) - 1);
  if (q.absmax != 0) return __ldg(reinterpret_cast<const float *>(q.absmax) + b);
  const float *code2 = reinterpret_cast<const float *>(q.code2);
  const float *absmax2 = reinterpret_cast<const float *>(q.absmax2);
  uint8_t c = __ldg(reinterpret_cast<const uint8_t *>(q.qabsmax) + b);
  return __fadd_rn(__fmul_rn(__ldg(code2 + c), __ldg(absmax2 + (b >> (__ffs(q.block_size2) - 1)))), q.offset);
}

// nf4_check validates an NF4 descriptor's fields for op; block sizes
// must be powers of two, as bitsandbytes' are.
tune_status nf4_check(const tune_nf4 *q, const char *op);
