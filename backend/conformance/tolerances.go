package conformance

// Tol is one comparison rule: an element passes when
// |got - want| <= Atol + Rtol*max|want| over the tensor (the rule the
// Hugging Face goldens' README uses).
type Tol struct {
	Atol, Rtol float64
}

// Tolerances holds one rule per op.
type Tolerances struct {
	Embedding, RMSNorm, Linear, RoPE, Attention, SiLUMul, Add, AddScaled, CrossEntropy Tol
	// Grad is the rule for every backward op against central finite
	// differences of the float64 oracle's forward op.
	Grad Tol
	// SumSquares is relative to the float64 sum.
	SumSquares Tol
	// AdamW compares updated parameters and moments with a float64 AdamW.
	AdamW Tol
	// Dequantize compares with quant.NF4.Dequantize.
	Dequantize Tol
	// Fused holds the rules of the fused ops, which are compared with
	// their compositions on the CPU backend.
	Fused FusedTol
}

// CPUTolerances are the rules for a float32 implementation against the
// float64 oracle. Where they come from: float32 has a unit roundoff of
// 6e-8; a dot product of K terms accumulates at most about K·6e-8 relative
// error in the worst case and sqrt(K)·6e-8 typically. The largest K in the
// suite is 211 (Linear) and the measured worst errors of the CPU backend
// were below 3e-7 relative, so 2e-6 leaves about 10x headroom while still
// catching any real bug (a wrong sign, index or scale moves results by
// 1e-2 or more). Copies (Embedding) are exact.
var CPUTolerances = Tolerances{
	Embedding:    Tol{0, 0},
	RMSNorm:      Tol{1e-6, 2e-6},
	Linear:       Tol{1e-6, 2e-6},
	RoPE:         Tol{1e-6, 2e-6},
	Attention:    Tol{1e-6, 2e-6},
	SiLUMul:      Tol{1e-6, 2e-6},
	Add:          Tol{0, 1e-7},
	AddScaled:    Tol{0, 2e-7},
	CrossEntropy: Tol{1e-6, 1e-6},
	// Central differences with h = 1e-6 on the float64 oracle are exact to
	// about 1e-9; the float32 backward ops measured below 5e-7 relative
	// (the attention and RMSNorm reductions being the worst), so 1e-5
	// relative still catches a missing term, which moves a gradient by
	// 1e-2 or more.
	Grad:       Tol{1e-6, 1e-5},
	SumSquares: Tol{0, 1e-12},
	// A float32 AdamW step differs from float64 by a few ulps of the
	// parameter (|p| <= 3 in the suite) except where |g| is near eps,
	// which the suite avoids; 1e-6 absolute is about 10 ulps.
	AdamW: Tol{1e-6, 1e-6},
	// The CPU dequantizes with the quant package itself: bit-exact.
	Dequantize: Tol{0, 0},
}
