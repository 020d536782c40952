package cpu

import "golang.org/x/sys/cpu"

// useAsm selects the AVX2+FMA tile where the processor has both.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dot2x4avx accumulates the 2×4 tile over the first n (a multiple of 8)
// elements with eight 8-lane FMA accumulators and stores them, unreduced,
// to acc: acc[8*j : 8*j+8] holds the lanes of output j (dot2x4's order).
//
//go:noescape
func dot2x4avx(x0, x1, w0, w1, w2, w3 *float32, n int, acc *[64]float32)

// dot2x4 is dot2x4Go, vectorized where the processor allows: the lanes are
// summed in another order, so results differ from dot2x4Go by float32
// rounding only.
func dot2x4(x0, x1, w0, w1, w2, w3 []float32) [8]float32 {
	n := len(x0)
	if !useAsm || n < 8 {
		return dot2x4Go(x0, x1, w0, w1, w2, w3)
	}
	x1, w0, w1, w2, w3 = x1[:n], w0[:n], w1[:n], w2[:n], w3[:n]
	var acc [64]float32
	m := n &^ 7
	dot2x4avx(&x0[0], &x1[0], &w0[0], &w1[0], &w2[0], &w3[0], m, &acc)
	var out [8]float32
	for j := range out {
		l := acc[8*j : 8*j+8]
		out[j] = ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))
	}
	if m < n {
		t := dot2x4Go(x0[m:], x1[m:], w0[m:], w1[m:], w2[m:], w3[m:])
		for j := range out {
			out[j] += t[j]
		}
	}
	return out
}
