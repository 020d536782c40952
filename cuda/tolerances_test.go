package cuda

import "github.com/tune-dev/tune/backend/conformance"

// The tolerances of the CUDA backend. Where they come from:
//
// bfloat16 keeps 8 significant bits (7 stored and the implicit one), so
// rounding to it moves a value by at most u = 2^-8 ≈ 3.9e-3 of itself.
// The GEMMs accumulate in float32, whose rounding (6e-8 per operation) is
// negligible beside that.
//
// The fused linear layer keeps the adapter term beside the weight in the
// GEMM's float32 accumulation ([x | s·t]·[W | B]ᵀ, see lora_linear.cu): W,
// B, x and t = s·x·Aᵀ are each rounded to bf16 once, and the output once.
// For y the operand roundings add up like a random walk,
// sqrt(in)·(u/sqrt(3))·|x||w|, about u/sqrt(3) of y's typical size; the
// output rounding adds at most u·|y|. Against max|y| the worst element
// therefore lands near 1-2 u (4e-3 to 8e-3); dx likewise. The weight
// gradients see the rounding of A, B and of t and g = s·dy·B, each u
// relative, summed over rows in float32.
//
// Measured (TestFusedAlgebra, the CPU emulation of the kernels' rounding;
// the GPU run of TestFusedCUDA logs its own in the same format), as
// max|got-want|/max|want|: y 2.1e-3 .. 4.3e-3, dx 2.3e-3 .. 6.3e-3, dA
// 1.1e-4 .. 6.3e-3, dB 7.6e-4 .. 3.1e-3 (the worst: dA of a single row,
// one product of two rounded factors per element; the dropout cases stay
// within the same range). The rules allow 1.6e-2, 2.5 times the worst;
// the planted bugs that test was tried with (scale or bias missing, the
// adapter's columns wrong, dA written with `=`) miss by 4e-2 of max|want|
// or far more.
var fusedTolerances = conformance.FusedTol{
	Forward:    conformance.Tol{Atol: 1e-5, Rtol: 1.6e-2},
	InputGrad:  conformance.Tol{Atol: 1e-5, Rtol: 1.6e-2},
	WeightGrad: conformance.Tol{Atol: 1e-5, Rtol: 1.6e-2},
	// AdamWClipped does backend/cpu's float32 operations in the same order
	// (no fused multiply-add), so only the norm's float64 summation order
	// differs (relative 1e-15): the CPU's AdamW rule applies.
	AdamW:      conformance.CPUTolerances.AdamW,
	Norm:       conformance.Tol{Atol: 0, Rtol: 1e-12},
	AddRMSNorm: addRMSNormTolerance,
}

// cudaTolerances are the rules of conformance.Test for the ops the CUDA
// backend declares (Optimizer, Quant, the fused ops with those of
// TestFused, the norms, RoPE, embedding and elementwise ops, and the linear
// layers and cross-entropy of the Forward and Backward groups). Every
// buffer the suite allocates with Alloc is float32 here, so these ops are
// checked in float32:
//   - the activation ops compute in float32 as backend/cpu does (the same
//     operation order, no fused multiply-add where the CPU has none); they
//     differ only by the fp32 row sums of the norms (the CPU sums in
//     float64) and sincosf and expf (within 2 ulp of the CPU's rounded
//     float64 functions; the bf16 table or norm weight of every other
//     case widens exactly): the CPU's rules, which they meet with measured
//     worst errors of 2.3e-7 of max|want| for the backward ops
//     (SiLUMulBackward; rule 1e-5) and 1.1e-7 for the forward ops
//     (RMSNorm; rule 2e-6), Add and AddScaled rounding as the CPU does;
//   - Linear and its gradients are cuBLASLt GEMMs with fp32 operands and
//     CUBLAS_COMPUTE_32F (no TF32; every other case's bf16 weight widens
//     exactly): float32 sums like the CPU's, in another order, so the CPU's
//     derivation holds (K·6e-8 worst, sqrt(K)·6e-8 typical, K <= 211).
//     Measured on the emulation: at most 4.9e-7 of max|want| (Linear) and
//     3.1e-7 (the gradients); a GPU's summation order may double that, and
//     1e-5 still leaves 10x.
//   - CrossEntropy sums exp in float32 (per thread, then a tree) with
//     precise expf and logf: measured at most 8.6e-7 absolute on losses
//     near 12 (7e-8 relative); CUDA's expf (2 ulp) and logf (1 ulp) stay
//     within the CPU's rule, 1e-6 + 1e-6·max|want|.
//   - SumSquares sums exact float64 squares in float64 in a fixed tree
//     order; the rounding of either order is below 1e-14 relative.
//   - AdamW does backend/cpu's float32 operations in the same order,
//     without fused multiply-adds: the CPU's rule.
//   - Dequantize computes bitsandbytes' float32 products exactly as
//     package quant does (no fused multiply-add in the double-quantized
//     scale either): bit-exact.
//   - Attention and its gradients (the fp32 FMA kernels) sum in float32
//     in another order than the CPU: measured at most 7.8e-7 absolute for
//     out and lse and 3.4e-6 for the gradients (values of order 1 to 10)
//     against the float64 oracle: the CPU's rules.
var cudaTolerances = conformance.Tolerances{
	Embedding:    conformance.CPUTolerances.Embedding,
	RMSNorm:      conformance.CPUTolerances.RMSNorm,
	RoPE:         conformance.CPUTolerances.RoPE,
	SiLUMul:      conformance.CPUTolerances.SiLUMul,
	Add:          conformance.CPUTolerances.Add,
	AddScaled:    conformance.CPUTolerances.AddScaled,
	Linear:       conformance.Tol{Atol: 1e-6, Rtol: 1e-5},
	CrossEntropy: conformance.CPUTolerances.CrossEntropy,
	Attention:    conformance.CPUTolerances.Attention,
	Grad:         conformance.CPUTolerances.Grad,
	SumSquares:   conformance.Tol{Atol: 0, Rtol: 1e-12},
	AdamW:        conformance.CPUTolerances.AdamW,
	Dequantize:   conformance.Tol{},
	Fused:        fusedTolerances,
}

// u is the unit roundoff of bfloat16: rounding to its 8 significant bits
// moves a value by at most 2^-8 of itself.
const u = 1.0 / 256

// activationTolerances are the rules of conformance.TestActivations: the
// Forward and Backward ops with bfloat16 activations (and, in every other
// case of the ops with a weight, a float32 weight, table or bias the op
// rounds to bfloat16). The oracle sees the bf16 inputs as stored, and the
// kernels compute in float32 (6e-8 per operation, negligible here), so
// what remains is, each at most u of the value rounded:
//   - the rounding of a bf16 output: u of the element, so of max|want|;
//   - for a float32 weight rounded in the op: u of each product (Linear:
//     adding like a random walk to about u/sqrt(3) of |y|'s typical size;
//     RMSNorm and RMSNormBackward: u of the element).
//
// Embedding is a copy: its one rounding (of a float32 table into the
// bf16 output), u, is its exact bound. The other forward ops (RMSNorm,
// RoPE, SiLUMul, Add, AddScaled, Linear) have at most two roundings, the
// output's and a weight's: 2u = 2^-7 ≈ 7.8e-3 (the ops with the output's
// alone get the same rule, so that float32 arithmetic on top of a
// rounding at its bound cannot fail them). The absolute 1e-5 of Linear
// covers its case of one product near zero.
//
// Attention (out; lse stays float32, about 1e-7 relative) and its
// gradients add, on the tensor-core path (head dims 64 and 128), the bf16
// rounding of their operands P and dS (each u relative, summed like a
// random walk: of the order of u of the result again), and the backward's
// D = rowsum(dout ⊙ out) reads the rounded out: two to three roundings in
// all, 2u with the linear layer's absolute 1e-5. Grad is one rule for
// every backward op: the same 2u with 1e-5 absolute (RMSNormBackward of
// one element, whose exact gradient is 0, is a float32 cancellation of
// two terms near 1: measured 1.3e-7 absolute). LinearWeightGrad (fp32
// dW, exact bf16 inputs) and CrossEntropy (fp32 losses) keep their
// float32 errors (below 1e-7 relative).
//
// Measured on the emulation (a verbose run of TestConformanceCUDA), as
// max|got-want|/max|want|, worst case: Embedding 2.7e-3, RMSNorm 3.2e-3,
// RoPE 3.3e-3, SiLUMul 2.4e-3, Add 3.3e-3, AddScaled 2.2e-3, Linear
// 3.4e-3, Attention 4.2e-3; RMSNormBackward 2.2e-3, LinearBackward
// 4.2e-3, RoPEBackward 2.8e-3, AttentionBackward (dq, dk, dv) 4.3e-3,
// SiLUMulBackward 3.0e-3, CrossEntropyBackward 2.4e-3. The 2u rules are
// at least 1.8 times the worst (attention's gradients); the planted bugs
// of the mutation check (a missing bias, dy not transposed, = for +=, a
// wrong row; a dropped GQA head, a causal or segment test off by one, a
// missing D) and a wrong sign, index, angle or missing term move results
// by 3e-2 of max|want| or far more.
var activationTolerances = conformance.Tolerances{
	Embedding:    conformance.Tol{Atol: 0, Rtol: u},
	RMSNorm:      conformance.Tol{Atol: 0, Rtol: 2 * u},
	RoPE:         conformance.Tol{Atol: 0, Rtol: 2 * u},
	SiLUMul:      conformance.Tol{Atol: 0, Rtol: 2 * u},
	Add:          conformance.Tol{Atol: 0, Rtol: 2 * u},
	AddScaled:    conformance.Tol{Atol: 0, Rtol: 2 * u},
	Linear:       conformance.Tol{Atol: 1e-5, Rtol: 2 * u},
	CrossEntropy: conformance.CPUTolerances.CrossEntropy,
	Attention:    conformance.Tol{Atol: 1e-5, Rtol: 2 * u},
	Grad:         conformance.Tol{Atol: 1e-5, Rtol: 2 * u},
}

// lossSumRtol is the rule of TestCrossEntropySumCUDA, relative to the
// float64 sum: each chunk's float64 sum is rounded to float32 once when
// added (6e-8 per chunk, three chunks), and the float32 losses differ from
// float64 by about 7e-8 relative (cudaTolerances.CrossEntropy). Measured:
// 2.7e-8.
const lossSumRtol = 1e-6

// addRMSNormTolerance is AddRMSNorm's rule (the conformance suite checks
// it on bf16 activations against Add and RMSNorm on the stored inputs):
// the sum's rounding (u) for the sum; for h that rounding, the float32
// weight's and h's own: 3u. Measured on the emulation: sum 3.6e-3, h
// 4.4e-3 of max|want|, the rule 2.7 times the worst.
var addRMSNormTolerance = conformance.Tol{Atol: 0, Rtol: 3 * u}

// modelTol holds the rules of TestGoldenCUDA, each max|got-want| as a
// fraction of max|want| over the golden tensor (the loss: of the loss
// itself), except AdamWLoss, relative per step.
type modelTol struct {
	Logits, Loss, TokenLoss, Grad, AdamWLoss float64
}

// modelTolerances: the whole model on the CUDA backend against the
// Hugging Face float32 goldens (testdata/golden: 2 or 3 layers, hidden 64,
// vocabulary 1000, 2 rows of 12 tokens).
//
// bf16: the weights are rounded to bfloat16 once (u/2 = 2^-9 relative
// each) and every activation is stored in bfloat16 (u/2 relative per
// store) between float32 sums. From the embedding to the logits a token
// passes some 25 stores in series (per layer: norm, q/k/v, attention, o,
// residual, norm, gate/up, act, down, residual); their errors add like a
// random walk, about 5·u/2 ≈ 1e-2 of a typical value, more for an
// element whose inputs nearly cancel: up to a few 1e-2 of max|want| for
// the logits. The loss is a mean of log-softmax values: the logits'
// errors, absolute, averaged over the 22 targets and partly cancelling
// in the log-sum-exp, so 1e-4 of the loss and 1e-3 of a token's. The
// LoRA gradients add the backward pass's stores (as many again, and the
// bf16 upstream gradient): about twice the logits' error.
//
// Measured on the emulated library (TestGoldenCUDA logs every value):
// base logits 4.6e-3 .. 5.8e-3, adapted logits 1.7e-2 .. 3.2e-2, loss
// 2.7e-5 .. 9.2e-5, token losses 5.3e-4 .. 6.8e-4, gradients 9.3e-3 ..
// 4.4e-2, the five AdamW losses 2e-6 .. 1.4e-4 relative. The rules are
// about twice the worst (the 1% for the AdamW losses).
//
// fp32 (Options.Float32): float32 storage throughout, so only the
// summation order differs from PyTorch's: measured logits 1.5e-6, loss and
// token losses 7e-8, gradients 2.4e-6, AdamW losses 1.4e-7; the rules
// leave 5-15 times that (a GPU's cuBLASLt sums in another order).
var modelTolerances = struct{ BF16, FP32 modelTol }{
	BF16: modelTol{Logits: 6e-2, Loss: 2e-4, TokenLoss: 1.5e-3, Grad: 9e-2, AdamWLoss: 1e-2},
	FP32: modelTol{Logits: 1e-5, Loss: 1e-6, TokenLoss: 1e-6, Grad: 2e-5, AdamWLoss: 1e-6},
}
