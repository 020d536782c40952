package safetensors

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// naiveNonFinite converts every element and tests it: the reference for
// CheckFinite's bit scan.
func naiveNonFinite(t Tensor) int {
	for i := range t.NumElements() {
		var f float64
		switch t.DType {
		case F64:
			f = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
		case F32:
			f = float64(math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:])))
		case F16:
			f = float64(Float16ToFloat32(binary.LittleEndian.Uint16(t.Data[2*i:])))
		case BF16:
			f = float64(BFloat16ToFloat32(binary.LittleEndian.Uint16(t.Data[2*i:])))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return i
		}
	}
	return -1
}

func TestCheckFinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	// Sizes cover the scalar tail, one word and many.
	for _, n := range []int{1, 3, 4, 9, 1000} {
		for _, dt := range []DType{F64, F32, F16, BF16} {
			v := make([]float32, n)
			for i := range v {
				// Large finite values too: F16's largest is 65504.
				v[i] = float32(rng.NormFloat64() * 1e4)
			}
			var tn Tensor
			switch dt {
			case F64:
				b := make([]byte, 8*n)
				for i, f := range v {
					binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(f)))
				}
				tn = Tensor{Name: "w", DType: F64, Shape: []int{n}, Data: b}
			case F32:
				tn = F32Tensor("w", []int{n}, v)
			case F16:
				for i := range v {
					v[i] = max(-65504, min(65504, v[i]))
				}
				tn = F16Tensor("w", []int{n}, v)
			case BF16:
				tn = BF16Tensor("w", []int{n}, v)
			}
			require.NoError(t, tn.CheckFinite(), "%s n=%d", dt, n)
			size := dt.Size()
			for _, bad := range []struct {
				at   int
				bits uint64
				want string
			}{
				{n - 1, 0x7fff_ffff_ffff_ffff, "NaN"},
				{n / 2, 0xffff_ffff_ffff_ffff, "NaN"},
				{0, 0, "+Inf"},
				{rng.IntN(n), 1 << 63, "-Inf"},
			} {
				data := append([]byte(nil), tn.Data...)
				x := tn
				x.Data = data
				bits := bad.bits
				if bad.want != "NaN" {
					exp := map[DType]uint64{F64: 0x7ff0_0000_0000_0000, F32: 0x7f80_0000, F16: 0x7c00, BF16: 0x7f80}[dt]
					bits = exp | bits>>(64-8*size) // the sign for -Inf
				}
				for k := range size {
					data[bad.at*size+k] = byte(bits >> (8 * k))
				}
				want := naiveNonFinite(x)
				require.Equal(t, bad.at, want)
				err := x.CheckFinite()
				require.Error(t, err, "%s n=%d at %d", dt, n, bad.at)
				require.Contains(t, err.Error(), "element "+strconv.Itoa(want)+" ")
				require.Contains(t, err.Error(), bad.want)
				require.Contains(t, err.Error(), `tensor "w"`)
			}
		}
	}
	// Coordinates of the first bad element; integer tensors always pass.
	x := F32Tensor("m", []int{2, 3}, []float32{0, 1, 2, 3, float32(math.NaN()), 5})
	require.ErrorContains(t, x.CheckFinite(), "element 4 [1, 1] is NaN")
	require.NoError(t, I64Tensor("i", []int{1}, []int64{-1}).CheckFinite())
}

// BenchmarkCheckFinite measures the load-time scan on Qwen2.5-0.5B's
// largest weight, the [151936, 896] BF16 embedding (272 MB), against the
// conversion to float32 every weight goes through anyway.
func BenchmarkCheckFinite(b *testing.B) {
	shape := []int{151936, 896}
	data := make([]byte, 2*shape[0]*shape[1])
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < len(data); i += 2 {
		binary.LittleEndian.PutUint16(data[i:], uint16(rng.Uint32())&0x3fff) // finite
	}
	x := Tensor{Name: "model.embed_tokens.weight", DType: BF16, Shape: shape, Data: data}
	b.Run("CheckFinite", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := x.CheckFinite(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Float32s", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := x.Float32s(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
