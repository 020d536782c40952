//go:build cgo

package cuda

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "tl.h"
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
