// Package backend defines the op vocabulary that the decoder's schedule is
// written against, once, for every device.
//
// The interface is deliberately narrow: explicit forward and backward ops
// over flat buffers with the shapes passed in, no autograd graph and no
// tensor objects. It comes in groups (Memory, Forward, Backward,
// Optimizer, Quant) plus optional fused ops (LoRALinear, ClippedAdamW,
// ResidualRMSNorm). Every op has a name in one vocabulary (Op, OpSet), and
// every backend declares the ops it implements (Memory.Ops) and how it
// stores activations (Memory.ActivationDType: float32 on the CPU, bfloat16
// with float32 accumulation on CUDA). Require reports the first op a
// caller needs that a backend lacks, so the model refuses a backend by
// naming the op instead of failing inside it. The ops of Forward and
// Backward are one method each, and a backend may implement some of them
// (Require then checks the declared ops' methods); of the other groups it
// implements all or nothing.
//
// Storage describes how a backend stores what a training run allocates
// (the dtypes of weights and activations, NF4 tensors, its own workspace),
// so that a run can be sized for a device without opening it; a backend
// that knows its device's memory implements MemoryReporter.
//
// Callers reach the fused ops through LoRALinearForward,
// LoRALinearBackward, AdamWClipped and AddRMSNorm, which run the
// backend's fused op when it declares one and otherwise the composition
// the op documents, written once in compose.go.
//
// Package backend/cpu is the float32 reference implementation, the oracle
// every accelerator is checked against; package backend/conformance is the
// test suite each implementation runs with one call, which checks every
// op the backend declares:
//
//	func TestConformance(t *testing.T) {
//		conformance.Test(t, cpu.New(0), conformance.CPUTolerances)
//	}
//
// Layouts are row-major. Linear weights use the Hugging Face layout
// [out, in] (y = x·Wᵀ + b). Ops write their outputs with `=` unless their
// documentation says `+=`.
package backend
