//go:build !cgo

package dist

import (
	"errors"
	"time"

	"github.com/tune-dev/tune/cuda"
)

var errNoCgo = errors.New("dist: tune was built without cgo; multi-process runs load MPI and NCCL through it (build with CGO_ENABLED=1)")

func openMPI(time.Duration) (Comm, error) { return nil, errNoCgo }

// OpenNCCL reports that NCCL needs cgo.
func OpenNCCL(Comm, *cuda.Backend, time.Duration) (Reducer, error) { return nil, errNoCgo }
