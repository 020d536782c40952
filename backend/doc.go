// Package backend defines the op vocabulary that the Qwen2 schedule is
// written against, once, for every device.
//
// The interface is deliberately narrow: explicit forward and backward ops
// over flat buffers with the shapes passed in, no autograd graph and no
// tensor objects. It comes in groups (Memory, Forward, Backward,
// Optimizer, Quant); a complete Backend has them all, and the conformance
// suite tests whichever groups an implementation has. Package backend/cpu is the float32 reference implementation, the
// oracle every accelerator is checked against; package backend/conformance
// is the test suite each implementation runs with one call:
//
//	func TestConformance(t *testing.T) {
//		conformance.Test(t, cpu.New(0), conformance.CPUTolerances)
//	}
//
// Layouts are row-major. Linear weights use the Hugging Face layout
// [out, in] (y = x·Wᵀ + b). Ops write their outputs with `=` unless their
// documentation says `+=`.
package backend
