//go:build !cgo

package cuda

import "errors"

// Backend stands in for the CUDA backend in a build without cgo, where
// Open always fails.
type Backend struct{}

// Options is the cgo build's Options (it selects nothing here).
type Options struct{ Float32 bool }

// Open reports that the CUDA backend needs cgo.
func Open() (*Backend, error) { return OpenWith(Options{}) }

// OpenWith reports that the CUDA backend needs cgo.
func OpenWith(Options) (*Backend, error) {
	return nil, errors.New("cuda: tune was built without cgo; the CUDA backend needs it (build with CGO_ENABLED=1)")
}

// Name says which backend this is.
func (*Backend) Name() string { return "cuda (unavailable without cgo)" }

// Close does nothing.
func (*Backend) Close() error { return nil }
