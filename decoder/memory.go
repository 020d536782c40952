package decoder

import (
	"fmt"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/lora"
)

// MemoryOptions are the settings of a training run that decide how much
// memory it needs.
type MemoryOptions struct {
	// LoRA gives the rank, the adapted projections (TargetModules or
	// TargetRegex) and the dropout.
	LoRA lora.Config
	// QLoRA keeps the seven projections in NF4 (LoadOptions.QLoRA) in
	// blocks of BlockSize (64 when 0).
	QLoRA     bool
	BlockSize int
	// Batch sequences of MaxLength tokens per micro-batch.
	Batch, MaxLength int
	// Recompute is gradient checkpointing (TrainOptions.Recompute).
	Recompute bool
	// Storage is how the backend stores it all.
	Storage backend.Storage
}

// MemoryTerms are the parts of what a training run holds on its backend
// during a step, in bytes.
type MemoryTerms struct {
	// Weights are the frozen base weights: NF4 projections (codes and
	// scales) and the float tensors in the backend's weight dtype.
	Weights int64 `json:"frozen_weights"`
	// LoRA are the adapter's factors, Gradients theirs, and Optimizer
	// AdamW's two moments, all float32 (Memory.Alloc).
	LoRA      int64 `json:"lora_parameters"`
	Gradients int64 `json:"gradients"`
	Optimizer int64 `json:"optimizer_state"`
	// Activations is the activation arena without its logits chunk, and
	// Logits that chunk.
	Activations int64 `json:"activations"`
	Logits      int64 `json:"logits_chunk"`
	// Workspace is the backend's workspace and scratch (Storage.Workspace)
	// plus the model's NF4 dequantization room (MemoryPlan.Dequant).
	Workspace int64 `json:"workspace"`
}

// MemoryPlan is what a training run holds on its backend during a step.
// Every term comes from the tables the model and the trainer allocate
// from (Config.Specs, paramLayout, ActivationLayout with ForwardBackward's plan)
// and the backend's Storage; nothing is freed during a step, so the peak
// is their sum.
type MemoryPlan struct {
	MemoryTerms
	// NF4 is the part of Weights in NF4 (the projections with QLoRA).
	NF4 int64
	// Dequant is the part of Workspace that is the model's float32 room
	// for one dequantized NF4 projection (the frozen layers' Linear, and
	// the unfused LoRA composition, read it).
	Dequant int64
	// Peak is the sum of the terms.
	Peak int64
	// TrainableParams is the adapter's parameter count, LogitRows the
	// rows of the logits chunk, ArenaElems the activation arena's
	// elements.
	TrainableParams, LogitRows, ArenaElems int
}

// lossSumElems is the float32 elements of a Trainable's device-side loss
// sum: the summed loss and the counted targets.
const lossSumElems = 2

// trainPlan is the activation plan of ForwardBackward over rows tokens (newPass
// completes its LoRA fields from the model and the backend).
func trainPlan(c *Config, rows int, recompute bool) Plan {
	return Plan{Rows: rows, HeadRows: lossChunk(rows, c.VocabSize), Train: true, Recompute: recompute}
}

// dequantElems is the size of the model's dequantization scratch: the
// largest of the projections quantized says are NF4 (0 when none is).
func dequantElems(c *Config, quantized func(li int, module string) bool) int {
	n := 0
	for li := 0; li < c.NumHiddenLayers; li++ {
		for _, m := range lora.Modules {
			if quantized(li, m.Name) {
				in, out := m.Shape(c.dims())
				n = max(n, in*out)
			}
		}
	}
	return n
}

// PlanMemory returns the memory a training run of a model of config c
// needs with options o, or an error naming the option that makes no run.
func PlanMemory(c *Config, o MemoryOptions) (*MemoryPlan, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("decoder: memory plan: %w", err)
	}
	if o.Batch < 1 || o.MaxLength < 1 {
		return nil, fmt.Errorf("decoder: memory plan: batch %d × max length %d: both must be at least 1", o.Batch, o.MaxLength)
	}
	if o.LoRA.R < 1 {
		return nil, fmt.Errorf("decoder: memory plan: LoRA rank %d must be at least 1", o.LoRA.R)
	}
	s := o.Storage
	if s.NF4Bytes == nil {
		return nil, fmt.Errorf("decoder: memory plan: storage of backend %q is not described", s.Name)
	}
	block := o.BlockSize
	if block == 0 {
		block = 64
	}
	p := &MemoryPlan{}
	for _, t := range c.Specs() {
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if o.QLoRA && Projection(t.Name) {
			p.NF4 += s.NF4Bytes(n, block)
		} else {
			p.Weights += int64(n) * int64(s.Weights.Size())
		}
	}
	p.Weights += p.NF4
	targets := func(li int, module string) bool { return o.LoRA.TargetsLayer(li, module) }
	// The dequantization room (Model.dequantRoom) serves the frozen NF4
	// projections' Linear and the unfused LoRA composition's NF4 weights.
	frozen := dequantElems(c, func(li int, module string) bool { return !targets(li, module) }) > 0
	if o.QLoRA && (frozen || !s.FusedLoRA) {
		p.Dequant = int64(s.Weights.Size()) * int64(dequantElems(c, func(int, string) bool { return true }))
	}

	params := paramLayout(c, func(li int, module string) (int, bool) { return o.LoRA.R, targets(li, module) })
	if params.Total == 0 {
		return nil, fmt.Errorf("decoder: memory plan: target modules %v adapt no projection", o.LoRA.TargetModules)
	}
	p.TrainableParams = params.Total
	p.LoRA = 4 * int64(params.Total)
	p.Gradients = p.LoRA
	p.Optimizer = 2 * p.LoRA

	rows := o.Batch * o.MaxLength
	plan := trainPlan(c, rows, o.Recompute)
	plan.LoRARank, plan.FusedLoRA = o.LoRA.R, s.FusedLoRA
	arena := ActivationLayout(c, plan)
	act := int64(s.Activations.Size())
	p.ArenaElems = arena.Total
	p.LogitRows = plan.HeadRows
	p.Logits = act * int64(arena.Slot("logits").Elems)
	p.Activations = act*int64(arena.Total) - p.Logits + 4*int64(arena.Total32)

	if s.Workspace != nil {
		// The last token of a row has no target, so a chunk holds at most
		// Batch·(MaxLength-1) scored rows.
		step := backend.StepShape{Rows: rows, LogitRows: min(plan.HeadRows, o.Batch*(o.MaxLength-1)),
			Heads: c.NumAttentionHeads, HeadDim: c.HeadDim()}
		if o.QLoRA {
			step.NF4Blocks = (dequantElems(c, func(int, string) bool { return true }) + block - 1) / block
		}
		if s.FusedLoRA {
			step.LoRA = loraCalls(c, o, rows, targets)
		}
		p.Workspace = s.Workspace(step)
	}
	p.Workspace += p.Dequant + 4*lossSumElems
	p.Peak = p.Weights + p.LoRA + p.Gradients + p.Optimizer + p.Activations + p.Logits + p.Workspace
	return p, nil
}

// loraCalls lists the calls of the fused LoRA layer one ForwardBackward makes
// (layerForward's and layerBackward's): every adapted projection forward,
// and backward with its input gradient, except the first layer's q, k and
// v projections, whose input gradient nothing needs.
func loraCalls(c *Config, o MemoryOptions, rows int, targets func(int, string) bool) []backend.LoRACall {
	var calls []backend.LoRACall
	bias := c.Family().QKVBias
	for li := 0; li < c.NumHiddenLayers; li++ {
		for _, m := range lora.Modules {
			if !targets(li, m.Name) {
				continue
			}
			in, out := m.Shape(c.dims())
			s := backend.LoRAShape{Rows: rows, In: in, Out: out, Rank: o.LoRA.R, Dropout: float32(o.LoRA.LoraDropout)}
			calls = append(calls,
				backend.LoRACall{Shape: s, Bias: m.QKV && bias},
				backend.LoRACall{Shape: s, Backward: true, InputGrad: li > 0 || !m.QKV})
		}
	}
	return calls
}

// LongestFit returns the longest MaxLength at which a run with options o
// (whose MaxLength it ignores) needs at most budget bytes, searching up to
// limit tokens, and 0 when not even one token fits. Every term of a plan
// grows with the sequence, so a binary search over the plans finds it.
func LongestFit(c *Config, o MemoryOptions, budget int64, limit int) (int, error) {
	fits := func(n int) (bool, error) {
		o.MaxLength = n
		p, err := PlanMemory(c, o)
		if err != nil {
			return false, err
		}
		return p.Peak <= budget, nil
	}
	lo, hi := 0, limit // fits(lo) (or lo = 0); hi+1 does not fit or is past the limit
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		ok, err := fits(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}
