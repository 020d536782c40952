//go:build !amd64

package cpu

// dot2x4 is the portable tile on processors without an assembly kernel.
func dot2x4(x0, x1, w0, w1, w2, w3 []float32) [8]float32 {
	return dot2x4Go(x0, x1, w0, w1, w2, w3)
}
