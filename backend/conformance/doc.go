// Package conformance checks a backend op by op: every op of the
// vocabulary the backend declares (backend.Memory.Ops) against a plain
// float64 oracle written in this package, and each fused op against the
// composition its documentation gives, run on the CPU backend. Shapes are
// random and awkward (not multiples of 32, one token, odd vocabularies,
// grouped heads), output buffers are poisoned with NaN and every buffer
// sits between guard zones. A declared op that is wrong, panics or lacks
// its method (or, outside Forward and Backward, its interface) fails the
// suite; the ops a backend declares missing are
// logged.
//
// Every implementation runs the whole suite with one call from its tests:
//
//	conformance.Test(t, cpu.New(0), conformance.CPUTolerances)
//
// A backend whose activations are stored otherwise (AllocActivation's
// bfloat16 on the GPU) also runs TestActivations, the Forward and Backward
// checks again with the activations in that storage, under its own rules.
//
// Tolerances live in tolerances.go, each with where it came from.
package conformance
