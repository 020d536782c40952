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
	AdamW: conformance.CPUTolerances.AdamW,
	Norm:  conformance.Tol{Atol: 0, Rtol: 1e-12},
}

// cudaTolerances are the rules of conformance.Test for the ops the CUDA
// backend declares (Optimizer, Quant and the fused ops, with those of
// TestFused), and of conformance.TestAttention. Every buffer the suite
// allocates with Alloc is float32 here, so these ops are checked in
// float32:
//   - SumSquares sums exact float64 squares in float64 in a fixed tree
//     order; the rounding of either order is below 1e-14 relative.
//   - AdamW does backend/cpu's float32 operations in the same order,
//     without fused multiply-adds: the CPU's rule.
//   - Dequantize computes bitsandbytes' float32 products exactly as
//     package quant does (no fused multiply-add in the double-quantized
//     scale either): bit-exact.
//   - Attention and its gradients sum in float32 in another order than
//     the CPU (see attentionBF16 for what was measured): the CPU's rules.
var cudaTolerances = conformance.Tolerances{
	Attention:  conformance.CPUTolerances.Attention,
	Grad:       conformance.CPUTolerances.Grad,
	SumSquares: conformance.Tol{Atol: 0, Rtol: 1e-12},
	AdamW:      conformance.CPUTolerances.AdamW,
	Dequantize: conformance.Tol{},
	Fused:      fusedTolerances,
}

// attentionBF16 are the rules of TestAttentionBF16CUDA, relative to
// max|want| over the tensor, where want is backend/cpu's float32 result on
// the same bf16-exact inputs. The kernels sum in float32; what is rounded
// to bf16 (u = 2^-8 relative at most, 2^-9 on average):
//   - out, once: at most u of max|want|. On the tensor-core path (head
//     dims 64 and 128) also each probability P before P·v, which moves out
//     by Σ_j δ_j·P_j·v_j with |δ_j| <= u: a random walk of the order of
//     u·|out| again. Measured 2.1e-3 (FMA path) and 2.5e-3 .. 3.1e-3
//     (tensor cores).
//   - lse: nothing (float32 throughout, summed in another order than the
//     CPU's): measured 5e-8 .. 1e-7; the CPU's 1e-6 rule applies.
//   - dq, dk and dv, once; and the backward's D = rowsum(dout ⊙ out) reads
//     the rounded out, which moves dS = P⊙(dP-D) by P·Σ|dout·δout|: of the
//     order of u again. On the tensor-core path the operands P and dS of
//     the products dv += Pᵀ·dout, dk += dSᵀ·q and dq += dS·k are rounded
//     too: a third term of the order of u. Measured 2.1e-3 .. 3.1e-3 (FMA
//     path) and 2.9e-3 .. 5.6e-3 (tensor cores; the worst: dq).
//
// The rules are 8e-3 for out (2.6 times the worst) and 1.2e-2 for the
// gradients (about three roundings of u; 2.1 times the worst); a dropped
// GQA head in dk or dv, a missing scale, a wrong D, a probability not
// rescaled or a causal or segment test off by one moves them by 1e-1 or
// more (the attention mutants of emu/mutants.sh).
// The float32 path (TestAttentionCUDA, the conformance suite's checks on
// Alloc buffers) measured at most 7.8e-7 absolute for out and lse and
// 3.4e-6 for the gradients (values of order 1 to 10) against the float64
// oracle, within the CPU's rules, which cudaTolerances uses.
var attentionBF16 = struct{ Out, LSE, Grad float64 }{Out: 8e-3, LSE: 1e-6, Grad: 1.2e-2}
