package dist

import (
	"os"
	"sync"
	"testing"

	"github.com/tune-dev/tune/backend/cpu"
)

// benchComm joins the mpirun launch the benchmark binary runs in, once per
// process.
var benchComm = sync.OnceValues(func() (Comm, error) {
	l, err := LaunchFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return Open(l, DefaultTimeout)
})

// BenchmarkAllReduce times the gradient all-reduce of Qwen2.5-7B's adapter
// at r 16 on all seven projections (40,370,176 float32s) through a
// HostReducer over the ranks of an mpirun launch; alone it skips. Every
// rank must run the same number of iterations, so give a count:
//
//	go test -c -o bin/dist.test ./dist
//	mpirun -np 2 bin/dist.test -test.run '^$' -test.bench AllReduce -test.benchtime 5x
func BenchmarkAllReduce(b *testing.B) {
	c, err := benchComm()
	if err != nil {
		b.Fatal(err)
	}
	if c.Size() == 1 {
		b.Skip("one process: launch the benchmark binary under mpirun")
	}
	const n = 40370176
	be := cpu.New(1)
	buf := be.Alloc(n)
	r := NewHostReducer(c, be)
	b.SetBytes(4 * n)
	if err := c.Barrier(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.AllReduceBuffer(buf, n); err != nil {
			b.Fatal(err)
		}
	}
}
