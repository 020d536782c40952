package safetensors

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDTypeSize(t *testing.T) {
	// Element sizes from the safetensors format's dtype list.
	sizes := map[DType]int{
		F64: 8, I64: 8, U64: 8, F32: 4, I32: 4, U32: 4, F16: 2, BF16: 2, I16: 2, U16: 2,
		I8: 1, U8: 1, BOOL: 1, F8E4M3: 1, F8E5M2: 1, "F99": 0, "f32": 0, "": 0,
	}
	for dt, size := range sizes {
		assert.Equal(t, size, dt.Size(), dt)
		assert.Equal(t, size > 0, dt.Valid(), dt)
	}
}

func TestNumElements(t *testing.T) {
	assert.Equal(t, 1, Tensor{}.NumElements(), "a scalar has one element")
	assert.Equal(t, 24, Tensor{Shape: []int{2, 3, 4}}.NumElements())
	assert.Equal(t, 0, Tensor{Shape: []int{5, 0}}.NumElements())
}

// The little-endian byte patterns are the IEEE 754 encodings of the values
// (1.5 = 0x3fc00000 in F32, 0x3e00 in F16, 0x3fc0 in BF16).
func TestFloat32s(t *testing.T) {
	tests := []struct {
		name string
		t    Tensor
		want []float32
	}{
		{"F32", Tensor{Name: "x", DType: F32, Shape: []int{2}, Data: []byte{0, 0, 0xc0, 0x3f, 0, 0, 0x80, 0xbf}}, []float32{1.5, -1}},
		{"F16", Tensor{Name: "x", DType: F16, Shape: []int{3}, Data: []byte{0x00, 0x3e, 0x01, 0x00, 0x00, 0xfc}},
			[]float32{1.5, float32(math.Ldexp(1, -24)), float32(math.Inf(-1))}},
		{"BF16", Tensor{Name: "x", DType: BF16, Shape: []int{1, 2}, Data: []byte{0xc0, 0x3f, 0x81, 0x3f}}, []float32{1.5, 1.0078125}},
		{"F32 scalar", F32Tensor("s", nil, []float32{7}), []float32{7}},
		{"F32 empty", F32Tensor("e", []int{0, 3}, nil), []float32{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.t.Float32s()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// Each constructor round-trips through Float32s/Int64s; BF16 and F16 round
// to nearest even (1.00390625 = 1 + 2^-8 is the BF16 tie between 1 and
// 1 + 2^-7, so it becomes 1).
func TestConstructors(t *testing.T) {
	v := []float32{1, -2.5, 1.00390625, 0}
	f32, err := F32Tensor("w", []int{2, 2}, v).Float32s()
	require.NoError(t, err)
	assert.Equal(t, v, f32)
	bf, err := BF16Tensor("w", []int{4}, v).Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2.5, 1, 0}, bf)
	h, err := F16Tensor("w", []int{4}, v).Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2.5, 1.00390625, 0}, h, "1 + 2^-8 is exact in F16 (10-bit mantissa)")
	ids := []int64{-100, 0, math.MaxInt64, math.MinInt64}
	got, err := I64Tensor("ids", []int{4}, ids).Int64s()
	require.NoError(t, err)
	assert.Equal(t, ids, got)

	assert.PanicsWithValue(t, `safetensors: F32Tensor("w"): shape [2, 3] holds 6 elements but 4 values were given`,
		func() { F32Tensor("w", []int{2, 3}, v) })
	assert.PanicsWithValue(t, `safetensors: BF16Tensor("w"): shape [] holds 1 elements but 4 values were given`,
		func() { BF16Tensor("w", nil, v) })
	assert.PanicsWithValue(t, `safetensors: I64Tensor("ids"): negative dimension in shape [-4]`,
		func() { I64Tensor("ids", []int{-4}, ids) })
	assert.Panics(t, func() { F16Tensor("w", []int{5}, v) })
}

// U8Tensor copies its bytes, so changing the caller's slice afterwards
// leaves the tensor alone.
func TestU8Tensor(t *testing.T) {
	b := []byte{0, 7, 255}
	u := U8Tensor("q", []int{3, 1}, b)
	b[0] = 9
	assert.Equal(t, Tensor{Name: "q", DType: U8, Shape: []int{3, 1}, Data: []byte{0, 7, 255}}, u)
	got, err := u.Int64s()
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 7, 255}, got)
	assert.PanicsWithValue(t, `safetensors: U8Tensor("q"): shape [2] holds 2 elements but 3 values were given`,
		func() { U8Tensor("q", []int{2}, b) })
}

// Expected values: two's complement little-endian decoding of the bytes.
func TestInt64s(t *testing.T) {
	tests := []struct {
		dt   DType
		data []byte
		want []int64
	}{
		{I64, []byte{0x9c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0}, []int64{-100, 1}},
		{I32, []byte{0xff, 0xff, 0xff, 0xff, 0x10, 0x27, 0, 0}, []int64{-1, 10000}},
		{U32, []byte{0xff, 0xff, 0xff, 0xff, 0x10, 0x27, 0, 0}, []int64{4294967295, 10000}},
		{I16, []byte{0x00, 0x80, 0xff, 0x7f}, []int64{-32768, 32767}},
		{U16, []byte{0x00, 0x80, 0xff, 0x7f}, []int64{32768, 32767}},
		{I8, []byte{0x80, 0x7f}, []int64{-128, 127}},
		{U8, []byte{0x80, 0x7f}, []int64{128, 127}},
		{BOOL, []byte{1, 0}, []int64{1, 0}},
		{U64, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 2, 0, 0, 0, 0, 0, 0, 0}, []int64{math.MaxInt64, 2}},
	}
	for _, tt := range tests {
		t.Run(string(tt.dt), func(t *testing.T) {
			got, err := Tensor{Name: "ids", DType: tt.dt, Shape: []int{2}, Data: tt.data}.Int64s()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestConversionErrorsNameTheTensor(t *testing.T) {
	_, err := Tensor{Name: "ids", DType: I64, Shape: []int{1}, Data: make([]byte, 8)}.Float32s()
	assert.EqualError(t, err, `safetensors: tensor "ids": dtype I64 cannot be read as float32 (want F32, F16 or BF16)`)
	_, err = Tensor{Name: "w", DType: BF16, Shape: []int{1}, Data: make([]byte, 2)}.Int64s()
	assert.EqualError(t, err, `safetensors: tensor "w": dtype BF16 cannot be read as int64 (want an integer dtype or BOOL)`)
	_, err = Tensor{Name: "w", DType: F64, Shape: []int{1}, Data: make([]byte, 8)}.Float32s()
	assert.ErrorContains(t, err, `tensor "w": dtype F64 cannot be read as float32`)
	_, err = Tensor{Name: "w", DType: F32, Shape: []int{3}, Data: make([]byte, 8)}.Float32s()
	assert.EqualError(t, err, `safetensors: tensor "w": shape [3] × F32 = 12 bytes but Data holds 8`)
	_, err = Tensor{Name: "u", DType: U64, Shape: []int{1}, Data: []byte{0, 0, 0, 0, 0, 0, 0, 0x80}}.Int64s()
	assert.EqualError(t, err, `safetensors: tensor "u": element 0 = 9223372036854775808 does not fit in int64`)
}
