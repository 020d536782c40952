package cuda

import (
	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
)

// Storage is how the CUDA backend stores a training run, for memory plans
// made without a GPU: frozen float weights in bfloat16 (the bf16 weight
// store of the whole-model schedule), bfloat16 activations, NF4 tensors
// laid out as UploadNF4 lays them out, the fused LoRA layer, and the
// context's workspace and scratch (Workspace).
var Storage = backend.Storage{
	Name: "cuda", Weights: backend.BFloat16, Activations: backend.BFloat16, FusedLoRA: true,
	NF4Bytes: func(n, blockSize int) int64 {
		return int64(nf4Bytes(quant.PartSizes(n, blockSize, true)))
	},
	Workspace: Workspace,
}

// nf4Bytes is the size of UploadNF4's one allocation for parts of the
// given byte sizes (quant.PartSizes), each 256-byte aligned.
// TestWorkspaceMatchesAllocationsCUDA holds it to UploadNF4.
func nf4Bytes(sizes []int) int {
	total := 0
	for _, n := range sizes {
		total = (total+255)&^255 + n
	}
	return total
}

// What tune_create allocates besides scratch (memory.cu): the cuBLASLt
// workspace and the device scalar of the sum of squares; and the most
// per-block partial sums adamw.cu's reductions keep (kMaxPartials doubles).
const (
	cublasWorkspaceBytes = 32 << 20
	sumBytes             = 8
	maxPartials          = 1024
)

// The context's scratch slots (common.cuh's scratch_slot).
const (
	slotWeight = iota
	slotActivations
	slotFactors
	slotT
	slotG
	slotBias
	slotDrop
	slotPartials
	numSlots
)

// Workspace is the device memory a context holds beside the buffers it
// hands out after running calls and one clipped AdamW step: the cuBLASLt
// workspace, the sum scalar, and each scratch slot at the largest size any
// call asked of it (scratch only grows, freeing the old block first). It
// mirrors the scratch() requests of lora_linear.cu and adamw.cu;
// TestWorkspaceMatchesAllocationsCUDA holds it to what the library really
// allocates. linear.cu's frozen layers convert a weight or bias into
// scratch only when its dtype is not the activations', which Storage's
// weights never are; loss.cu's per-row losses of a device-side loss sum
// (4 bytes a logit row, under 1 KiB at Qwen2.5-7B) are not counted.
func Workspace(calls []backend.LoRACall) int64 {
	var slot [numSlots]int64
	grow := func(s int, bytes int64) { slot[s] = max(slot[s], bytes) }
	round8 := func(n int64) int64 { return (n + 7) &^ 7 }
	for _, c := range calls {
		s := c.Shape
		rows, in, out, r := int64(s.Rows), int64(s.In), int64(s.Out), int64(s.Rank)
		rp := round8(r)
		kp, op := round8(in)+rp, round8(out)+rp // Wcat [op, kp]
		drop := s.Dropout != 0
		if drop {
			grow(slotDrop, 2*rows*in)
		}
		switch {
		case !c.Backward:
			grow(slotWeight, 2*op*kp)
			if c.Bias {
				grow(slotBias, 2*out)
			}
			if in <= out {
				grow(slotActivations, 2*rows*kp) // Xcat
			} else {
				grow(slotT, 2*rows*rp)
				grow(slotActivations, 2*rows*out) // z
			}
		case c.InputGrad:
			grow(slotT, 2*rows*rp)
			grow(slotWeight, 2*op*kp)
			if out <= in && !drop {
				grow(slotActivations, 2*rows*op) // Dcat
			} else {
				grow(slotG, 2*rows*rp)
				grow(slotActivations, 2*rows*in) // e
			}
		default: // A and B alone, B 256-byte aligned after A
			grow(slotT, 2*rows*rp)
			grow(slotFactors, (2*r*in+255)/256*256+2*out*r)
			grow(slotG, 2*rows*rp)
		}
	}
	grow(slotPartials, 8*maxPartials)
	total := int64(cublasWorkspaceBytes + sumBytes)
	for _, b := range slot {
		total += b
	}
	return total
}
