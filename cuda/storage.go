package cuda

import (
	"github.com/tune-dev/tune/backend"
)

// Storage is how the CUDA backend stores a training run, for memory plans
// made without a GPU: frozen float weights in bfloat16 (the bf16 weight
// store of the whole-model schedule), bfloat16 activations, NF4 tensors
// as layoutNF4 places them (UploadNF4 and QuantizeNF4 allocate by it), the
// fused LoRA layer, and the context's workspace and scratch (Workspace).
var Storage = backend.Storage{
	Name: "cuda", Weights: backend.BFloat16, Activations: backend.BFloat16, FusedLoRA: true,
	NF4Bytes: func(n, blockSize int) int64 {
		return int64(layoutNF4(n, blockSize, nestedBlock).bytes)
	},
	Workspace: Workspace,
}

// nestedBlock is the nested block size of the double quantization
// QuantizeNF4 does, as quant.Quantize and bitsandbytes do it.
const nestedBlock = 256

// nf4Layout is where the parts of an NF4 tensor lie in its one
// allocation: byte offsets of each part (0 for a part it lacks) and the
// total size. UploadNF4, QuantizeNF4 and DownloadNF4 share it.
type nf4Layout struct {
	data, absmax, qabsmax, absmax2, code2 uint64
	bytes                                 int
}

// layoutNF4 places the parts of an NF4 tensor of n elements in blocks of
// blockSize, each 256-byte aligned: the codes, then the block scales
// (nested == 0) or their double quantization (the 8-bit scales, the
// nested scales of blocks of nested scales, and the 256-entry code).
func layoutNF4(n, blockSize, nested int) nf4Layout {
	var l nf4Layout
	place := func(size int) uint64 {
		off := (l.bytes + 255) &^ 255
		l.bytes = off + size
		return uint64(off)
	}
	blocks := (n + blockSize - 1) / blockSize
	l.data = place((n + 1) / 2)
	if nested == 0 {
		l.absmax = place(4 * blocks)
		return l
	}
	l.qabsmax = place(blocks)
	l.absmax2 = place(4 * ((blocks + nested - 1) / nested))
	l.code2 = place(4 * 256)
	return l
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
	slotNF4
	slotLoss
	slotAttnLSE
	slotAttnDsum
	numSlots
)

// Workspace is the device memory a backend holds beside the buffers it
// hands out after the training steps and evaluation passes of shape s and
// one clipped AdamW step: the cuBLASLt workspace and the sum scalar; each
// scratch slot at the largest size any call asked of it (scratch only
// grows, freeing the old block first); the Go side's device copies of the
// host arguments (index.go: ids, positions and key mask of every token,
// targets and per-row losses of a logits chunk) and RoPE's table of
// inverse frequencies. The scratch mirrors the scratch() requests of
// lora_linear.cu, adamw.cu and loss.cu (CrossEntropySum's per-row losses);
// linear.cu's frozen layers convert a weight or bias into scratch only when
// its dtype is not the activations', which Storage's weights never are.
// TestWorkspaceMatchesAllocationsCUDA holds it to what the library really
// allocates. A run whose batches change shape may find an index slot grown
// to twice its need (it doubles), a few bytes a token.
func Workspace(s backend.StepShape) int64 {
	var slot [numSlots]int64
	grow := func(s int, bytes int64) { slot[s] = max(slot[s], bytes) }
	round8 := func(n int64) int64 { return (n + 7) &^ 7 }
	for _, c := range s.LoRA {
		sh := c.Shape
		rows, in, out, r := int64(sh.Rows), int64(sh.In), int64(sh.Out), int64(sh.Rank)
		rp := round8(r)
		kp, op := round8(in)+rp, round8(out)+rp // Wcat [op, kp]
		drop := sh.Dropout != 0
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
	if s.NF4Blocks > 0 {
		grow(slotNF4, 4*int64(s.NF4Blocks+1))
	}
	grow(slotLoss, 4*int64(s.LogitRows))
	grow(slotAttnDsum, 4*int64(s.Rows*s.Heads))
	total := int64(cublasWorkspaceBytes + sumBytes)
	for _, b := range slot {
		total += b
	}
	index := 3*s.Rows + 2*s.LogitRows // int32 ids, positions, key mask; targets; float32 losses
	return total + 4*int64(index) + 4*int64(s.HeadDim/2)
}
