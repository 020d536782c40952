//go:build cgo

package dist

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/cuda"
)

// TestNCCLOnGPU all-reduces a buffer of the CUDA backend through the real
// NCCL on one GPU (scripts/gpu-check.sh runs it): a one-rank all-reduce
// leaves the values as they are (whether it waits for the backend's
// stream needs two GPUs to show). It skips without a GPU, the CUDA library
// or NCCL.
func TestNCCLOnGPU(t *testing.T) {
	b, err := cuda.Open()
	if err != nil {
		t.Skipf("no CUDA backend here: %v", err)
	}
	defer b.Close()
	n, err := NewReducer(Single{}, b, BackendNCCL, time.Minute)
	require.NoError(t, err) // one rank: a HostReducer, which does nothing
	nc, err := OpenNCCL(Single{}, b, time.Minute)
	if errors.Is(err, ErrNoNCCL) {
		t.Skipf("no NCCL here: %v", err)
	}
	require.NoError(t, err)
	defer nc.Close()
	t.Logf("%s on %s", nc.Name(), b.Name())
	const size = 40 << 20 // the gradients of Qwen2.5-7B at r=16, about
	want := make([]float32, size)
	for i := range want {
		want[i] = float32(i%1000) - 500
	}
	buf := b.Alloc(size)
	defer b.Free(buf)
	b.Upload(buf, want)
	start := time.Now()
	require.NoError(t, nc.AllReduceBuffer(buf, size))
	t.Logf("all-reduce of %d float32s on 1 GPU: %v", size, time.Since(start))
	got := make([]float32, size)
	b.Download(got, buf)
	require.Equal(t, want, got)
	require.NoError(t, n.AllReduceBuffer(buf, size))
}
