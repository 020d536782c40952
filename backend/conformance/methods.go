package conformance

import "github.com/tune-dev/tune/backend"

// The ops of backend.Forward and backend.Backward are one method each: a
// backend may declare and implement part of those groups (backend.Require
// checks the declared ops' methods alone), so each check takes only the
// method it tests.
type (
	embeddingOp interface {
		Embedding(out, table backend.Buffer, ids []int32, dim int)
	}
	rmsNormOp interface {
		RMSNorm(out, x, w backend.Buffer, rows, dim int, eps float32)
	}
	linearOp interface {
		Linear(out, x, w, bias backend.Buffer, rows, in, outDim int)
	}
	ropeOp interface {
		RoPE(x backend.Buffer, pos []int32, rows, heads int, invFreq []float32)
	}
	attentionOp interface {
		Attention(out, lse, q, k, v backend.Buffer, keyMask []int32, s backend.AttnShape)
	}
	siluMulOp interface {
		SiLUMul(out, gate, up backend.Buffer, n int)
	}
	addOp interface {
		Add(out, a, b backend.Buffer, n int)
	}
	addScaledOp interface {
		AddScaled(out, x backend.Buffer, s float32, n int)
	}
	crossEntropyOp interface {
		CrossEntropy(loss []float64, logits backend.Buffer, targets []int32, rows, vocab int)
	}
	rmsNormBackwardOp interface {
		RMSNormBackward(dx, dy, x, w backend.Buffer, rows, dim int, eps float32)
	}
	linearBackwardOp interface {
		LinearBackward(dx, dy, w backend.Buffer, rows, in, outDim int)
	}
	linearWeightGradOp interface {
		LinearWeightGrad(dw, dy, x backend.Buffer, rows, in, outDim int)
	}
	ropeBackwardOp interface {
		RoPEBackward(dx backend.Buffer, pos []int32, rows, heads int, invFreq []float32)
	}
	attentionBackwardOp interface {
		AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse backend.Buffer, keyMask []int32, s backend.AttnShape)
	}
	siluMulBackwardOp interface {
		SiLUMulBackward(dgate, dup, dy, gate, up backend.Buffer, n int)
	}
	crossEntropyBackwardOp interface {
		CrossEntropyBackward(dlogits, logits backend.Buffer, targets []int32, rows, vocab int, scale float32)
	}
	dropoutOp interface {
		Dropout(out, x backend.Buffer, p float32, seed uint64, n int)
	}
)
