//go:build cgo

package cuda

// Transfers are the host<->device crossings a Backend has counted.
type Transfers = transfers

// Transfers returns the counts so far.
func (b *Backend) Transfers() Transfers { return b.count }
