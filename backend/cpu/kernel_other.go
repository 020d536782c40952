//go:build !amd64

package cpu

// dot2x4 is the portable tile on processors without an assembly kernel.
func dot2x4(x0, x1, w0, w1, w2, w3 []float32) [8]float32 {
	return dot2x4Go(x0, x1, w0, w1, w2, w3)
}

// dot is the portable dot product on processors without an assembly kernel.
func dot(a, b []float32) float32 { return dotGo(a, b) }

// axpy is the portable y += a*x on processors without an assembly kernel.
func axpy(a float32, x, y []float32) { axpyGo(a, x, y) }

// useAsm is false: this processor has no assembly kernels (the tests set
// it to check the portable kernels everywhere).
var useAsm = false

// nn4x16 is the portable 4×16 gemmNN tile on processors without an
// assembly kernel.
func nn4x16(k int, a []float32, ao, sa, sk int, b []float32, bo, ldb int, c []float32, co, ldc int, acc bool) {
	nnTileGo(k, a, ao, sa, sk, b, bo, ldb, c, co, ldc, 4, 16, acc)
}
