// Package conformance checks a backend.Backend op by op against a plain
// float64 oracle written in this package, on random, awkward shapes (not
// multiples of 32, one token, odd vocabularies, grouped heads), with the
// output buffers poisoned with NaN and guard zones around every buffer.
//
// Every implementation runs the whole suite with one call from its tests:
//
//	conformance.Test(t, cpu.New(0), conformance.CPUTolerances)
//
// Tolerances live in tolerances.go, each with where it came from.
package conformance
