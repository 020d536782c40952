//go:build cgo

package dist

/*
#cgo LDFLAGS: -ldl
#include "nccl_shim.h"
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/cuda"
)

// NCCL is an NCCL communicator over the GPUs of a run, one per rank: it
// all-reduces device buffers of the CUDA backend. Its calls run on a
// thread of their own, in the CUDA backend's context (device 0 of the
// process: each rank sees only its own GPU, see VisibleDevice).
type NCCL struct {
	lib     *C.dn_lib
	path    string
	version int
	th      *thread
	b       *cuda.Backend
	size    int
}

// OpenNCCL loads libnccl.so.2 (or TUNE_NCCL_LIB) and the CUDA driver, and
// makes an NCCL communicator over c's ranks for the GPU of backend b:
// rank 0 draws NCCL's unique id and c broadcasts it. Every rank calls it.
// Its error wraps ErrNoNCCL when the library is missing.
func OpenNCCL(c Comm, b *cuda.Backend, timeout time.Duration) (*NCCL, error) {
	path := libraryPath(envNCCLLib, ncclSoname)
	h, err := dlopenNCCL(path)
	if err != nil {
		return nil, fmt.Errorf("dist: %w: %v; install NCCL (NVIDIA's libnccl2 package, or pip's nvidia-nccl-cu12) or set %s to its libnccl.so", ErrNoNCCL, err, envNCCLLib)
	}
	dpath := libraryPath(envDriverLib, driverSoname)
	d, err := dlopenNCCL(dpath)
	if err != nil {
		return nil, fmt.Errorf("dist: the CUDA driver: %v (NCCL runs on NVIDIA GPUs with their driver)", err)
	}
	lib := (*C.dn_lib)(C.calloc(1, C.size_t(unsafe.Sizeof(C.dn_lib{}))))
	if missing := C.dn_bind(h, d, lib); missing != nil {
		C.free(unsafe.Pointer(lib))
		return nil, fmt.Errorf("dist: %s or %s lacks %s: not NCCL 2 and the CUDA driver", path, dpath, C.GoString(missing))
	}
	n := &NCCL{lib: lib, path: path, th: newThread(timeout), b: b, size: c.Size()}
	n.th.who = fmt.Sprintf("rank %d of %d (NCCL)", c.Rank(), c.Size())
	n.version = int(C.dn_version(lib))
	if err := n.do("opening the GPU for NCCL", func() C.int { return C.dn_device(lib, 0) }); err != nil {
		return nil, err
	}
	var id C.dn_unique_id
	idBytes := unsafe.Slice((*byte)(unsafe.Pointer(&id)), unsafe.Sizeof(id))
	if c.Rank() == 0 {
		if err := n.do("ncclGetUniqueId", func() C.int { return C.dn_unique(lib, &id) }); err != nil {
			return nil, err
		}
	}
	if err := c.Broadcast(idBytes, 0); err != nil {
		return nil, fmt.Errorf("dist: handing out NCCL's unique id: %w", err)
	}
	if err := n.do("ncclCommInitRank", func() C.int { return C.dn_init(lib, C.int(c.Size()), &id, C.int(c.Rank())) }); err != nil {
		return nil, err
	}
	return n, nil
}

func dlopenNCCL(path string) (unsafe.Pointer, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [1024]C.char
	h := C.dn_open(cpath, &msg[0], C.size_t(len(msg)))
	if h == nil {
		return nil, fmt.Errorf("%s", C.GoString(&msg[0]))
	}
	return h, nil
}

// do runs f on the NCCL thread and turns its failure into an error with
// the shim's message.
func (n *NCCL) do(what string, f func() C.int) error {
	var rc C.int
	if err := n.th.run(what, func() { rc = f() }); err != nil {
		return err
	}
	if rc != 0 {
		return fmt.Errorf("dist: %s: %s", n.th.who, C.GoString(&n.lib.err[0]))
	}
	return nil
}

// allReduce sums the n floats at device address p over the ranks, in
// place, and returns once they are summed.
func (n *NCCL) allReduce(p uintptr, count int) error {
	what := fmt.Sprintf("NCCL all-reduce of %d float32s", count)
	ms := C.int64_t(n.th.timeout / time.Millisecond)
	var rc C.int
	// The shim polls the deadline itself and aborts the communicator; the
	// wait here only covers a call that never comes back.
	if err := n.th.runWithin(what, 2*n.th.timeout, func() { rc = C.dn_allreduce(n.lib, C.uintptr_t(p), C.size_t(count), ms) }); err != nil {
		return err
	}
	switch rc {
	case 0:
		return nil
	case 2:
		return n.th.timedOut(what)
	}
	return fmt.Errorf("dist: %s: %s", n.th.who, C.GoString(&n.lib.err[0]))
}

// AllReduceBuffer sums the first n elements of buf, a float32 buffer of
// the CUDA backend, over the ranks in place.
func (n *NCCL) AllReduceBuffer(buf backend.Buffer, count int) error {
	if count == 0 {
		return nil
	}
	return n.allReduce(n.b.DevicePointer(buf, count), count)
}

// Name says which NCCL runs.
func (n *NCCL) Name() string {
	v := n.version
	return fmt.Sprintf("NCCL %d.%d.%d (%s) over %d GPUs", v/10000, v/100%100, v%100, n.path, n.size)
}

// Close destroys the communicator and its stream.
func (n *NCCL) Close() error {
	err := n.th.run("closing NCCL", func() { C.dn_close(n.lib) })
	n.th.close()
	return err
}
