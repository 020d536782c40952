package train

import (
	"fmt"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/safetensors"
)

// AdamWConfig holds the optimizer's hyperparameters (PyTorch's defaults:
// betas 0.9 and 0.999, eps 1e-8; Hugging Face's Trainer default weight
// decay is 0).
type AdamWConfig struct {
	Beta1, Beta2, Eps, WeightDecay float64
	// MaxGradNorm clips the global L2 norm of all gradients as
	// torch.nn.utils.clip_grad_norm_ does (coefficient
	// min(1, max/(norm+1e-6))); 0 disables clipping.
	MaxGradNorm float64
}

// DefaultAdamW is Hugging Face's TrainingArguments default.
var DefaultAdamW = AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0, MaxGradNorm: 1}

// AdamW is PyTorch's AdamW over one flat parameter arena: the moments m
// and v are arenas of the same layout, and one clipped step
// (backend.AdamWClipped: the backend's fused op when it has one) updates
// every tensor.
type AdamW struct {
	Config AdamWConfig
	B      backend.Backend
	M, V   backend.Buffer
	N      int
	// Steps is the number of updates taken so far.
	Steps int
}

// NewAdamW allocates zeroed moments for n parameters on b, or reports the
// op the optimizer needs that b lacks.
func NewAdamW(b backend.Backend, n int, c AdamWConfig) (*AdamW, error) {
	if err := backend.Require(b, backend.AdamWClippedOps(b), "the AdamW optimizer"); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return &AdamW{Config: c, B: b, M: b.Alloc(n), V: b.Alloc(n), N: n}, nil
}

// Free releases the moments.
func (o *AdamW) Free() {
	o.B.Free(o.M)
	o.B.Free(o.V)
}

// Step clips the gradients by their global norm (when configured), applies
// one AdamW update with learning rate lr and returns the norm before
// clipping.
func (o *AdamW) Step(params, grads backend.Buffer, lr float64) float64 {
	o.Steps++
	return backend.AdamWClipped(o.B, params, grads, o.M, o.V, o.N, backend.AdamWStep{
		LR: lr, Beta1: o.Config.Beta1, Beta2: o.Config.Beta2, Eps: o.Config.Eps,
		WeightDecay: o.Config.WeightDecay, Step: o.Steps,
	}, o.Config.MaxGradNorm)
}

// Tensors returns the optimizer state for a checkpoint: the moments as
// F32 tensors "exp_avg" and "exp_avg_sq" and the step count as I64 "step".
func (o *AdamW) Tensors() []safetensors.Tensor {
	m, v := make([]float32, o.N), make([]float32, o.N)
	o.B.Download(m, o.M)
	o.B.Download(v, o.V)
	return []safetensors.Tensor{
		safetensors.F32Tensor("exp_avg", []int{o.N}, m),
		safetensors.F32Tensor("exp_avg_sq", []int{o.N}, v),
		safetensors.I64Tensor("step", []int{}, []int64{int64(o.Steps)}),
	}
}

// LoadState restores the state written by Tensors from file path.
func (o *AdamW) LoadState(path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("train: optimizer state: %w", err)
	}
	defer f.Close()
	for _, p := range []struct {
		name string
		buf  backend.Buffer
	}{{"exp_avg", o.M}, {"exp_avg_sq", o.V}} {
		t, ok := f.Tensor(p.name)
		if !ok {
			return fmt.Errorf("train: %s: tensor %q is missing", path, p.name)
		}
		v, err := t.Float32s()
		if err != nil {
			return fmt.Errorf("train: %s: %w", path, err)
		}
		if len(v) != o.N {
			return fmt.Errorf("train: %s: tensor %q has %d elements, the adapter has %d parameters", path, p.name, len(v), o.N)
		}
		o.B.Upload(p.buf, v)
	}
	t, ok := f.Tensor("step")
	if !ok {
		return fmt.Errorf("train: %s: tensor \"step\" is missing", path)
	}
	s, err := t.Int64s()
	if err != nil || len(s) != 1 {
		return fmt.Errorf("train: %s: tensor \"step\" is not one I64", path)
	}
	o.Steps = int(s[0])
	return nil
}
