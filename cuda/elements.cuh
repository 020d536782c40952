// elements.cuh: element access by run-time type, for the kernels whose
// activation (and norm weight) arguments may be fp32 or bf16 buffers: the
// CUDA backend's activations are bf16, its Alloc buffers fp32, and the
// conformance suite and --bf16=false run the same ops on fp32. Arithmetic
// is fp32 either way: a bf16 element is widened exactly on load and an fp32
// result rounded to nearest even on store.
#pragma once

#include <initializer_list>

#include "common.cuh"

// elems is a device array of fp32 or bf16 elements.
struct elems {
  void *p;
  tune_dtype t;
};

static inline elems elems_at(tune_ptr p, tune_dtype t) { return elems{(void *)(uintptr_t)p, t}; }

__device__ __forceinline__ float load(const elems &a, int64_t i) {
  if (a.t == TUNE_BF16) return __bfloat162float(static_cast<const __nv_bfloat16 *>(a.p)[i]);
  return static_cast<const float *>(a.p)[i];
}

__device__ __forceinline__ void store(const elems &a, int64_t i, float v) {
  if (a.t == TUNE_BF16)
    static_cast<__nv_bfloat16 *>(a.p)[i] = __float2bfloat16_rn(v);
  else
    static_cast<float *>(a.p)[i] = v;
}

// elems_arg is an element-array argument of an entry point, for its
// checks: the address, its type and the argument's name.
struct elems_arg {
  tune_ptr p;
  tune_dtype t;
  const char *what;
};

// check_elems returns an argument error for op naming the first of args
// whose address is null or whose type is neither TUNE_F32 nor TUNE_BF16.
tune_status check_elems(const char *op, std::initializer_list<elems_arg> args);
