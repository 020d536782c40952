// emu.h: the device language of CUDA, as much of it as tune's cuda/*.cu use,
// for g++ on a CPU (see cuda/README.md, "Running the CUDA sources on a CPU").
//
// A launch runs its blocks one after another. Each thread of a block is a
// fiber with its own stack, and one fiber runs at a time: it runs until it
// waits at __syncthreads or a warp shuffle, or returns, and then the
// schedule (TUNE_EMU_SCHED, sched.cpp) picks the next. The order is therefore
// reproducible, and the two orders low and high each run one side of a
// missing barrier first, so that the other side reads poison: shared memory
// is NaN bytes whenever a block starts, as device memory is when allocated.
//
// cu2cpp.pl rewrites the two constructs g++ cannot parse:
//   kernel<<<grid, block, shared, stream>>>(args)  ->  EMU_LAUNCH(kernel, grid, block, shared, stream)(args)
//   __shared__ T name[N];                          ->  EMU_SHARED(T, name, N);
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmath>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x, y, z;
};

typedef struct emu_stream *cudaStream_t;

namespace emu {

// The running fiber's indices and the launch's dimensions.
extern uint3 thread_idx, block_idx;
extern dim3 block_dim, grid_dim;

// syncthreads is __syncthreads; site names it in messages ("file:line").
void syncthreads(const char *site);
// exchange is one warp shuffle: the calling lane offers v, waits until every
// lane of mask has offered its own, and receives all 32 lanes' values
// (NaN bytes for lanes that took no part).
void exchange(uint64_t v, unsigned mask, uint64_t (&all)[32]);
// lane is the calling thread's lane in its warp.
unsigned lane();
// die prints "cuda-emu: FATAL: ..." and aborts: a kernel did something that
// is undefined on a GPU.
[[noreturn]] void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// shared_array registers a __shared__ array, so that every block starts with
// it poisoned.
struct shared_array {
  shared_array(void *p, size_t bytes);
};

struct launch_body {
  virtual void run() = 0;
  virtual ~launch_body() = default;
};
// launch runs body over grid x block threads, or records
// cudaErrorInvalidConfiguration for a launch a GPU would refuse.
void launch(dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream, launch_body &body, const char *kernel);

template <class... P>
struct launcher {
  void (*kernel)(P...);
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
  const char *name;

  template <class... A>
  void operator()(A &&...args) {
    struct body : launch_body {
      void (*kernel)(P...);
      std::tuple<std::decay_t<P>...> args;  // converted once, as a launch copies its parameters
      body(void (*k)(P...), A &&...a) : kernel(k), args(std::forward<A>(a)...) {}
      void run() override { std::apply(kernel, args); }
    } b(kernel, std::forward<A>(args)...);
    launch(grid, block, shared_bytes, stream, b, name);
  }
};

template <class... P>
launcher<P...> make_launcher(void (*kernel)(P...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                             const char *name) {
  return launcher<P...>{kernel, grid, block, shared_bytes, stream, name};
}

template <class T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "a shuffle moves at most 8 bytes");
  uint64_t bits = 0;
  memcpy(&bits, &v, sizeof v);
  return bits;
}

template <class T>
T from_bits(uint64_t bits) {
  T v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

}  // namespace emu

#define EMU_LAUNCH(kernel, ...) emu::make_launcher(kernel, __VA_ARGS__, #kernel)
#define EMU_SHARED(T, name, n) \
  static T name[n];            \
  static emu::shared_array name##_emu_registered(name, sizeof name)

#define threadIdx (emu::thread_idx)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
#define warpSize 32
#define EMU_STR2(x) #x
#define EMU_STR(x) EMU_STR2(x)
#define __syncthreads() emu::syncthreads(__FILE__ ":" EMU_STR(__LINE__))

// ---- warp shuffles ---------------------------------------------------------
// width splits the warp into segments, as on the GPU; a source lane outside
// the caller's segment (or past it, for _down) gives the caller's own value.

template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = warpSize) {
  uint64_t all[32];
  emu::exchange(emu::to_bits(v), mask, all);
  unsigned l = emu::lane();
  return emu::from_bits<T>(all[l / width * width + (unsigned)src % width]);
}

template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  uint64_t all[32];
  emu::exchange(emu::to_bits(v), mask, all);
  unsigned l = emu::lane();
  return emu::from_bits<T>(all[l % width + delta < (unsigned)width ? l + delta : l]);
}

template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
  uint64_t all[32];
  emu::exchange(emu::to_bits(v), mask, all);
  unsigned l = emu::lane(), src = l ^ (unsigned)lane_mask;
  return emu::from_bits<T>(all[src / width == l / width ? src : l]);
}

// ---- vector types and intrinsics -------------------------------------------
// The GPU's alignments, so that UBSan reports a misaligned 16-byte access
// where the GPU would fault.
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

template <class T>
inline T __ldg(const T *p) {
  return *p;
}
inline int __ffs(int x) { return __builtin_ffs(x); }
inline float __uint_as_float(unsigned u) { return emu::from_bits<float>(u); }
inline unsigned __float_as_uint(float f) { return (unsigned)emu::to_bits(f); }
// Each is one IEEE operation rounded to nearest: the library is compiled
// with -ffp-contract=off, so g++ fuses nothing either.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
using std::isnan;
// The integer min and max of CUDA's device library (fminf and fmaxf come
// from math.h).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
