package cpu_test

import (
	"testing"

	"github.com/tune-dev/tune/backend/cpu"
)

// BenchmarkLinear times one Qwen2.5-0.5B MLP projection (256 tokens,
// 896→4864); b.SetBytes counts FLOPs so the MB/s column reads as MFLOP/s.
func BenchmarkLinear(b *testing.B) {
	c := cpu.New(0)
	rows, in, out := 256, 896, 4864
	x, w, y := c.Alloc(rows*in), c.Alloc(out*in), c.Alloc(rows*out)
	xs, ws := cpu.Data(x), cpu.Data(w)
	for i := range xs {
		xs[i] = float32(i%7) * 0.1
	}
	for i := range ws {
		ws[i] = float32(i%5) * 0.01
	}
	b.SetBytes(int64(2 * rows * in * out))
	for b.Loop() {
		c.Linear(y, x, w, nil, rows, in, out)
	}
}
