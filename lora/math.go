package lora

import "fmt"

// Merge and Unmerge fold an adapter into a base weight on the host. The
// adapted layer itself, forward and backward with its dropout, is an op of
// package backend (backend.LoRALinearForward and LoRALinearBackward).

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
