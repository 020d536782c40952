package backend

import "math"

// InvFreq returns RoPE's inverse frequencies theta^(-2j/d), j < d/2,
// rounded to float32 as Hugging Face computes them: the table of RoPE
// without scaling.
func InvFreq(headDim int, theta float64) []float32 {
	inv := make([]float32, headDim/2)
	for j := range inv {
		e := float32(2*j) / float32(headDim)
		inv[j] = 1 / float32(math.Pow(theta, float64(e)))
	}
	return inv
}
