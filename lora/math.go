package lora

import "fmt"

// This file is the host (CPU) reference of the LoRA arithmetic: plain loops
// over row-major float32 slices, accumulating in float32 in index order.
// GPU kernels are checked against it.

// Forward adds the LoRA term of p to y:
//
//	y += scale·((x⊙mask)·Aᵀ)·Bᵀ
//
// with x [rows, In], y [rows, Out], A [R, In] and B [Out, R], all row-major.
// mask is nil for no dropout, or a [rows, In] slice of per-element dropout
// multipliers of x (0 or 1/(1-p), see backend.DropoutMask). y is accumulated into,
// so it normally already holds the base layer's x·Wᵀ + b. For each row the
// rank-R product t = (x⊙mask)·Aᵀ is summed over In, then t·Bᵀ over R, and
// the result is multiplied by scale and added to y.
//
// Forward panics if a slice length does not match the shapes.
func (p *Pair) Forward(y, x []float32, rows int, scale float32, mask []float32) {
	p.check("Forward")
	checkLen("Forward", "x", x, rows, p.In)
	checkLen("Forward", "y", y, rows, p.Out)
	if mask != nil {
		checkLen("Forward", "mask", mask, rows, p.In)
	}
	t := make([]float32, p.R)
	for r := range rows {
		p.project(t, x, mask, r)
		for o := range p.Out {
			var s float32
			for k := range p.R {
				s += t[k] * p.B[o*p.R+k]
			}
			y[r*p.Out+o] += scale * s
		}
	}
}

// Backward adds the gradients of the LoRA term to gA, gB and dx, given the
// gradient dy of the layer output and the forward input x and mask:
//
//	gA += scale·((dy·B)ᵀ·(x⊙mask))      [R, In]
//	gB += scale·(dyᵀ·((x⊙mask)·Aᵀ))      [Out, R]
//	dx += scale·((dy·B)·A)⊙mask          [rows, In]
//
// with dy [rows, Out] and x, mask as in Forward (mask nil for no dropout;
// the same mask as the forward pass). All three outputs are accumulated
// into, so gradients of several batches or of the base layer's input add
// up. dx may be nil to skip the input gradient (when nothing before the
// layer is trained, nothing needs it). Rows are processed in order: for each row the rank-R
// vectors t = (x⊙mask)·Aᵀ and g = dy·B are formed, then added, times scale,
// to gA, gB and dx.
//
// Backward panics if a slice length does not match the shapes.
func (p *Pair) Backward(dx, gA, gB, dy, x []float32, rows int, scale float32, mask []float32) {
	p.check("Backward")
	checkLen("Backward", "x", x, rows, p.In)
	checkLen("Backward", "dy", dy, rows, p.Out)
	checkLen("Backward", "gA", gA, p.R, p.In)
	checkLen("Backward", "gB", gB, p.Out, p.R)
	if dx != nil {
		checkLen("Backward", "dx", dx, rows, p.In)
	}
	if mask != nil {
		checkLen("Backward", "mask", mask, rows, p.In)
	}
	t := make([]float32, p.R)
	g := make([]float32, p.R)
	for r := range rows {
		p.project(t, x, mask, r)
		d := dy[r*p.Out : (r+1)*p.Out]
		for k := range p.R {
			var s float32
			for o := range p.Out {
				s += d[o] * p.B[o*p.R+k]
			}
			g[k] = s
		}
		for k := range p.R {
			for i := range p.In {
				gA[k*p.In+i] += scale * g[k] * masked(x, mask, r*p.In+i)
			}
		}
		for o := range p.Out {
			for k := range p.R {
				gB[o*p.R+k] += scale * d[o] * t[k]
			}
		}
		if dx == nil {
			continue
		}
		for i := range p.In {
			var s float32
			for k := range p.R {
				s += g[k] * p.A[k*p.In+i]
			}
			if mask != nil {
				s *= mask[r*p.In+i]
			}
			dx[r*p.In+i] += scale * s
		}
	}
}

// project sets t to row r of (x⊙mask)·Aᵀ.
func (p *Pair) project(t, x, mask []float32, r int) {
	for k := range p.R {
		var s float32
		for i := range p.In {
			s += masked(x, mask, r*p.In+i) * p.A[k*p.In+i]
		}
		t[k] = s
	}
}

// masked is x[j]·mask[j], or x[j] when mask is nil.
func masked(x, mask []float32, j int) float32 {
	if mask == nil {
		return x[j]
	}
	return x[j] * mask[j]
}

// check panics unless A and B hold R×In and Out×R values.
func (p *Pair) check(op string) {
	checkLen(op, "A", p.A, p.R, p.In)
	checkLen(op, "B", p.B, p.Out, p.R)
}

// checkLen panics unless v holds rows×cols values, naming both shapes.
func checkLen(op, name string, v []float32, rows, cols int) {
	if rows < 0 || cols < 0 || len(v) != rows*cols {
		panic(fmt.Sprintf("lora: %s: %s has %d values, want [%d %d] = %d", op, name, len(v), rows, cols, rows*cols))
	}
}

// Merge adds the adapter's delta for module of layer into the base weight
// w [Out, In] (row-major, Hugging Face layout), as PEFT's merge_and_unload
// does, and reports whether that linear is adapted (w is untouched if not).
// Each element becomes
//
//	w[o,i] + s·(Σ_k B[o,k]·A[k,i])
//
// in float32, the sum taken over k in order and s = float32(Scaling()). That
// is torch's fp32 W + scaling·(B @ A) up to the summation order of the
// matrix product (about 1e-7 on weights of magnitude 1). A merged model
// computes x·wᵀ and needs no adapter; Unmerge undoes the merge.
//
// Merge panics if len(w) is not Out·In.
func (a *Adapter) Merge(w []float32, layer int, module string) bool {
	return a.addDelta(w, layer, module, 1, "Merge")
}

// Unmerge subtracts what Merge added: each element becomes
// w[o,i] − s·(Σ_k B[o,k]·A[k,i]), computed as in Merge. Merge followed by
// Unmerge restores w up to float32 rounding. It reports whether the linear
// is adapted.
func (a *Adapter) Unmerge(w []float32, layer int, module string) bool {
	return a.addDelta(w, layer, module, -1, "Unmerge")
}

// addDelta adds sign·s·B·A to w.
func (a *Adapter) addDelta(w []float32, layer int, module string, sign float32, op string) bool {
	p, ok := a.Pair(layer, module)
	if !ok {
		return false
	}
	p.check(op)
	checkLen(op, "w", w, p.Out, p.In)
	s := sign * float32(a.Config.Scaling())
	for o := range p.Out {
		for i := range p.In {
			var d float32
			for k := range p.R {
				d += p.B[o*p.R+k] * p.A[k*p.In+i]
			}
			w[o*p.In+i] += s * d
		}
	}
	return true
}

// Linear computes the whole adapted layer, overwriting y [rows, Out]:
//
//	y = x·Wᵀ + bias + scale·((x⊙mask)·Aᵀ)·Bᵀ
//
// with w [Out, In] the frozen weight (Hugging Face layout) and bias nil or
// [Out]. It is the base product followed by Forward.
func (p *Pair) Linear(y, x, w, bias []float32, rows int, scale float32, mask []float32) {
	p.check("Linear")
	checkLen("Linear", "x", x, rows, p.In)
	checkLen("Linear", "y", y, rows, p.Out)
	checkLen("Linear", "w", w, p.Out, p.In)
	if bias != nil {
		checkLen("Linear", "bias", bias, 1, p.Out)
	}
	for r := range rows {
		for o := range p.Out {
			var s float32
			for i := range p.In {
				s += x[r*p.In+i] * w[o*p.In+i]
			}
			if bias != nil {
				s += bias[o]
			}
			y[r*p.Out+o] = s
		}
	}
	p.Forward(y, x, rows, scale, mask)
}

// LinearBackward is Linear's backward pass: it overwrites dx [rows, In]
// with the input gradient through the frozen weight and the adapter,
//
//	dx = dy·W + scale·((dy·B)·A)⊙mask
//
// and accumulates gA and gB as Backward does. The frozen weight and bias
// get no gradient.
func (p *Pair) LinearBackward(dx, gA, gB, dy, x, w []float32, rows int, scale float32, mask []float32) {
	p.check("LinearBackward")
	checkLen("LinearBackward", "dx", dx, rows, p.In)
	checkLen("LinearBackward", "dy", dy, rows, p.Out)
	checkLen("LinearBackward", "w", w, p.Out, p.In)
	for r := range rows {
		d := dx[r*p.In : (r+1)*p.In]
		clear(d)
		for o := range p.Out {
			g := dy[r*p.Out+o]
			for i := range p.In {
				d[i] += g * w[o*p.In+i]
			}
		}
	}
	p.Backward(dx, gA, gB, dy, x, rows, scale, mask)
}
