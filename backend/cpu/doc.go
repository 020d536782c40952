// Package cpu is the float32 reference implementation of backend.Backend:
// Go loops parallel across cores, with the matrix products' inner tile in
// AVX2+FMA assembly where the processor has both (kernel_amd64.s; the Go
// tile elsewhere, equal up to float32 summation order), checked against
// Hugging Face goldens and a float64 oracle. Every accelerator is tested
// against it.
//
// Buffers are ordinary []float32 slices in host memory. Work is split
// across a fixed number of goroutines (GOMAXPROCS by default); the inner
// loops do not allocate.
package cpu
