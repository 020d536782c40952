//go:build cgo

package cuda

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tune-dev/tune/quant"
)

// TestQuantizeExactCUDA checks QuantizeNF4 byte for byte against
// quant.Quantize with double quantization: the codes, the 8-bit scales,
// the nested scales, the code table and the offset. The cases cover an
// odd element count, a partial last block, several nested blocks with a
// partial last one, block sizes 32 to 4096, an all-zero block, blocks
// sharing one absmax (every nested difference 0), a misaligned input view
// and bfloat16 input (quantized as its values).
func TestQuantizeExactCUDA(t *testing.T) {
	b := openOrSkip(t)
	rng := rand.New(rand.NewPCG(7, 11))
	for _, c := range []struct {
		name              string
		rows, cols, block int
		off               int // the input view's offset, in elements
		zero, flat, bf    bool
	}{
		{"odd", 3, 37, 64, 0, false, false, false},
		{"nested", 70, 129, 32, 0, true, false, false},
		{"wide-block", 5, 1000, 4096, 1, false, false, false},
		{"many-nested", 33, 257, 32, 3, false, false, false},
		{"flat", 9, 64, 64, 0, false, true, false},
		{"bf16", 7, 129, 128, 1, true, false, true},
	} {
		n := c.rows * c.cols
		w := randn(rng, n, 0.05)
		if c.zero {
			clear(w[c.block : 2*c.block])
		}
		if c.flat {
			for i := range w {
				w[i] = float32(1-2*(i%2)) * 0.25
			}
		}
		if c.bf {
			roundBF16(w)
		}
		shape := []int{c.rows, c.cols}
		want, err := quant.Quantize(w, shape, c.block, true)
		if err != nil {
			t.Fatal(err)
		}
		whole := b.Alloc(n + c.off)
		if c.bf {
			whole = b.AllocActivation(n + c.off)
		}
		in := b.Slice(whole, c.off, n)
		b.Upload(in, w)
		q := b.QuantizeNF4(in, shape, c.block)
		got := b.DownloadNF4(q)
		if !reflect.DeepEqual(got, want) {
			diff(t, c.name, got, want)
		}
		b.Free(q)
		b.Free(whole)
	}
}

// diff reports where two NF4 tensors first differ.
func diff(t *testing.T, name string, got, want *quant.NF4) {
	t.Helper()
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("%s: code byte %d = %#x, want %#x", name, i, got.Data[i], want.Data[i])
		}
	}
	g, w := got.Double, want.Double
	if g.Offset != w.Offset {
		t.Fatalf("%s: offset %v, want %v", name, g.Offset, w.Offset)
	}
	for i := range w.QAbsmax {
		if g.QAbsmax[i] != w.QAbsmax[i] {
			t.Fatalf("%s: 8-bit scale %d = %d, want %d", name, i, g.QAbsmax[i], w.QAbsmax[i])
		}
	}
	for i := range w.Absmax {
		if g.Absmax[i] != w.Absmax[i] {
			t.Fatalf("%s: nested scale %d = %v, want %v", name, i, g.Absmax[i], w.Absmax[i])
		}
	}
	t.Fatalf("%s: got %+v, want %+v", name, got, want)
}
