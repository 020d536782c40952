//go:build cgo

package cuda

import "github.com/tune-dev/tune/backend"

// DevicePointer returns the device address of the first element of x, a
// float32 buffer (from Alloc) of at least n elements, for libraries that
// work on device memory in place (NCCL). It panics on another buffer.
func (b *Backend) DevicePointer(x backend.Buffer, n int) uintptr {
	return uintptr(typed(x, n, f32, "DevicePointer", "buffer").addr())
}
