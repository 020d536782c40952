package cpu_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/conformance"
	"github.com/tune-dev/tune/backend/cpu"
)

func TestConformance(t *testing.T) {
	conformance.Test(t, cpu.New(0), conformance.CPUTolerances)
}

func TestConformanceOneThread(t *testing.T) {
	conformance.Test(t, cpu.New(1), conformance.CPUTolerances)
}

func TestConformancePortableKernels(t *testing.T) {
	saved := *cpu.UseAsm
	*cpu.UseAsm = false
	defer func() { *cpu.UseAsm = saved }()
	conformance.Test(t, cpu.New(0), conformance.CPUTolerances)
}

// TestLinearRowsIndependent checks that a row of Linear's output is the
// same bits whatever rows surround it: alone, first or last of an odd
// batch, paired in a 2×4 tile. Batched serving relies on it (a greedy
// answer in a batch equals the same request alone). Widths that are not
// multiples of 8 or 4 exercise the kernels' tails.
func TestLinearRowsIndependent(t *testing.T) {
	for _, asm := range []bool{true, false} {
		saved := *cpu.UseAsm
		*cpu.UseAsm = asm && saved
		for _, in := range []int{16, 37} {
			const rows, out = 5, 11
			c := cpu.New(0)
			rng := rand.New(rand.NewPCG(uint64(in), 7))
			fill := func(n int) backend.Buffer {
				v := make([]float32, n)
				for i := range v {
					v[i] = rng.Float32()*2 - 1
				}
				b := c.Alloc(n)
				c.Upload(b, v)
				return b
			}
			x, w, bias := fill(rows*in), fill(out*in), fill(out)
			all := c.Alloc(rows * out)
			c.Linear(all, x, w, bias, rows, in, out)
			for r := 0; r < rows; r++ {
				one := c.Alloc(out)
				c.Linear(one, c.Slice(x, r*in, in), w, bias, 1, in, out)
				require.Equal(t, cpu.Data(c.Slice(all, r*out, out)), cpu.Data(one), "row %d of %d (in %d, asm %v)", r, rows, in, *cpu.UseAsm)
			}
		}
		*cpu.UseAsm = saved
	}
}
