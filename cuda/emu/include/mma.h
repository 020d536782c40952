// mma.h (emulated): the warp matrix functions of CUDA's mma.h
// (nvcuda::wmma), for the 16x16x16 bf16 shapes with fp32 accumulation that
// tune's kernels use, with CUDA's documented semantics:
//   - matrix_a is M x K, matrix_b K x N, accumulator M x N. A row_major
//     matrix_a has element (m, k) at p[m*ldm + k], a col_major one at
//     p[k*ldm + m]; likewise (k, n) of matrix_b at p[k*ldm + n] or
//     p[n*ldm + k]; an accumulator stored or loaded mem_row_major has (m, n)
//     at p[m*ldm + n].
//   - p must be 256-bit (32-byte) aligned and ldm a multiple of 16 bytes'
//     worth of elements (8 for bf16, 4 for float); the emulator aborts
//     otherwise, as the GPU's behaviour is undefined.
//   - mma_sync computes d = a*b + c, the products summed in fp32 (in order
//     of k here; a tensor core's order and internal rounding are its own).
//   - Every function is warp-collective: all 32 lanes call it with the same
//     arguments. How a GPU spreads a fragment's elements over the lanes is
//     unspecified, so a kernel may touch x[i] only uniformly (the same
//     operation on every element), which holds here too.
// The emulator keeps the whole tile in lane 0's fragment and does every
// load, fill, product and store in lane 0 alone, so that a warp costs one
// product, not 32; the other lanes check the pointer and ldm and leave
// their fragments' elements undefined (never stored). What this cannot
// show: a lane that skips a collective call, lanes that pass different
// arguments, or a kernel that reads x[] of one lane as if it held given
// elements (which the GPU does not specify either).
#pragma once

#include <type_traits>

#include "cuda_bf16.h"
#include "emu.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulator has the 16x16x16 shape only");
  static constexpr int rows = std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
  static constexpr int num_elements = rows * cols;
  T x[num_elements];
};

namespace detail {

inline float to_float(float v) { return v; }
inline float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
void check(const T *p, unsigned ldm, const char *what) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
    emu::die("wmma::%s: pointer %p is not 256-bit aligned", what, static_cast<const void *>(p));
  if (ldm * sizeof(T) % 16 != 0) emu::die("wmma::%s: ldm %u is not a multiple of 16 bytes", what, ldm);
}

// at returns the element (r, c) of a matrix at p: row-major or not.
template <class T>
T &at(T *p, unsigned ldm, int r, int c, bool row) {
  return row ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}

}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout> &f, const T *p, unsigned ldm) {
  static_assert(!std::is_same_v<Use, accumulator>, "an accumulator load takes a layout_t");
  detail::check(p, ldm, "load_matrix_sync");
  if (emu::lane() != 0) return;
  constexpr bool row = std::is_same_v<Layout, row_major>;
  using F = fragment<Use, M, N, K, T, Layout>;
  for (int r = 0; r < F::rows; r++)
    for (int c = 0; c < F::cols; c++) f.x[r * F::cols + c] = detail::at(const_cast<T *>(p), ldm, r, c, row);
}

template <int M, int N, int K>
void load_matrix_sync(fragment<accumulator, M, N, K, float> &f, const float *p, unsigned ldm, layout_t l) {
  detail::check(p, ldm, "load_matrix_sync");
  if (emu::lane() != 0) return;
  for (int r = 0; r < M; r++)
    for (int c = 0; c < N; c++) f.x[r * N + c] = detail::at(const_cast<float *>(p), ldm, r, c, l == mem_row_major);
}

template <int M, int N, int K>
void store_matrix_sync(float *p, const fragment<accumulator, M, N, K, float> &f, unsigned ldm, layout_t l) {
  detail::check(p, ldm, "store_matrix_sync");
  if (emu::lane() != 0) return;
  for (int r = 0; r < M; r++)
    for (int c = 0; c < N; c++) detail::at(p, ldm, r, c, l == mem_row_major) = f.x[r * N + c];
}

template <class Use, int M, int N, int K, class T, class Layout>
void fill_fragment(fragment<Use, M, N, K, T, Layout> &f, T v) {
  if (emu::lane() != 0) return;
  for (auto &e : f.x) e = v;
}

template <int M, int N, int K, class TA, class LA, class LB>
void mma_sync(fragment<accumulator, M, N, K, float> &d, const fragment<matrix_a, M, N, K, TA, LA> &a,
              const fragment<matrix_b, M, N, K, TA, LB> &b, const fragment<accumulator, M, N, K, float> &c) {
  if (emu::lane() != 0) return;
  float out[M * N];
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      float s = c.x[m * N + n];
      for (int k = 0; k < K; k++) s += detail::to_float(a.x[m * K + k]) * detail::to_float(b.x[k * N + n]);
      out[m * N + n] = s;
    }
  for (int i = 0; i < M * N; i++) d.x[i] = out[i];
}

}  // namespace wmma
}  // namespace nvcuda
