//go:build cgo

package dist

/*
#cgo LDFLAGS: -ldl
#include "mpi_shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// mpiComm is the Comm of an MPI run. Every MPI call runs on the thread
// that initialized MPI (MPI_THREAD_FUNNELED), with a timeout.
type mpiComm struct {
	lib        *C.dm_lib
	path       string
	version    string
	rank, size int
	th         *thread
}

var (
	mpiMu   sync.Mutex
	mpiUsed bool // MPI initializes once per process
)

// openMPI loads the library, starts the MPI thread and initializes MPI.
func openMPI(timeout time.Duration) (*mpiComm, error) {
	mpiMu.Lock()
	defer mpiMu.Unlock()
	if mpiUsed {
		return nil, fmt.Errorf("dist: MPI was already initialized in this process")
	}
	path := libraryPath(envMPILib, mpiSoname)
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [1024]C.char
	h := C.dm_open(cpath, &msg[0], C.size_t(len(msg)))
	if h == nil {
		return nil, fmt.Errorf("dist: %w: %s; install Open MPI (Debian and Ubuntu: apt-get install openmpi-bin) or set %s to its libmpi.so",
			ErrNoMPI, C.GoString(&msg[0]), envMPILib)
	}
	lib := (*C.dm_lib)(C.calloc(1, C.size_t(unsafe.Sizeof(C.dm_lib{}))))
	if missing := C.dm_bind(h, lib); missing != nil {
		C.free(unsafe.Pointer(lib))
		return nil, fmt.Errorf("dist: %s lacks %s: tune speaks Open MPI's ABI (libmpi.so.40), and this library is another MPI's", path, C.GoString(missing))
	}
	mpiUsed = true
	m := &mpiComm{lib: lib, path: path, th: newThread(timeout)}
	m.th.who = "MPI"
	var rc, provided, rank, size C.int
	var ver [C.DM_MAX_STRING + 1]C.char
	err := m.call("MPI_Init_thread", func() C.int {
		rc = C.dm_init(lib, &provided)
		if rc == 0 {
			C.dm_rank(lib, &rank)
			C.dm_size(lib, &size)
			C.dm_version(lib, &ver[0])
		}
		return 0
	})
	if err != nil {
		return nil, err
	}
	switch {
	case rc == -1:
		return nil, fmt.Errorf("dist: MPI was already initialized in this process")
	case rc != 0:
		return nil, fmt.Errorf("dist: MPI_Init_thread (%s): error %d", path, int(rc))
	case provided < C.DM_THREAD_FUNNELED:
		return nil, fmt.Errorf("dist: %s gives thread level %d, tune needs MPI_THREAD_FUNNELED", path, int(provided))
	}
	m.rank, m.size = int(rank), int(size)
	m.th.who = fmt.Sprintf("rank %d of %d", m.rank, m.size)
	m.version, _, _ = strings.Cut(C.GoString(&ver[0]), ",")
	return m, nil
}

// call runs f, an MPI call, on the MPI thread and turns a failed MPI
// status into an error with MPI's message.
func (m *mpiComm) call(what string, f func() C.int) error {
	var rc C.int
	if err := m.th.run(what, func() { rc = f() }); err != nil {
		return err
	}
	if rc != 0 {
		var s [C.DM_MAX_STRING + 1]C.char
		C.dm_error_string(m.lib, rc, &s[0])
		return fmt.Errorf("dist: %s: %s: %s", m.th.who, what, C.GoString(&s[0]))
	}
	return nil
}

func (m *mpiComm) Rank() int { return m.rank }
func (m *mpiComm) Size() int { return m.size }

func (m *mpiComm) Name() string {
	return fmt.Sprintf("MPI (%s, %s), %d ranks", m.version, m.path, m.size)
}

// maxCount is the most elements one MPI call takes (its count is an int).
const maxCount = 1 << 30

// chunked calls f on each run of at most maxCount elements of buf.
func chunked[T any](buf []T, f func(part []T) error) error {
	for lo := 0; lo < len(buf); lo += maxCount {
		if err := f(buf[lo:min(lo+maxCount, len(buf))]); err != nil {
			return err
		}
	}
	return nil
}

func (m *mpiComm) AllReduce(buf []float32) error {
	return chunked(buf, func(part []float32) error {
		return m.call(fmt.Sprintf("all-reduce of %d float32s", len(part)), func() C.int {
			return C.dm_allreduce_f32(m.lib, (*C.float)(unsafe.Pointer(&part[0])), C.int(len(part)))
		})
	})
}

func (m *mpiComm) AllReduce64(buf []float64) error {
	return chunked(buf, func(part []float64) error {
		return m.call(fmt.Sprintf("all-reduce of %d float64s", len(part)), func() C.int {
			return C.dm_allreduce_f64(m.lib, (*C.double)(unsafe.Pointer(&part[0])), C.int(len(part)))
		})
	})
}

func (m *mpiComm) Broadcast(buf []byte, root int) error {
	if root < 0 || root >= m.size {
		panic(fmt.Sprintf("dist: broadcast from rank %d of %d", root, m.size))
	}
	return chunked(buf, func(part []byte) error {
		return m.call(fmt.Sprintf("broadcast of %d bytes from rank %d", len(part), root), func() C.int {
			return C.dm_bcast(m.lib, unsafe.Pointer(&part[0]), C.int(len(part)), C.int(root))
		})
	})
}

func (m *mpiComm) Barrier() error {
	return m.call("barrier", func() C.int { return C.dm_barrier(m.lib) })
}

// abortGrace is how long Abort lets MPI_Abort stop the other ranks before
// this process exits by itself.
const abortGrace = 10 * time.Second

// Abort calls MPI_Abort, which makes the launcher stop every rank. When the
// MPI thread is stuck in a collective, or MPI_Abort does not end the
// process in time, the process exits: the launcher then stops the others
// (a rank that ends without MPI_Finalize ends the job).
func (m *mpiComm) Abort(code int) {
	if m.th.idle() {
		select {
		case m.th.calls <- func() { C.dm_abort(m.lib, C.int(code)) }:
			time.Sleep(abortGrace)
		case <-time.After(abortGrace):
		}
	}
	os.Exit(code)
}

// Close finalizes MPI. After a collective timed out the MPI thread is
// still inside it, and Close returns that timeout instead.
func (m *mpiComm) Close() error {
	err := m.call("MPI_Finalize", func() C.int { return C.dm_finalize(m.lib) })
	m.th.close()
	return err
}
