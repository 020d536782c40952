// runtime.cpp: the CUDA runtime calls of cuda_runtime.h, on host memory.
//
// Device memory is host memory from posix_memalign (256-byte aligned, like
// cudaMalloc's), filled with 0xff bytes: a value the kernels read before
// anything wrote it is NaN in fp32 and in bf16. Copies and fills are
// checked against the live allocations. TUNE_EMU_NO_DEVICE=1 makes
// cudaGetDeviceCount report no device, as on a machine without a GPU.
#include <stdio.h>
#include <stdlib.h>

#include <chrono>
#include <map>
#include <mutex>

#include "cuda_runtime.h"

struct emu_stream {};
struct emu_event {
  std::chrono::steady_clock::time_point at;
  bool recorded;
};

namespace {

std::mutex mem_mu;
std::map<uintptr_t, size_t> allocations;  // start -> bytes
thread_local cudaError_t last_error = cudaSuccess;

cudaError_t error(cudaError_t e) { return last_error = e; }

}  // namespace

namespace emu {

bool inside(const void *p, size_t bytes) {
  std::lock_guard<std::mutex> lk(mem_mu);
  uintptr_t a = (uintptr_t)p;
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin()) return false;
  --it;
  return a >= it->first && a + bytes <= it->first + it->second;
}

void fail_launch(cudaError_t e) { error(e); }

}  // namespace emu

cudaError_t cudaGetDeviceCount(int *count) {
  const char *none = getenv("TUNE_EMU_NO_DEVICE");
  if (none != nullptr && *none != 0 && strcmp(none, "0") != 0) {
    *count = 0;
    return error(cudaErrorNoDevice);
  }
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : error(cudaErrorInvalidDevice); }

cudaError_t cudaMalloc(void **p, size_t bytes) {
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  void *q = nullptr;
  if (bytes > (size_t)64 << 30 || posix_memalign(&q, 256, bytes) != 0) return error(cudaErrorMemoryAllocation);
  memset(q, 0xff, bytes);
  std::lock_guard<std::mutex> lk(mem_mu);
  allocations[(uintptr_t)q] = bytes;
  *p = q;
  return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
  if (p == nullptr) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lk(mem_mu);
    auto it = allocations.find((uintptr_t)p);
    if (it == allocations.end()) {
      emu::warn("cudaFree(%p): not an address cudaMalloc returned, or freed already", p);
      return error(cudaErrorInvalidValue);
    }
    allocations.erase(it);
  }
  free(p);
  return cudaSuccess;
}

// A 24 GiB device: free is what the live allocations leave of it, so a
// test can read what the library holds.
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
  const size_t total = (size_t)24 << 30;
  size_t used = 0;
  {
    std::lock_guard<std::mutex> lk(mem_mu);
    for (const auto &a : allocations) used += a.second;
  }
  *free_bytes = used < total ? total - used : 0;
  *total_bytes = total;
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
  *s = new emu_stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  if (bytes == 0) return cudaSuccess;
  bool to_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  bool from_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if ((to_device && !emu::inside(dst, bytes)) || (from_device && !emu::inside(src, bytes))) {
    emu::warn("cudaMemcpyAsync of %zu bytes (kind %d) from %p to %p: outside the device allocations", bytes, (int)kind,
              src, dst);
    return error(cudaErrorInvalidValue);
  }
  memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t) {
  if (bytes == 0) return cudaSuccess;
  if (!emu::inside(dst, bytes)) {
    emu::warn("cudaMemsetAsync of %zu bytes at %p: outside the device allocations", bytes, dst);
    return error(cudaErrorInvalidValue);
  }
  memset(dst, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) {
  *e = new emu_event{{}, false};
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  e->at = std::chrono::steady_clock::now();
  e->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start->recorded || !end->recorded) return error(cudaErrorInvalidValue);
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "tune CUDA CPU emulator");
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 1;
  p->totalGlobalMem = (size_t)24 << 30;
  p->l2CacheSize = 50 << 20;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int *v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

const char *cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    default: return "cudaErrorUnknown";
  }
}

const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    default: return "unknown error";
  }
}
