//go:build cgo

package cuda

import "github.com/tune-dev/tune/backend"

// pendingOps is the backend with the methods of backend.Forward and
// backend.Backward that other parts of the CUDA work add (norms, RoPE,
// attention, the pointwise ops), so that conformance.Test, which checks a
// declared op only on a backend implementing its whole interface, can run
// the ops this backend declares today. Each method calls the backend's own
// when it has one (any(b) asserted to the one-method interface) and panics
// otherwise; the suite never calls an op the backend does not declare.
// Once *Backend implements both interfaces, this type can go.
type pendingOps struct{ *Backend }

var (
	_ backend.Forward  = pendingOps{}
	_ backend.Backward = pendingOps{}
)

func pending[T any](b *Backend, op string) T {
	f, ok := any(b).(T)
	if !ok {
		panic("cuda: " + op + " is not implemented by this backend yet (and not declared in Ops)")
	}
	return f
}

func (p pendingOps) Embedding(out, table backend.Buffer, ids []int32, dim int) {
	pending[interface {
		Embedding(backend.Buffer, backend.Buffer, []int32, int)
	}](p.Backend, "Embedding").Embedding(out, table, ids, dim)
}

func (p pendingOps) RMSNorm(out, x, w backend.Buffer, rows, dim int, eps float32) {
	pending[interface {
		RMSNorm(backend.Buffer, backend.Buffer, backend.Buffer, int, int, float32)
	}](p.Backend, "RMSNorm").RMSNorm(out, x, w, rows, dim, eps)
}

func (p pendingOps) RoPE(x backend.Buffer, pos []int32, rows, heads int, invFreq []float32) {
	pending[interface {
		RoPE(backend.Buffer, []int32, int, int, []float32)
	}](p.Backend, "RoPE").RoPE(x, pos, rows, heads, invFreq)
}

func (p pendingOps) Attention(out, q, k, v backend.Buffer, keyMask []int32, s backend.AttnShape) {
	pending[interface {
		Attention(backend.Buffer, backend.Buffer, backend.Buffer, backend.Buffer, []int32, backend.AttnShape)
	}](p.Backend, "Attention").Attention(out, q, k, v, keyMask, s)
}

func (p pendingOps) SiLUMul(out, gate, up backend.Buffer, n int) {
	pending[interface {
		SiLUMul(backend.Buffer, backend.Buffer, backend.Buffer, int)
	}](p.Backend, "SiLUMul").SiLUMul(out, gate, up, n)
}

func (p pendingOps) Add(out, a, b backend.Buffer, n int) {
	pending[interface {
		Add(backend.Buffer, backend.Buffer, backend.Buffer, int)
	}](p.Backend, "Add").Add(out, a, b, n)
}

func (p pendingOps) AddScaled(out, x backend.Buffer, s float32, n int) {
	pending[interface {
		AddScaled(backend.Buffer, backend.Buffer, float32, int)
	}](p.Backend, "AddScaled").AddScaled(out, x, s, n)
}

func (p pendingOps) RMSNormBackward(dx, dy, x, w backend.Buffer, rows, dim int, eps float32) {
	pending[interface {
		RMSNormBackward(backend.Buffer, backend.Buffer, backend.Buffer, backend.Buffer, int, int, float32)
	}](p.Backend, "RMSNormBackward").RMSNormBackward(dx, dy, x, w, rows, dim, eps)
}

func (p pendingOps) RoPEBackward(dx backend.Buffer, pos []int32, rows, heads int, invFreq []float32) {
	pending[interface {
		RoPEBackward(backend.Buffer, []int32, int, int, []float32)
	}](p.Backend, "RoPEBackward").RoPEBackward(dx, pos, rows, heads, invFreq)
}

func (p pendingOps) AttentionBackward(dq, dk, dv, dout, q, k, v backend.Buffer, keyMask []int32, s backend.AttnShape) {
	pending[interface {
		AttentionBackward(backend.Buffer, backend.Buffer, backend.Buffer, backend.Buffer, backend.Buffer,
			backend.Buffer, backend.Buffer, []int32, backend.AttnShape)
	}](p.Backend, "AttentionBackward").AttentionBackward(dq, dk, dv, dout, q, k, v, keyMask, s)
}

func (p pendingOps) SiLUMulBackward(dgate, dup, dy, gate, up backend.Buffer, n int) {
	pending[interface {
		SiLUMulBackward(backend.Buffer, backend.Buffer, backend.Buffer, backend.Buffer, backend.Buffer, int)
	}](p.Backend, "SiLUMulBackward").SiLUMulBackward(dgate, dup, dy, gate, up, n)
}

func (p pendingOps) Dropout(out, x backend.Buffer, pr float32, seed uint64, n int) {
	pending[interface {
		Dropout(backend.Buffer, backend.Buffer, float32, uint64, int)
	}](p.Backend, "Dropout").Dropout(out, x, pr, seed, n)
}
