package conformance

import (
	"math"

	"github.com/tune-dev/tune/backend"
)

// The oracle: each op written as plainly as possible in float64, straight
// from the definitions in package backend's documentation.

func refRMSNorm(x, w []float64, rows, dim int, eps float64) []float64 {
	out := make([]float64, rows*dim)
	for r := 0; r < rows; r++ {
		var ss float64
		for j := 0; j < dim; j++ {
			ss += x[r*dim+j] * x[r*dim+j]
		}
		inv := 1 / math.Sqrt(ss/float64(dim)+eps)
		for j := 0; j < dim; j++ {
			out[r*dim+j] = w[j] * x[r*dim+j] * inv
		}
	}
	return out
}

func refLinear(x, w, b []float64, rows, in, outDim int) []float64 {
	out := make([]float64, rows*outDim)
	for r := 0; r < rows; r++ {
		for o := 0; o < outDim; o++ {
			var s float64
			for k := 0; k < in; k++ {
				s += x[r*in+k] * w[o*in+k]
			}
			if b != nil {
				s += b[o]
			}
			out[r*outDim+o] = s
		}
	}
	return out
}

func refRoPE(x []float64, pos []int32, rows, heads int, inv []float32) []float64 {
	out := append([]float64(nil), x...)
	half := len(inv)
	headDim := 2 * half
	for r := 0; r < rows; r++ {
		for h := 0; h < heads; h++ {
			base := r*heads*headDim + h*headDim
			for j := 0; j < half; j++ {
				// The angle is rounded to float32 like Hugging Face's
				// tables (see backend.Backend.RoPE); the rest is float64.
				a := float64(float32(pos[r]) * inv[j])
				x1, x2 := x[base+j], x[base+j+half]
				out[base+j] = x1*math.Cos(a) - x2*math.Sin(a)
				out[base+j+half] = x2*math.Cos(a) + x1*math.Sin(a)
			}
		}
	}
	return out
}

func refAttention(q, k, v []float64, mask []int32, s backend.AttnShape) []float64 {
	out, _ := refAttentionLSE(q, k, v, mask, s)
	return out
}

// refAttentionLSE is refAttention that also returns each query's
// log-sum-exp [Batch, Heads, Q] (0 for a query with no key).
func refAttentionLSE(q, k, v []float64, mask []int32, s backend.AttnShape) (out, lse []float64) {
	qd, kd := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	out = make([]float64, s.Batch*s.Q*qd)
	lse = make([]float64, s.Batch*s.Heads*s.Q)
	rep := s.Heads / s.KVHeads
	for b := 0; b < s.Batch; b++ {
		for h := 0; h < s.Heads; h++ {
			kh := h / rep
			for i := 0; i < s.Q; i++ {
				var keys []int
				var scores []float64
				var seg int32
				if mask != nil && s.QStart+i < s.KVStride {
					seg = mask[b*s.KVStride+s.QStart+i]
				}
				for j := 0; j < s.KV && j <= s.QStart+i; j++ {
					if mask != nil && (mask[b*s.KVStride+j] == 0 || (seg != 0 && mask[b*s.KVStride+j] != seg)) {
						continue
					}
					var d float64
					for e := 0; e < s.HeadDim; e++ {
						d += q[(b*s.Q+i)*qd+h*s.HeadDim+e] * k[(b*s.KVStride+j)*kd+kh*s.HeadDim+e]
					}
					keys = append(keys, j)
					scores = append(scores, d/math.Sqrt(float64(s.HeadDim)))
				}
				if len(keys) == 0 {
					continue
				}
				mx := math.Inf(-1)
				for _, sc := range scores {
					mx = math.Max(mx, sc)
				}
				var sum float64
				for n := range scores {
					scores[n] = math.Exp(scores[n] - mx)
					sum += scores[n]
				}
				lse[(b*s.Heads+h)*s.Q+i] = mx + math.Log(sum)
				for n, j := range keys {
					for e := 0; e < s.HeadDim; e++ {
						out[(b*s.Q+i)*qd+h*s.HeadDim+e] += scores[n] / sum * v[(b*s.KVStride+j)*kd+kh*s.HeadDim+e]
					}
				}
			}
		}
	}
	return out, lse
}

func refSiLUMul(g, u []float64) []float64 {
	out := make([]float64, len(g))
	for i := range g {
		out[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
	}
	return out
}

func refCrossEntropy(logits []float64, targets []int32, rows, vocab int) []float64 {
	out := make([]float64, rows)
	for r := 0; r < rows; r++ {
		if targets[r] == backend.IgnoreIndex {
			continue
		}
		row := logits[r*vocab : (r+1)*vocab]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(v - mx)
		}
		out[r] = mx + math.Log(sum) - row[targets[r]]
	}
	return out
}
