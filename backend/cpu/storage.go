package cpu

import (
	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
)

// Storage is how the CPU backend stores a training run: float32 buffers,
// NF4 tensors as package quant packs them, no fused LoRA layer (the model's
// arena holds the composition's scratch), and no workspace beside the
// buffers (an op's temporary memory lives only during the op).
var Storage = backend.Storage{
	Name: "cpu", Weights: backend.Float32, Activations: backend.Float32,
	FusedLoRA: new(Backend).Ops().Has(backend.OpLoRALinear),
	NF4Bytes: func(n, blockSize int) int64 {
		q := quant.NF4{Shape: []int{n}, BlockSize: blockSize, Double: &quant.DoubleQuant{}}
		return int64(q.Bytes())
	},
}
