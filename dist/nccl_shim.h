// nccl_shim.h: package dist's C side for NCCL: the entry points of
// libnccl.so.2 and the few of the CUDA driver (libcuda.so.1) it needs,
// found with dlsym, and the calls made through them. It needs no NCCL or
// CUDA header: the declarations below follow nccl.h and cuda.h (handles
// are pointers, results ints, ncclUniqueId 128 bytes passed by value).
//
// Ordering with the CUDA backend, whose stream this side cannot see: an
// all-reduce first synchronizes the device's primary context (every stream
// of it, so the gradients are written), runs NCCL on a stream of its own,
// and waits for that stream, polling NCCL's asynchronous error and a
// deadline, so a peer that died turns into an error and ncclCommAbort, not
// a hang.
#ifndef TUNE_NCCL_SHIM_H
#define TUNE_NCCL_SHIM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dl.h"

typedef struct { char internal[128]; } dn_unique_id;
typedef void *dn_comm;
typedef void *dn_stream;

enum { DN_FLOAT32 = 7, DN_SUM = 0, DN_IN_PROGRESS = 7 };
enum { DC_NOT_READY = 600, DC_STREAM_NON_BLOCKING = 1 };

#define DN_FUNCS(X) \
	X(ncclGetVersion, int, (int *)) \
	X(ncclGetUniqueId, int, (dn_unique_id *)) \
	X(ncclCommInitRank, int, (dn_comm *, int, dn_unique_id, int)) \
	X(ncclAllReduce, int, (const void *, void *, size_t, int, int, dn_comm, dn_stream)) \
	X(ncclCommDestroy, int, (dn_comm)) \
	X(ncclCommAbort, int, (dn_comm)) \
	X(ncclCommGetAsyncError, int, (dn_comm, int *)) \
	X(ncclGetErrorString, const char *, (int))

#define DC_FUNCS(X) \
	X(cuInit, int, (unsigned)) \
	X(cuDeviceGet, int, (int *, int)) \
	X(cuDevicePrimaryCtxRetain, int, (void **, int)) \
	X(cuCtxSetCurrent, int, (void *)) \
	X(cuCtxSynchronize, int, (void)) \
	X(cuStreamCreate, int, (dn_stream *, unsigned)) \
	X(cuStreamQuery, int, (dn_stream)) \
	X(cuStreamDestroy_v2, int, (dn_stream)) \
	X(cuGetErrorString, int, (int, const char **))

typedef struct dn_lib {
#define DN_FIELD(name, ret, params) ret(*name) params;
	DN_FUNCS(DN_FIELD)
	DC_FUNCS(DN_FIELD)
#undef DN_FIELD
	dn_comm comm;
	dn_stream stream;
	char err[512];
} dn_lib;

static inline void *dn_open(const char *path, char *err, size_t n) {
	return dist_dlopen(path, RTLD_NOW | RTLD_LOCAL, err, n);
}

// dn_bind fills l's NCCL functions from h and its driver functions from d,
// and returns NULL, or the first missing symbol.
static inline const char *dn_bind(void *h, void *d, dn_lib *l) {
#define DN_BIND(name, ret, params) \
	l->name = (ret(*) params)dlsym(h, #name); \
	if (l->name == NULL) return #name;
	DN_FUNCS(DN_BIND)
#undef DN_BIND
#define DC_BIND(name, ret, params) \
	l->name = (ret(*) params)dlsym(d, #name); \
	if (l->name == NULL) return #name;
	DC_FUNCS(DC_BIND)
#undef DC_BIND
	return NULL;
}

// Each call returns 0, or fills l->err and returns non-zero.

static inline int dn_cuda_fail(dn_lib *l, int r, const char *what) {
	const char *s = NULL;
	if (l->cuGetErrorString(r, &s) != 0 || s == NULL) s = "unknown CUDA error";
	snprintf(l->err, sizeof l->err, "%s: %s (CUresult %d)", what, s, r);
	return 1;
}

static inline int dn_nccl_fail(dn_lib *l, int r, const char *what) {
	const char *s = l->ncclGetErrorString(r);
	snprintf(l->err, sizeof l->err, "%s: %s (ncclResult %d)", what, s ? s : "unknown NCCL error", r);
	return 1;
}

// dn_device makes device's primary context current on the calling thread
// (the CUDA backend's context) and creates the NCCL stream in it.
static inline int dn_device(dn_lib *l, int device) {
	int r, dev;
	void *ctx;
	if ((r = l->cuInit(0)) != 0) return dn_cuda_fail(l, r, "cuInit");
	if ((r = l->cuDeviceGet(&dev, device)) != 0) return dn_cuda_fail(l, r, "cuDeviceGet");
	if ((r = l->cuDevicePrimaryCtxRetain(&ctx, dev)) != 0) return dn_cuda_fail(l, r, "cuDevicePrimaryCtxRetain");
	if ((r = l->cuCtxSetCurrent(ctx)) != 0) return dn_cuda_fail(l, r, "cuCtxSetCurrent");
	if ((r = l->cuStreamCreate(&l->stream, DC_STREAM_NON_BLOCKING)) != 0) return dn_cuda_fail(l, r, "cuStreamCreate");
	return 0;
}

static inline int dn_version(dn_lib *l) {
	int v = 0;
	l->ncclGetVersion(&v);
	return v;
}

static inline int dn_unique(dn_lib *l, dn_unique_id *id) {
	int r = l->ncclGetUniqueId(id);
	return r ? dn_nccl_fail(l, r, "ncclGetUniqueId") : 0;
}

static inline int dn_init(dn_lib *l, int size, const dn_unique_id *id, int rank) {
	int r = l->ncclCommInitRank(&l->comm, size, *id, rank);
	return r ? dn_nccl_fail(l, r, "ncclCommInitRank") : 0;
}

static inline int64_t dn_now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// dn_allreduce sums n floats at device address p over the ranks in place,
// and returns once they are summed, or with 2 after timeout_ms, having
// aborted the communicator.
static inline int dn_allreduce(dn_lib *l, uintptr_t p, size_t n, int64_t timeout_ms) {
	int r;
	if ((r = l->cuCtxSynchronize()) != 0) return dn_cuda_fail(l, r, "cuCtxSynchronize before the all-reduce");
	if ((r = l->ncclAllReduce((const void *)p, (void *)p, n, DN_FLOAT32, DN_SUM, l->comm, l->stream)) != 0)
		return dn_nccl_fail(l, r, "ncclAllReduce");
	int64_t deadline = dn_now_ms() + timeout_ms;
	struct timespec pause = {0, 50000};
	for (;;) {
		r = l->cuStreamQuery(l->stream);
		if (r == 0) return 0;
		if (r != DC_NOT_READY) return dn_cuda_fail(l, r, "the all-reduce's stream");
		int async = 0;
		if ((r = l->ncclCommGetAsyncError(l->comm, &async)) != 0) return dn_nccl_fail(l, r, "ncclCommGetAsyncError");
		if (async != 0 && async != DN_IN_PROGRESS) {
			l->ncclCommAbort(l->comm);
			l->comm = NULL;
			return dn_nccl_fail(l, async, "ncclAllReduce (asynchronous error; communicator aborted)");
		}
		if (dn_now_ms() > deadline) {
			l->ncclCommAbort(l->comm);
			l->comm = NULL;
			return 2;
		}
		nanosleep(&pause, NULL);
	}
}

static inline void dn_close(dn_lib *l) {
	if (l->comm != NULL) l->ncclCommDestroy(l->comm);
	if (l->stream != NULL) l->cuStreamDestroy_v2(l->stream);
	l->comm = NULL;
	l->stream = NULL;
}

#endif
