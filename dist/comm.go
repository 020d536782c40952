package dist

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Comm is a communicator over the processes (ranks) of one run. Every
// rank calls its collectives in the same order with the same sizes; each
// call returns once every rank has made it, or with an error after the
// timeout it was opened with (a rank that died, hangs or fell out of step).
// A Comm is used by one goroutine at a time.
type Comm interface {
	// Rank is this process's rank, from 0; Size the number of ranks.
	Rank() int
	Size() int
	// AllReduce sums buf element-wise over every rank, in place: every
	// rank ends with the same sums.
	AllReduce(buf []float32) error
	// AllReduce64 is AllReduce in float64 (losses and token counts,
	// exact to 2^53).
	AllReduce64(buf []float64) error
	// Broadcast copies root's buf into every other rank's buf (the same
	// length on every rank).
	Broadcast(buf []byte, root int) error
	// Barrier returns once every rank has called it.
	Barrier() error
	// Abort ends every rank of the run after this rank's fatal error,
	// with exit status code; it does not return.
	Abort(code int)
	// Close ends this rank's part in the run (after the last collective).
	Close() error
	// Name says what carries the collectives, for logs.
	Name() string
}

// DefaultTimeout is how long a collective waits for the other ranks before
// it fails: PyTorch's default process-group timeout (ddp_timeout 1800 s).
// It must cover the longest time one rank works alone while the others
// wait, such as rank 0 writing a checkpoint or merging the model.
const DefaultTimeout = 30 * time.Minute

// ErrTimeout is matched (errors.Is) by the error of a collective that got
// no answer from the other ranks within the timeout.
var ErrTimeout = errors.New("collective timed out")

// Single is the communicator of a run of one process: every collective
// returns at once and leaves its buffer as it is.
type Single struct{}

var _ Comm = Single{}

// Single's methods implement Comm for one rank.

func (Single) Rank() int                   { return 0 }
func (Single) Size() int                   { return 1 }
func (Single) AllReduce([]float32) error   { return nil }
func (Single) AllReduce64([]float64) error { return nil }
func (Single) Broadcast([]byte, int) error { return nil }
func (Single) Barrier() error              { return nil }
func (Single) Abort(code int)              { os.Exit(code) }
func (Single) Close() error                { return nil }
func (Single) Name() string                { return "single process" }

// Open returns the communicator the launch l asks for: Single for one
// process, else MPI (Open MPI's libmpi.so.40, loaded now) with collectives
// that fail after timeout. MPI's view of the rank and size must agree with
// the launcher's variables.
func Open(l Launch, timeout time.Duration) (Comm, error) {
	if !l.Parallel() {
		return Single{}, nil
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("dist: collective timeout %v must be positive", timeout)
	}
	c, err := openMPI(timeout)
	if err != nil {
		return nil, fmt.Errorf("%w (launched as rank %d by %s)", err, l.Rank, l.From)
	}
	if (l.Size != 0 && c.Size() != l.Size) || c.Rank() != l.Rank {
		got := fmt.Sprintf("rank %d of %d", c.Rank(), c.Size())
		c.Close()
		return nil, fmt.Errorf("dist: %s say rank %d of %d but MPI says %s: tune's ranks talk over MPI, so launch them with mpirun -np N (or srun --mpi=pmix), not a launcher that only sets these variables",
			l.From, l.Rank, l.Size, got)
	}
	return c, nil
}
