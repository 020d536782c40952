package dist

import (
	"fmt"
	"time"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/cuda"
)

// Reducer sums a buffer of a backend over the ranks, in place: the
// gradient all-reduce of data-parallel training.
type Reducer interface {
	// AllReduceBuffer sums the first n elements of buf over the ranks.
	AllReduceBuffer(buf backend.Buffer, n int) error
	// Name says how, for logs.
	Name() string
	// Close releases what the reducer holds.
	Close() error
}

// BucketElems is the most elements one all-reduce of a Reducer carries:
// 25 MiB of float32, PyTorch DDP's default bucket (bucket_cap_mb). A
// buffer goes in buckets of this size, so the host staging buffer stays
// small and each call's count fits MPI's int.
const BucketElems = 25 << 20 / 4

// HostReducer all-reduces backend buffers through c in host memory: CPU
// buffers in place, other backends' through a host bucket (download,
// all-reduce, upload).
type HostReducer struct {
	c      Comm
	b      backend.Memory
	bucket int       // elements per all-reduce: BucketElems
	host   []float32 // staging bucket for non-CPU buffers
}

// NewHostReducer returns a HostReducer for buffers of b over c.
func NewHostReducer(c Comm, b backend.Memory) *HostReducer {
	return &HostReducer{c: c, b: b, bucket: BucketElems}
}

// AllReduceBuffer implements Reducer.
func (r *HostReducer) AllReduceBuffer(buf backend.Buffer, n int) error {
	if r.c.Size() == 1 || n == 0 {
		return nil
	}
	if buf.Len() < n {
		panic(fmt.Sprintf("dist: all-reduce of %d elements of a buffer of %d", n, buf.Len()))
	}
	_, onCPU := r.b.(*cpu.Backend)
	for lo := 0; lo < n; lo += r.bucket {
		k := min(r.bucket, n-lo)
		if onCPU {
			if err := r.c.AllReduce(cpu.Data(buf)[lo : lo+k]); err != nil {
				return err
			}
			continue
		}
		if r.host == nil {
			r.host = make([]float32, min(r.bucket, n))
		}
		view := r.b.Slice(buf, lo, k)
		r.b.Download(r.host[:k], view)
		if err := r.c.AllReduce(r.host[:k]); err != nil {
			return err
		}
		r.b.Upload(view, r.host[:k])
	}
	return nil
}

// Name implements Reducer.
func (r *HostReducer) Name() string {
	if _, onCPU := r.b.(*cpu.Backend); onCPU {
		return r.c.Name()
	}
	return r.c.Name() + " through host memory"
}

// Close implements Reducer.
func (r *HostReducer) Close() error { return nil }

// The gradient transports of --ddp_backend.
const (
	BackendAuto = "auto" // NCCL for the CUDA backend's buffers, MPI for host ones
	BackendMPI  = "mpi"  // MPI, through host memory for device buffers
	BackendNCCL = "nccl" // NCCL: the CUDA backend only
)

// NewReducer returns the gradient reducer for buffers of b over c, by
// kind (BackendAuto, BackendMPI or BackendNCCL). NCCL collectives fail
// after timeout. A run of one rank needs none and gets a HostReducer,
// which then does nothing.
func NewReducer(c Comm, b backend.Memory, kind string, timeout time.Duration) (Reducer, error) {
	cb, onGPU := any(b).(*cuda.Backend) // any: without cgo, cuda.Backend is a stub that is no backend.Memory
	switch {
	case kind != BackendAuto && kind != BackendMPI && kind != BackendNCCL:
		return nil, fmt.Errorf("dist: --ddp_backend %q: want auto, mpi or nccl", kind)
	case kind == BackendNCCL && !onGPU:
		return nil, fmt.Errorf("dist: --ddp_backend nccl sums GPU buffers, and this run is on %s (use auto or mpi)", b.Name())
	case c.Size() == 1 || kind == BackendMPI || !onGPU:
		return NewHostReducer(c, b), nil
	}
	r, err := OpenNCCL(c, cb, timeout)
	if err != nil {
		return nil, fmt.Errorf("%w (--ddp_backend mpi sums the gradients over MPI through host memory instead)", err)
	}
	return r, nil
}
