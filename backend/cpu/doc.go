// Package cpu is the float32 reference implementation of backend.Backend:
// plain Go loops, parallel across cores, checked against Hugging Face
// goldens and a float64 oracle. Every accelerator is tested against it.
//
// Buffers are ordinary []float32 slices in host memory. Work is split
// across a fixed number of goroutines (GOMAXPROCS by default); the inner
// loops do not allocate.
package cpu
