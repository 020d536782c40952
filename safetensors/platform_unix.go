//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package safetensors

import (
	"fmt"
	"math"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of f read-only. The mapping outlives f.
func mapFile(f *os.File, size int64) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("file of %d bytes is too large to map on this platform", size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	return b, nil
}

// unmapFile releases a mapping made by mapFile.
func unmapFile(b []byte) error {
	if b == nil {
		return nil
	}
	if err := syscall.Munmap(b); err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	return nil
}

// releasePages drops the pages of part, a range of the mapping whole, from
// the process (madvise MADV_DONTNEED: the mapping is a read-only shared
// file mapping, so touching them again reads the file). The range is
// widened to whole pages inside the mapping; neighbours that share those
// pages just fault them back in. Failure only costs memory, so it is
// ignored.
func releasePages(whole, part []byte) {
	page := uintptr(os.Getpagesize())
	base := uintptr(unsafe.Pointer(unsafe.SliceData(whole)))
	lo := (uintptr(unsafe.Pointer(unsafe.SliceData(part))) - base) &^ (page - 1)
	hi := min(uintptr(len(whole)), (uintptr(unsafe.Pointer(unsafe.SliceData(part)))-base+uintptr(len(part))+page-1)&^(page-1))
	_ = unix.Madvise(whole[lo:hi], unix.MADV_DONTNEED)
}
