//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package safetensors

import (
	"fmt"
	"io"
	"math"
	"os"
)

// mapFile reads the whole file into memory: this platform has no syscall.Mmap.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size > math.MaxInt {
		return nil, fmt.Errorf("file of %d bytes is too large for this platform", size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return b, nil
}

// unmapFile is a no-op: the garbage collector frees the buffer.
func unmapFile([]byte) error { return nil }

// releasePages does nothing: the file was read into memory, not mapped.
func releasePages(whole, part []byte) {}
