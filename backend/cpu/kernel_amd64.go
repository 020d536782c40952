package cpu

import "golang.org/x/sys/cpu"

// useAsm selects the AVX2+FMA tile where the processor has both.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dot2x4avx computes the 2×4 tile over the first n (a multiple of 8)
// elements with eight 8-lane FMA accumulators, in dot2x4's output order.
//
//go:noescape
func dot2x4avx(x0, x1, w0, w1, w2, w3 *float32, n int, out *[8]float32)

// dot2x4 is dot2x4Go, vectorized where the processor allows: the lanes are
// summed in another order, so results differ from dot2x4Go by float32
// rounding only.
func dot2x4(x0, x1, w0, w1, w2, w3 []float32) [8]float32 {
	n := len(x0)
	if !useAsm || n < 8 {
		return dot2x4Go(x0, x1, w0, w1, w2, w3)
	}
	x1, w0, w1, w2, w3 = x1[:n], w0[:n], w1[:n], w2[:n], w3[:n]
	var out [8]float32
	m := n &^ 7
	dot2x4avx(&x0[0], &x1[0], &w0[0], &w1[0], &w2[0], &w3[0], m, &out)
	if m < n {
		t := dot2x4Go(x0[m:], x1[m:], w0[m:], w1[m:], w2[m:], w3[m:])
		for j := range out {
			out[j] += t[j]
		}
	}
	return out
}

//go:noescape
func dotavx(a, b *float32, n int) float32

//go:noescape
func axpyavx(a float32, x, y *float32, n int)

// dot is dotGo, vectorized where the processor allows.
func dot(a, b []float32) float32 {
	n := len(a)
	if !useAsm || n < 8 {
		return dotGo(a, b)
	}
	b = b[:n]
	m := n &^ 7
	s := dotavx(&a[0], &b[0], m)
	if m < n {
		s += dotGo(a[m:], b[m:])
	}
	return s
}

// axpy is axpyGo, vectorized where the processor allows.
func axpy(a float32, x, y []float32) {
	n := len(x)
	if !useAsm || n < 8 {
		axpyGo(a, x, y)
		return
	}
	y = y[:n]
	m := n &^ 7
	axpyavx(a, &x[0], &y[0], m)
	if m < n {
		axpyGo(a, x[m:], y[m:])
	}
}

// nn4x16avx computes one 4×16 tile of gemmNN over k steps (strides in
// bytes; see kernel_amd64.s).
//
//go:noescape
func nn4x16avx(k int, a *float32, sa, sk int, b *float32, ldb int, c *float32, ldc int, acc bool)

// nn4x16 is nnTileGo for a full 4×16 tile, vectorized where the processor
// allows (the same products summed in the same k order, with fused
// multiply-adds: results differ from nnTileGo by float32 rounding only).
func nn4x16(k int, a []float32, ao, sa, sk int, b []float32, bo, ldb int, c []float32, co, ldc int, acc bool) {
	if !useAsm || k == 0 {
		nnTileGo(k, a, ao, sa, sk, b, bo, ldb, c, co, ldc, 4, 16, acc)
		return
	}
	// Bounds: the last elements each operand reaches.
	_ = a[ao+3*sa+(k-1)*sk]
	_ = b[bo+(k-1)*ldb+15]
	_ = c[co+3*ldc+15]
	nn4x16avx(k, &a[ao], 4*sa, 4*sk, &b[bo], 4*ldb, &c[co], 4*ldc, acc)
}
