package dist

import (
	"errors"
	"os"
)

// The libraries loaded at run time, by their sonames (the dynamic loader
// searches its usual paths), or from the path in their variable.
const (
	mpiSoname  = "libmpi.so.40" // Open MPI 3, 4 and 5
	envMPILib  = "TUNE_MPI_LIB"
	ncclSoname = "libnccl.so.2"
	envNCCLLib = "TUNE_NCCL_LIB"
	// The CUDA driver, whose streams and contexts the NCCL side uses.
	driverSoname = "libcuda.so.1"
	envDriverLib = "TUNE_CUDA_DRIVER_LIB"
)

var (
	// ErrNoMPI is matched by Open's error when libmpi could not be loaded.
	ErrNoMPI = errors.New("Open MPI not found")
	// ErrNoNCCL is matched by OpenNCCL's error when libnccl could not be
	// loaded.
	ErrNoNCCL = errors.New("NCCL not found")
)

// libraryPath is the value of the variable env when set, else soname.
func libraryPath(env, soname string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	return soname
}
