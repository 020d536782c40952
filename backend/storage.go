package backend

// Size is the bytes one element of the dtype takes.
func (d DType) Size() int {
	if d == BFloat16 {
		return 2
	}
	return 4
}

// Storage says how a backend stores what a training run allocates, so
// that a memory plan (decoder.PlanMemory, `tune plan`) can size a run for a
// device before opening it. Each backend package describes its own
// (cpu.Storage, cuda.Storage).
type Storage struct {
	// Name is the backend's name for messages: "cpu", "cuda".
	Name string
	// Weights is the dtype of the frozen float weights (embeddings, norms,
	// biases, the LM head and unquantized projections) and Activations
	// that of AllocActivation.
	Weights, Activations DType
	// FusedLoRA says the backend declares OpLoRALinear, so the model's
	// activation arena needs no scratch for the LoRA composition.
	FusedLoRA bool
	// NF4Bytes is the memory UploadNF4 takes for a tensor of n elements
	// in blocks of blockSize, double-quantized.
	NF4Bytes func(n, blockSize int) int64
	// Workspace is the memory the backend holds beside the buffers it
	// hands out (a BLAS workspace, kernels' scratch, device copies of host
	// arguments) once it has run the training steps and evaluation passes
	// of shape s and one clipped AdamW step; nil for none.
	Workspace func(s StepShape) int64
}

// StepShape is what a backend's workspace depends on in a training run.
type StepShape struct {
	// Rows is the tokens of a micro-batch, LogitRows the scored rows of
	// the largest chunk of logits, Heads and HeadDim the attention's query
	// heads and their width.
	Rows, LogitRows, Heads, HeadDim int
	// NF4Blocks is the blocks of the largest weight quantized to NF4 at
	// load (0 for none).
	NF4Blocks int
	// LoRA are the fused LoRA layer's calls of one step (none without
	// FusedLoRA: the layer is then composed from other ops).
	LoRA []LoRACall
}

// LoRACall is one call of the fused LoRA linear layer in a training step:
// the forward call (of a layer with a bias or without), or the backward
// call with or without the input gradient dx.
type LoRACall struct {
	Shape                     LoRAShape
	Bias, Backward, InputGrad bool
}

// MemoryReporter is implemented by a backend that knows its device's
// memory (the CUDA backend): a training run is planned against its free
// memory before any weight is loaded.
type MemoryReporter interface {
	// Storage is how the backend stores a run as it is configured.
	Storage() Storage
	// MemoryInfo returns the device's free and total bytes.
	MemoryInfo() (free, total int64, err error)
}
