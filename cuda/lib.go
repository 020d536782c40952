//go:build cgo

package cuda

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include "tune_cuda.h"

// Every entry point but tune_abi_version, which is looked up first.
#define TUNE_FUNCS(X) \
	X(last_error) X(runtime_version) X(device_count) X(create) X(destroy) X(device) \
	X(synchronize) X(alloc) X(free) X(upload) X(download) X(copy) X(zero) \
	X(event_create) X(event_destroy) X(event_record) X(event_elapsed) \
	X(nf4_dequantize) X(lora_linear_forward) X(lora_linear_backward) X(matmul_bf16) \
	X(sum_squares) X(adamw)

typedef struct tl_lib {
	void *handle;
#define FIELD(name) __typeof__(&tune_##name) name;
	TUNE_FUNCS(FIELD)
#undef FIELD
} tl_lib;

// tl_open dlopens path, or returns NULL with dlerror's message in err
// (dlerror is per thread, so both happen in this one call).
static void *tl_open(const char *path, char *err, size_t n) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		const char *e = dlerror();
		snprintf(err, n, "%s", e ? e : "unknown dlopen error");
	}
	return h;
}

static void tl_close(void *h) { dlclose(h); }

// tl_abi_version returns the library's ABI version, or -1 when it has no
// tune_abi_version (it is not a tune CUDA library).
static int tl_abi_version(void *h) {
	int (*f)(void) = (int (*)(void))dlsym(h, "tune_abi_version");
	return f ? f() : -1;
}

// tl_bind fills l from h and returns NULL, or the first missing symbol.
static const char *tl_bind(void *h, tl_lib *l) {
	l->handle = h;
#define BIND(name) \
	l->name = (__typeof__(l->name))dlsym(h, "tune_" #name); \
	if (l->name == NULL) return "tune_" #name;
	TUNE_FUNCS(BIND)
#undef BIND
	return NULL;
}

// Trampolines: cgo cannot call through function pointers.
static const char *tl_last_error(tl_lib *l) { return l->last_error(); }
static int tl_runtime_version(tl_lib *l, int *v) { return l->runtime_version(v); }
static int tl_device_count(tl_lib *l, int *n) { return l->device_count(n); }
static int tl_create(tl_lib *l, int dev, tune_ctx **c) { return l->create(dev, c); }
static int tl_destroy(tl_lib *l, tune_ctx *c) { return l->destroy(c); }
static int tl_device(tl_lib *l, tune_ctx *c, tune_device_info *i) { return l->device(c, i); }
static int tl_synchronize(tl_lib *l, tune_ctx *c) { return l->synchronize(c); }
static int tl_alloc(tl_lib *l, tune_ctx *c, uint64_t n, tune_ptr *p) { return l->alloc(c, n, p); }
static int tl_free(tl_lib *l, tune_ctx *c, tune_ptr p) { return l->free(c, p); }
static int tl_upload(tl_lib *l, tune_ctx *c, tune_ptr d, const void *s, uint64_t n) { return l->upload(c, d, s, n); }
static int tl_download(tl_lib *l, tune_ctx *c, void *d, tune_ptr s, uint64_t n) { return l->download(c, d, s, n); }
static int tl_copy(tl_lib *l, tune_ctx *c, tune_ptr d, tune_ptr s, uint64_t n) { return l->copy(c, d, s, n); }
static int tl_zero(tl_lib *l, tune_ctx *c, tune_ptr d, uint64_t n) { return l->zero(c, d, n); }
static int tl_event_create(tl_lib *l, tune_ctx *c, tune_event **e) { return l->event_create(c, e); }
static int tl_event_destroy(tl_lib *l, tune_ctx *c, tune_event *e) { return l->event_destroy(c, e); }
static int tl_event_record(tl_lib *l, tune_ctx *c, tune_event *e) { return l->event_record(c, e); }
static int tl_event_elapsed(tl_lib *l, tune_ctx *c, tune_event *a, tune_event *b, float *ms) {
	return l->event_elapsed(c, a, b, ms);
}
static int tl_nf4_dequantize(tl_lib *l, tune_ctx *c, tune_ptr out, tune_dtype t, const tune_nf4 *q) {
	return l->nf4_dequantize(c, out, t, q);
}
static int tl_lora_linear_forward(tl_lib *l, tune_ctx *c, tune_ptr y, tune_ptr x, const tune_weight *w,
		tune_ptr bias, tune_dtype bt, tune_ptr a, tune_ptr b, const tune_lora_shape *s) {
	return l->lora_linear_forward(c, y, x, w, bias, bt, a, b, s);
}
static int tl_lora_linear_backward(tl_lib *l, tune_ctx *c, tune_ptr dx, tune_ptr da, tune_ptr db, tune_ptr dy,
		tune_ptr x, const tune_weight *w, tune_ptr a, tune_ptr b, const tune_lora_shape *s) {
	return l->lora_linear_backward(c, dx, da, db, dy, x, w, a, b, s);
}
static int tl_matmul_bf16(tl_lib *l, tune_ctx *c, tune_ptr out, tune_ptr a, tune_ptr w, int64_t rows, int64_t k,
		int64_t n, int trans) {
	return l->matmul_bf16(c, out, a, w, rows, k, n, trans);
}
static int tl_sum_squares(tl_lib *l, tune_ctx *c, tune_ptr x, int64_t n, double *out) {
	return l->sum_squares(c, x, n, out);
}
static int tl_adamw(tl_lib *l, tune_ctx *c, tune_ptr p, tune_ptr g, tune_ptr m, tune_ptr v, int64_t n,
		const tune_adamw_step *s, double *norm) {
	return l->adamw(c, p, g, m, v, n, s, norm);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"
)

// library is a loaded libtune_cuda.
type library struct {
	path string
	lib  *C.tl_lib // C memory: the table is passed to every trampoline
}

var (
	loadMu sync.Mutex
	loaded *library // the first library that loaded, kept for the process
)

// load finds, opens and checks the library once per process; a failure is
// not kept, so a later call looks again.
func load() (*library, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if loaded != nil {
		return loaded, nil
	}
	path, err := findLibrary(os.Getenv(envLib))
	if err != nil {
		return nil, err
	}
	l, err := openLibrary(path)
	if err != nil {
		return nil, err
	}
	loaded = l
	return l, nil
}

// openLibrary dlopens path and checks that it is a tune CUDA library of
// this package's ABI version with every entry point.
func openLibrary(path string) (*library, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [1024]C.char
	h := C.tl_open(cpath, &msg[0], C.size_t(len(msg)))
	if h == nil {
		return nil, fmt.Errorf("cuda: loading %s: %s", path, C.GoString(&msg[0]))
	}
	v := int(C.tl_abi_version(h))
	if err := checkABI(path, v); err != nil {
		C.tl_close(h)
		return nil, err
	}
	lib := (*C.tl_lib)(C.calloc(1, C.size_t(unsafe.Sizeof(C.tl_lib{}))))
	if missing := C.tl_bind(h, lib); missing != nil {
		name := C.GoString(missing)
		C.free(unsafe.Pointer(lib))
		C.tl_close(h)
		return nil, fmt.Errorf("cuda: %s has ABI version %d but lacks %s: rebuild it with make cuda", path, v, name)
	}
	return &library{path: path, lib: lib}, nil
}

// abiVersion is the C ABI version this package was written for.
const abiVersion = int(C.TUNE_CUDA_ABI_VERSION)

// checkABI reports an error unless version, read from the library at path,
// is the ABI version this package was written for (-1: the file has no
// tune_abi_version symbol at all).
func checkABI(path string, version int) error {
	switch version {
	case abiVersion:
		return nil
	case -1:
		return fmt.Errorf("cuda: %s is not a tune CUDA library (no tune_abi_version)", path)
	}
	return fmt.Errorf("cuda: %s has C ABI version %d, this tune needs %d: rebuild it with make cuda from the same checkout", path, version, abiVersion)
}

// status is a tune_status other than TUNE_OK.
type status int

const (
	statusArgument    status = C.TUNE_ERR_ARGUMENT
	statusNoDevice    status = C.TUNE_ERR_NO_DEVICE
	statusOutOfMemory status = C.TUNE_ERR_OUT_OF_MEMORY
	statusCUDA        status = C.TUNE_ERR_CUDA
	statusCUBLAS      status = C.TUNE_ERR_CUBLAS
)

func (s status) String() string {
	switch s {
	case statusArgument:
		return "bad argument"
	case statusNoDevice:
		return "no device"
	case statusOutOfMemory:
		return "out of memory"
	case statusCUDA:
		return "CUDA error"
	case statusCUBLAS:
		return "cuBLASLt error"
	}
	return fmt.Sprintf("status %d", int(s))
}

// libError is a failed library call: its status and last-error message.
type libError struct {
	status status
	msg    string
}

func (e *libError) Error() string { return e.msg }

// Is makes a no-device failure match ErrNoDevice.
func (e *libError) Is(target error) bool { return target == ErrNoDevice && e.status == statusNoDevice }

// call runs f, a call into the library, and turns a failed status into an
// error with the library's message. The library keeps its last error per
// thread, so the goroutine stays on its thread until the message is read.
func (l *library) call(f func() C.int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := f()
	if st == C.TUNE_OK {
		return nil
	}
	return &libError{status: status(st), msg: C.GoString(C.tl_last_error(l.lib))}
}

// deviceCount returns the number of CUDA devices.
func (l *library) deviceCount() (int, error) {
	var n C.int
	err := l.call(func() C.int { return C.tl_device_count(l.lib, &n) })
	return int(n), err
}

var errNoContext = errors.New("cuda: the backend is closed")
