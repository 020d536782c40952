// dropout.cuh: the dropout mask of package backend's DropoutMask, drawn on
// the device from (seed, element index); shared by lora_linear.cu (the LoRA
// input dropout) and pointwise.cu (the Dropout op).
//
// Element i is dropped when splitmix64(splitmix64(seed) + i) >> 40, its
// 24-bit draw, is below ceil(p·2^24), and kept and scaled by
// keep = float(1/(1-p)) otherwise.
#pragma once

#include <math.h>

#include "common.cuh"

// splitmix64 is SplitMix64's output function for the state z.
__host__ __device__ __forceinline__ uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct dropout_mask {
  uint64_t key;        // splitmix64(seed)
  uint32_t threshold;  // ceil(p·2^24): element i is dropped when its 24-bit draw is below it
  float keep;          // float(1/(1-p)), 1 without dropout
};

// dropout_of returns the mask of probability p (in [0, 1): the callers
// check it) and seed.
static inline dropout_mask dropout_of(float p, uint64_t seed) {
  dropout_mask m;
  m.key = splitmix64(seed);
  // p·2^24 is exact in double, and the draw u < p·2^24 exactly when
  // u < ceil(p·2^24) for an integer u.
  m.threshold = (uint32_t)ceil((double)p * 16777216.0);
  m.keep = (float)(1.0 / (1.0 - (double)p));
  return m;
}

__device__ __forceinline__ bool dropped(const dropout_mask &m, uint64_t i) {
  return (uint32_t)(splitmix64(m.key + i) >> 40) < m.threshold;
}
