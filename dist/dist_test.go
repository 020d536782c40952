package dist

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
)

func TestLaunchFromEnv(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want Launch
		err  string
	}{
		{env: nil, want: Launch{}},
		{env: map[string]string{"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1"},
			want: Launch{Rank: 1, Size: 4, LocalRank: 1, From: "OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE"}},
		{env: map[string]string{"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "1"}, want: Launch{}},
		{env: map[string]string{"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "3"},
			want: Launch{Rank: 3, Size: 8, LocalRank: 3, From: "RANK, WORLD_SIZE"}},
		// mpirun's variables win over torchrun's; without a local rank the
		// rank stands in for it.
		{env: map[string]string{"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_SIZE": "6", "RANK": "0", "WORLD_SIZE": "2"},
			want: Launch{Rank: 5, Size: 6, LocalRank: 5, From: "OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE"}},
		{env: map[string]string{"PMI_RANK": "2", "PMI_SIZE": "3", "MPI_LOCALRANKID": "0"},
			want: Launch{Rank: 2, Size: 3, LocalRank: 0, From: "PMI_RANK, PMI_SIZE"}},
		{env: map[string]string{"PMIX_RANK": "7", "SLURM_LOCALID": "3"}, want: Launch{Rank: 7, LocalRank: 3, From: "PMIX_RANK"}},
		{env: map[string]string{"RANK": "1"}, err: "RANK=1 is set but WORLD_SIZE is not"},
		{env: map[string]string{"RANK": "2", "WORLD_SIZE": "2"}, err: "RANK=2 is not a rank of WORLD_SIZE=2"},
		{env: map[string]string{"RANK": "x", "WORLD_SIZE": "2"}, err: `RANK="x" is not a non-negative integer`},
		{env: map[string]string{"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "-1"}, err: `LOCAL_RANK="-1"`},
	} {
		got, err := LaunchFromEnv(func(k string) string { return c.env[k] })
		if c.err != "" {
			require.ErrorContains(t, err, c.err, "%v", c.env)
			continue
		}
		require.NoError(t, err, "%v", c.env)
		require.Equal(t, c.want, got, "%v", c.env)
		require.Equal(t, c.want.From != "", got.Parallel())
	}
}

func TestVisibleDevice(t *testing.T) {
	for _, c := range []struct {
		visible string
		local   int
		want    string
	}{{"", 0, "0"}, {"", 3, "3"}, {"4,5,6,7", 2, "6"}, {"GPU-a1, GPU-b2", 1, "GPU-b2"}} {
		got, err := VisibleDevice(c.visible, c.local)
		require.NoError(t, err)
		require.Equal(t, c.want, got)
	}
	_, err := VisibleDevice("0,1", 2)
	require.ErrorContains(t, err, "local rank 2 has no GPU of its own: CUDA_VISIBLE_DEVICES=0,1 lists 2")
}

// TestOpenSingle: a process no launcher started runs alone and never loads
// MPI, present or not.
func TestOpenSingle(t *testing.T) {
	t.Setenv(envMPILib, filepath.Join(t.TempDir(), "absent.so"))
	c, err := Open(Launch{}, DefaultTimeout)
	require.NoError(t, err)
	require.Equal(t, Single{}, c)
	buf := []float32{1, 2}
	require.NoError(t, c.AllReduce(buf))
	require.Equal(t, []float32{1, 2}, buf)
	r, err := NewReducer(c, cpu.New(1), BackendAuto, time.Second)
	require.NoError(t, err)
	require.NoError(t, r.AllReduceBuffer(cpu.New(1).Alloc(3), 3))
}

// sumComm stands for a run of ranks that all hold the same buffer: an
// all-reduce multiplies by the number of ranks. It records the counts.
type sumComm struct {
	Single
	ranks int
	calls []int
}

func (c *sumComm) Size() int { return c.ranks }
func (c *sumComm) AllReduce(buf []float32) error {
	c.calls = append(c.calls, len(buf))
	for i := range buf {
		buf[i] *= float32(c.ranks)
	}
	return nil
}

// device is a backend that is not the CPU backend, so a HostReducer
// stages its buffers through host memory.
type device struct{ *cpu.Backend }

func TestHostReducer(t *testing.T) {
	for _, b := range []backend.Memory{cpu.New(1), device{cpu.New(1)}} {
		c := &sumComm{ranks: 3}
		r := NewHostReducer(c, b)
		r.bucket = 4
		buf := b.Alloc(11)
		b.Upload(buf, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
		require.NoError(t, r.AllReduceBuffer(buf, 10))
		got := make([]float32, 11)
		b.Download(got, buf)
		require.Equal(t, []float32{3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 11}, got, "%T", b)
		require.Equal(t, []int{4, 4, 2}, c.calls, "buckets of %T", b)
	}
	require.Equal(t, "single process through host memory", NewHostReducer(Single{}, device{cpu.New(1)}).Name())
}

func TestNewReducerKinds(t *testing.T) {
	c := &sumComm{ranks: 2}
	_, err := NewReducer(c, cpu.New(1), "gloo", time.Second)
	require.ErrorContains(t, err, `--ddp_backend "gloo": want auto, mpi or nccl`)
	_, err = NewReducer(c, cpu.New(1), BackendNCCL, time.Second)
	require.ErrorContains(t, err, "--ddp_backend nccl sums GPU buffers, and this run is on cpu")
	for _, k := range []string{BackendAuto, BackendMPI} {
		r, err := NewReducer(c, cpu.New(1), k, time.Second)
		require.NoError(t, err)
		require.IsType(t, &HostReducer{}, r)
	}
}

// TestThreadTimeout: a call that does not return within the timeout is an
// ErrTimeout naming it, and so is every later call (the thread is still
// inside the first); idle refuses the stuck thread without locking it.
func TestThreadTimeout(t *testing.T) {
	th := newThread(20 * time.Millisecond)
	th.who = "rank 1 of 2"
	release := make(chan struct{})
	defer close(release)
	err := th.run("all-reduce of 3 float32s", func() { <-release })
	require.True(t, errors.Is(err, ErrTimeout), "%v", err)
	require.ErrorContains(t, err, "dist: rank 1 of 2: all-reduce of 3 float32s: collective timed out: no answer from the other ranks within 20ms")
	require.ErrorIs(t, th.run("barrier", func() {}), ErrTimeout)
	require.False(t, th.idle())
	require.True(t, th.mu.TryLock(), "a thread idle refuses stays unlocked")
}
