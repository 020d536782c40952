//go:build cgo

package dist

import (
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestOpenMissingMPI(t *testing.T) {
	l := Launch{Rank: 0, Size: 2, From: "RANK, WORLD_SIZE"}
	t.Setenv(envMPILib, filepath.Join(t.TempDir(), "absent.so"))
	_, err := Open(l, time.Second)
	require.True(t, errors.Is(err, ErrNoMPI), "%v", err)
	require.ErrorContains(t, err, "apt-get install openmpi-bin) or set TUNE_MPI_LIB")
	require.ErrorContains(t, err, "(launched as rank 0 by RANK, WORLD_SIZE)")
	t.Setenv(envMPILib, "libm.so.6") // a library, but no MPI
	_, err = Open(l, time.Second)
	require.ErrorContains(t, err, "libm.so.6 lacks MPI_Init_thread: tune speaks Open MPI's ABI")
	_, err = Open(l, 0)
	require.ErrorContains(t, err, "timeout 0s must be positive")
}

// fakeNCCL builds testdata/fakenccl.c, a one-rank stand-in for NCCL and
// the CUDA driver, and points dist at it.
func fakeNCCL(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fake NCCL is a Linux shared library")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: building the fake NCCL needs it")
	}
	so := filepath.Join(t.TempDir(), "libfakenccl.so")
	out, err := exec.Command(gcc, "-shared", "-fPIC", "-O1", "-o", so, "testdata/fakenccl.c").CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Setenv(envNCCLLib, so)
	t.Setenv(envDriverLib, so)
}

// TestNCCLShim runs the NCCL side against the fake: loading, the unique id
// handed out through the communicator, the all-reduce (a one-rank
// all-reduce leaves the buffer as it is; the fake checks the data type,
// the operation, the stream and the synchronization before it), its
// timeout, and the messages when a library is missing.
func TestNCCLShim(t *testing.T) {
	fakeNCCL(t)
	n, err := OpenNCCL(Single{}, nil, time.Second)
	require.NoError(t, err)
	require.Contains(t, n.Name(), "NCCL 2.23.4 (")
	buf := []float32{1.5, -2, 3}
	p := uintptr(unsafe.Pointer(&buf[0]))
	require.NoError(t, n.allReduce(p, len(buf)))
	require.NoError(t, n.allReduce(p, len(buf)), "a second all-reduce synchronizes again")
	runtime.KeepAlive(buf)
	require.Equal(t, []float32{1.5, -2, 3}, buf)
	require.NoError(t, n.Close())

	t.Setenv("FAKE_NCCL_HANG", "1")
	n, err = OpenNCCL(Single{}, nil, 50*time.Millisecond)
	require.NoError(t, err)
	err = n.allReduce(p, len(buf))
	require.ErrorIs(t, err, ErrTimeout)
	require.ErrorContains(t, err, "NCCL all-reduce of 3 float32s: collective timed out")

	t.Setenv(envNCCLLib, filepath.Join(t.TempDir(), "absent.so"))
	_, err = OpenNCCL(Single{}, nil, time.Second)
	require.ErrorIs(t, err, ErrNoNCCL)
	require.ErrorContains(t, err, "or set TUNE_NCCL_LIB to its libnccl.so")
	t.Setenv(envNCCLLib, "libm.so.6")
	_, err = OpenNCCL(Single{}, nil, time.Second)
	require.True(t, strings.Contains(err.Error(), "lacks ncclGetVersion"), "%v", err)
}
