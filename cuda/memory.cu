// memory.cu: errors, devices, contexts, device memory, copies and events.
//
// Contract: every entry point returns a tune_status and records a message
// for tune_last_error() on failure; nothing here exits, aborts or prints.
// A context owns one device, one non-blocking stream, a cuBLASLt handle
// with its workspace, and scratch buffers. Uploads and downloads are
// ordered after the stream's queued work and return once the copy is done;
// tune_copy and tune_zero are queued on the stream.

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

static thread_local char last_error[1024];

tune_status fail(tune_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return st;
}

tune_status cuda_fail(cudaError_t e, const char *what) {
  tune_status st = TUNE_ERR_CUDA;
  const char *hint = "";
  switch (e) {
    case cudaErrorMemoryAllocation:
      st = TUNE_ERR_OUT_OF_MEMORY;
      break;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
      st = TUNE_ERR_NO_DEVICE;
      break;
    case cudaErrorNoKernelImageForDevice:
      hint = "; the library was built for other GPU architectures: rebuild with make cuda CUDA_ARCHS=<this GPU's>";
      break;
    default:
      break;
  }
  cudaGetLastError();  // clear a non-sticky error so later calls start clean
  return fail(st, "%s: %s (%s)%s", what, cudaGetErrorString(e), cudaGetErrorName(e), hint);
}

tune_status enter(tune_ctx *ctx) {
  if (ctx == nullptr) return fail(TUNE_ERR_ARGUMENT, "null context");
  TRY_CUDA(cudaSetDevice(ctx->device), "cudaSetDevice");
  return TUNE_OK;
}

tune_status launched(const char *kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return cuda_fail(e, kernel);
  return TUNE_OK;
}

tune_status scratch(tune_ctx *ctx, scratch_slot slot, size_t bytes, void **out) {
  if (ctx->scratch_bytes[slot] < bytes) {
    if (ctx->scratch[slot] != nullptr) {
      TRY_CUDA(cudaFree(ctx->scratch[slot]), "cudaFree (scratch)");
      ctx->scratch[slot] = nullptr;
      ctx->scratch_bytes[slot] = 0;
    }
    TRY_CUDA(cudaMalloc(&ctx->scratch[slot], bytes), "cudaMalloc (scratch)");
    ctx->scratch_bytes[slot] = bytes;
  }
  *out = ctx->scratch[slot];
  return TUNE_OK;
}

extern "C" {

TUNE_API int tune_abi_version(void) { return TUNE_CUDA_ABI_VERSION; }

TUNE_API const char *tune_last_error(void) { return last_error; }

TUNE_API tune_status tune_runtime_version(int *version) {
  if (version == nullptr) return fail(TUNE_ERR_ARGUMENT, "tune_runtime_version: null output");
  TRY_CUDA(cudaRuntimeGetVersion(version), "cudaRuntimeGetVersion");
  return TUNE_OK;
}

TUNE_API tune_status tune_device_count(int *count) {
  if (count == nullptr) return fail(TUNE_ERR_ARGUMENT, "tune_device_count: null output");
  *count = 0;
  TRY_CUDA(cudaGetDeviceCount(count), "cudaGetDeviceCount");
  if (*count == 0) return fail(TUNE_ERR_NO_DEVICE, "no CUDA device");
  return TUNE_OK;
}

TUNE_API tune_status tune_destroy(tune_ctx *ctx) {
  if (ctx == nullptr) return TUNE_OK;
  cudaError_t first = cudaSetDevice(ctx->device);
  const char *what = "cudaSetDevice";
  auto note = [&](cudaError_t e, const char *w) {
    if (first == cudaSuccess && e != cudaSuccess) first = e, what = w;
  };
  if (ctx->stream != nullptr) note(cudaStreamSynchronize(ctx->stream), "cudaStreamSynchronize");
  gemm_cache_destroy(ctx);
  if (ctx->lt != nullptr) cublasLtDestroy(ctx->lt);
  for (void *p : ctx->scratch) note(cudaFree(p), "cudaFree (scratch)");
  note(cudaFree(ctx->workspace), "cudaFree (workspace)");
  note(cudaFree(ctx->sum), "cudaFree");
  if (ctx->stream != nullptr) note(cudaStreamDestroy(ctx->stream), "cudaStreamDestroy");
  free(ctx);
  if (first != cudaSuccess) return cuda_fail(first, what);
  return TUNE_OK;
}

TUNE_API tune_status tune_create(int device, tune_ctx **out) {
  if (out == nullptr) return fail(TUNE_ERR_ARGUMENT, "tune_create: null output");
  *out = nullptr;
  int count = 0;
  TRY(tune_device_count(&count));
  if (device < 0 || device >= count)
    return fail(TUNE_ERR_NO_DEVICE, "CUDA device %d does not exist (%d found)", device, count);
  tune_ctx *ctx = (tune_ctx *)calloc(1, sizeof(tune_ctx));
  if (ctx == nullptr) return fail(TUNE_ERR_OUT_OF_MEMORY, "tune_create: out of host memory");
  ctx->device = device;
  tune_status st = TUNE_OK;
  cudaError_t e = cudaSetDevice(device);
  const char *what = "cudaSetDevice";
  if (e == cudaSuccess) e = cudaFree(nullptr), what = "initializing the CUDA context";
  if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking), what = "cudaStreamCreate";
  // 32 MiB: NVIDIA's recommended cuBLASLt workspace on Hopper.
  ctx->workspace_bytes = 32u << 20;
  if (e == cudaSuccess) e = cudaMalloc(&ctx->workspace, ctx->workspace_bytes), what = "cudaMalloc (cuBLASLt workspace)";
  if (e == cudaSuccess) e = cudaMalloc(&ctx->sum, sizeof(double)), what = "cudaMalloc";
  if (e != cudaSuccess) {
    st = cuda_fail(e, what);
  } else {
    cublasStatus_t cs = cublasLtCreate(&ctx->lt);
    if (cs != CUBLAS_STATUS_SUCCESS) {
      ctx->lt = nullptr;
      st = fail(TUNE_ERR_CUBLAS, "cublasLtCreate: status %d", (int)cs);
    }
  }
  if (st != TUNE_OK) {
    char msg[sizeof last_error];
    memcpy(msg, last_error, sizeof msg);
    tune_destroy(ctx);
    memcpy(last_error, msg, sizeof msg);
    return st;
  }
  *out = ctx;
  return TUNE_OK;
}

TUNE_API tune_status tune_device(tune_ctx *ctx, tune_device_info *info) {
  TRY(enter(ctx));
  if (info == nullptr) return fail(TUNE_ERR_ARGUMENT, "tune_device: null output");
  memset(info, 0, sizeof *info);
  cudaDeviceProp p;
  TRY_CUDA(cudaGetDeviceProperties(&p, ctx->device), "cudaGetDeviceProperties");
  snprintf(info->name, sizeof info->name, "%s", p.name);
  info->major = p.major;
  info->minor = p.minor;
  info->multiprocessors = p.multiProcessorCount;
  info->total_memory = p.totalGlobalMem;
  info->l2_bytes = (uint64_t)p.l2CacheSize;
  TRY_CUDA(cudaDriverGetVersion(&info->driver_version), "cudaDriverGetVersion");
  TRY_CUDA(cudaRuntimeGetVersion(&info->runtime_version), "cudaRuntimeGetVersion");
  return TUNE_OK;
}

TUNE_API tune_status tune_synchronize(tune_ctx *ctx) {
  TRY(enter(ctx));
  TRY_CUDA(cudaStreamSynchronize(ctx->stream), "cudaStreamSynchronize");
  return TUNE_OK;
}

TUNE_API tune_status tune_alloc(tune_ctx *ctx, uint64_t bytes, tune_ptr *out) {
  TRY(enter(ctx));
  if (out == nullptr) return fail(TUNE_ERR_ARGUMENT, "tune_alloc: null output");
  void *p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    size_t free_b = 0, total_b = 0;
    cudaGetLastError();
    cudaMemGetInfo(&free_b, &total_b);
    tune_status st = cuda_fail(e, "cudaMalloc");
    return fail(st, "cudaMalloc of %llu bytes (%llu of %llu free): %s", (unsigned long long)bytes,
                (unsigned long long)free_b, (unsigned long long)total_b, cudaGetErrorString(e));
  }
  *out = (tune_ptr)(uintptr_t)p;
  return TUNE_OK;
}

TUNE_API tune_status tune_free(tune_ctx *ctx, tune_ptr p) {
  TRY(enter(ctx));
  TRY_CUDA(cudaFree((void *)(uintptr_t)p), "cudaFree");
  return TUNE_OK;
}

TUNE_API tune_status tune_upload(tune_ctx *ctx, tune_ptr dst, const void *src, uint64_t bytes) {
  TRY(enter(ctx));
  if (bytes == 0) return TUNE_OK;
  TRY_CUDA(cudaMemcpyAsync((void *)(uintptr_t)dst, src, bytes, cudaMemcpyHostToDevice, ctx->stream), "upload");
  TRY_CUDA(cudaStreamSynchronize(ctx->stream), "upload");
  return TUNE_OK;
}

TUNE_API tune_status tune_download(tune_ctx *ctx, void *dst, tune_ptr src, uint64_t bytes) {
  TRY(enter(ctx));
  if (bytes == 0) return TUNE_OK;
  TRY_CUDA(cudaMemcpyAsync(dst, (const void *)(uintptr_t)src, bytes, cudaMemcpyDeviceToHost, ctx->stream), "download");
  TRY_CUDA(cudaStreamSynchronize(ctx->stream), "download");
  return TUNE_OK;
}

TUNE_API tune_status tune_copy(tune_ctx *ctx, tune_ptr dst, tune_ptr src, uint64_t bytes) {
  TRY(enter(ctx));
  if (bytes == 0) return TUNE_OK;
  TRY_CUDA(cudaMemcpyAsync((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, bytes, cudaMemcpyDeviceToDevice,
                           ctx->stream),
           "device-to-device copy");
  return TUNE_OK;
}

TUNE_API tune_status tune_zero(tune_ctx *ctx, tune_ptr dst, uint64_t bytes) {
  TRY(enter(ctx));
  if (bytes == 0) return TUNE_OK;
  TRY_CUDA(cudaMemsetAsync((void *)(uintptr_t)dst, 0, bytes, ctx->stream), "zero fill");
  return TUNE_OK;
}

struct tune_event {
  cudaEvent_t e;
};

TUNE_API tune_status tune_event_create(tune_ctx *ctx, tune_event **ev) {
  TRY(enter(ctx));
  if (ev == nullptr) return fail(TUNE_ERR_ARGUMENT, "tune_event_create: null output");
  tune_event *t = (tune_event *)calloc(1, sizeof(tune_event));
  if (t == nullptr) return fail(TUNE_ERR_OUT_OF_MEMORY, "tune_event_create: out of host memory");
  cudaError_t e = cudaEventCreate(&t->e);
  if (e != cudaSuccess) {
    free(t);
    return cuda_fail(e, "cudaEventCreate");
  }
  *ev = t;
  return TUNE_OK;
}

TUNE_API tune_status tune_event_destroy(tune_ctx *ctx, tune_event *ev) {
  TRY(enter(ctx));
  if (ev == nullptr) return TUNE_OK;
  cudaError_t e = cudaEventDestroy(ev->e);
  free(ev);
  if (e != cudaSuccess) return cuda_fail(e, "cudaEventDestroy");
  return TUNE_OK;
}

TUNE_API tune_status tune_event_record(tune_ctx *ctx, tune_event *ev) {
  TRY(enter(ctx));
  if (ev == nullptr) return fail(TUNE_ERR_ARGUMENT, "tune_event_record: null event");
  TRY_CUDA(cudaEventRecord(ev->e, ctx->stream), "cudaEventRecord");
  return TUNE_OK;
}

TUNE_API tune_status tune_event_elapsed(tune_ctx *ctx, tune_event *start, tune_event *end, float *ms) {
  TRY(enter(ctx));
  if (start == nullptr || end == nullptr || ms == nullptr)
    return fail(TUNE_ERR_ARGUMENT, "tune_event_elapsed: null argument");
  TRY_CUDA(cudaEventSynchronize(end->e), "cudaEventSynchronize");
  TRY_CUDA(cudaEventElapsedTime(ms, start->e, end->e), "cudaEventElapsedTime");
  return TUNE_OK;
}

}  // extern "C"
