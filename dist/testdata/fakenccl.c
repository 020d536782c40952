// fakenccl.c: a stand-in for libnccl.so.2 and the CUDA driver's few entry
// points that package dist calls, for its tests on machines without a GPU.
// SOURCE: written for tune's dist tests (no NVIDIA code); the declarations
// follow nccl.h and cuda.h. Device pointers are host pointers. It is one
// rank's NCCL: a communicator of one rank, whose all-reduce leaves the
// buffer as it is. Every call checks what the real libraries require of
// dist's shim (data type, operation, the stream it created, the context
// synchronized before the all-reduce) and fails with ncclInvalidArgument
// (4) otherwise. FAKE_NCCL_HANG makes the all-reduce never finish.
#include <stdlib.h>
#include <string.h>

typedef struct { char internal[128]; } ncclUniqueId;

static int comm_, stream_, ctx_, synced, inited;
static const char *last = "";

static int bad(const char *why) {
	last = why;
	return 4;
}

int ncclGetVersion(int *v) { *v = 22304; return 0; }
int ncclGetUniqueId(ncclUniqueId *id) {
	memset(id, 0, sizeof *id);
	strcpy(id->internal, "fake-nccl-id");
	return 0;
}
int ncclCommInitRank(void **comm, int n, ncclUniqueId id, int rank) {
	if (n != 1 || rank != 0) return bad("the fake NCCL has one rank");
	if (strcmp(id.internal, "fake-nccl-id") != 0) return bad("unique id not from ncclGetUniqueId");
	*comm = &comm_;
	return 0;
}
int ncclAllReduce(const void *send, void *recv, size_t count, int type, int op, void *comm, void *stream) {
	if (type != 7) return bad("data type is not ncclFloat32");
	if (op != 0) return bad("operation is not ncclSum");
	if (comm != &comm_) return bad("not the communicator");
	if (stream != &stream_) return bad("not the stream cuStreamCreate made");
	if (send != recv || recv == NULL || count == 0) return bad("not in place");
	if (!synced) return bad("the context was not synchronized before the all-reduce");
	synced = 0;
	return 0;
}
int ncclCommDestroy(void *comm) { return comm == &comm_ ? 0 : bad("destroying another communicator"); }
int ncclCommAbort(void *comm) { return comm == &comm_ ? 0 : bad("aborting another communicator"); }
int ncclCommGetAsyncError(void *comm, int *e) { *e = 0; return 0; }
const char *ncclGetErrorString(int r) { return r == 4 ? last : "unknown"; }

int cuInit(unsigned flags) { inited = flags == 0; return inited ? 0 : 1; }
int cuDeviceGet(int *dev, int ordinal) {
	*dev = ordinal;
	return inited && ordinal == 0 ? 0 : 101;
}
int cuDevicePrimaryCtxRetain(void **ctx, int dev) { *ctx = &ctx_; return 0; }
int cuCtxSetCurrent(void *ctx) { return ctx == &ctx_ ? 0 : 201; }
int cuCtxSynchronize(void) { synced = 1; return 0; }
int cuStreamCreate(void **s, unsigned flags) { *s = &stream_; return flags == 1 ? 0 : 1; }
int cuStreamQuery(void *s) { return getenv("FAKE_NCCL_HANG") ? 600 : 0; }
int cuStreamDestroy_v2(void *s) { return s == &stream_ ? 0 : 400; }
int cuGetErrorString(int r, const char **s) { *s = "fake CUDA error"; return 0; }
