//go:build cgo

package cuda

import (
	"math"
	"testing"
)

// TestIndexUploadOnceCUDA checks uploadInts' cache: the same indices in a
// slot are copied once, new ones (also a caller's slice changed in place)
// are copied, a slot that grows is copied into afresh, and the device
// always holds what the last call passed.
func TestIndexUploadOnceCUDA(t *testing.T) {
	b := openOrSkip(t)
	device := func(slot indexArg, n int) []int32 {
		f := make([]float32, n)
		b.Download(f, &buffer{mem: b.index.mem[slot], n: n, dt: f32})
		v := make([]int32, n)
		for i, x := range f {
			v[i] = int32(math.Float32bits(x))
		}
		return v
	}
	step := func(name string, slot indexArg, v []int32, copies int) {
		t.Helper()
		before := b.Transfers().Uploads
		b.uploadInts(slot, v, "test")
		if got := b.Transfers().Uploads - before; got != copies {
			t.Fatalf("%s: %d copies, want %d", name, got, copies)
		}
		got := device(slot, len(v))
		for i := range v {
			if got[i] != v[i] {
				t.Fatalf("%s: device element %d = %d, want %d", name, i, got[i], v[i])
			}
		}
	}
	pos := []int32{0, 1, 2, 3, 4}
	step("first", argPos, pos, 1)
	step("same", argPos, pos, 0)
	step("equal copy", argPos, []int32{0, 1, 2, 3, 4}, 0)
	step("another slot", argMask, pos, 1)
	pos[3] = 9
	step("changed in place", argPos, pos, 1)
	step("shorter", argPos, pos[:2], 1)
	step("longer", argPos, []int32{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 1)
	step("grown, same", argPos, []int32{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 0)
	step("mask untouched", argMask, []int32{0, 1, 2, 3, 4}, 0)
}
