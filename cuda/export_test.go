//go:build cgo

package cuda

import "testing"

// Transfers are the host<->device crossings a Backend has counted.
type Transfers = transfers

// Transfers returns the counts so far.
func (b *Backend) Transfers() Transfers { return b.count }

// OpenOrSkip opens the backend with o for a test whose name ends in CUDA,
// skipping it (or failing it, with TUNE_CUDA_EXPECT=gpu) where the backend
// does not open.
func OpenOrSkip(t testing.TB, o Options) *Backend { return openWithOrSkip(t, o) }

// ModelTol and ModelTolerances are the rules of the whole-model tests.
type ModelTol = modelTol

// ModelTolerances: see tolerances_test.go.
var ModelTolerances = modelTolerances

// ContextBytes is the device memory a context takes when it opens (its
// cuBLASLt workspace and sum scalar), part of Workspace.
const ContextBytes = cublasWorkspaceBytes + sumBytes
