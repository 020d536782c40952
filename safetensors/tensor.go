package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Tensor is a named, typed, shaped block of little-endian bytes.
//
// For a tensor read from a File or Checkpoint, Data is a slice of the
// read-only memory map: do not write to it, and do not use it after Close.
type Tensor struct {
	Name  string
	DType DType
	Shape []int // [] for a scalar
	Data  []byte
}

// NumElements is the product of the shape (1 for a scalar).
func (t Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// checkLen reports whether Data holds exactly NumElements elements of DType.
func (t Tensor) checkLen() error {
	if n := t.NumElements() * t.DType.Size(); len(t.Data) != n {
		return errorf("", t.Name, "shape %s × %s = %d bytes but Data holds %d", formatDims(t.Shape), t.DType, n, len(t.Data))
	}
	return nil
}

// Float32s converts an F32, F16 or BF16 tensor to a new []float32.
func (t Tensor) Float32s() ([]float32, error) {
	out := make([]float32, t.NumElements())
	if err := t.ReadFloat32s(out); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadFloat32s converts an F32, F16 or BF16 tensor into dst, which holds
// at least NumElements elements (so a loader can reuse one buffer).
func (t Tensor) ReadFloat32s(dst []float32) error {
	switch t.DType {
	case F32, F16, BF16:
	default:
		return errorf("", t.Name, "dtype %s cannot be read as float32 (want F32, F16 or BF16)", t.DType)
	}
	if err := t.checkLen(); err != nil {
		return err
	}
	out := dst[:t.NumElements()]
	d := t.Data
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = Float16ToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = BFloat16ToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	}
	return nil
}

// Int64s converts an integer or BOOL tensor (I64, I32, I16, I8, U64, U32,
// U16, U8, BOOL) to a new []int64. A U64 value above MaxInt64 is an error.
func (t Tensor) Int64s() ([]int64, error) {
	switch t.DType {
	case I64, I32, I16, I8, U64, U32, U16, U8, BOOL:
	default:
		return nil, errorf("", t.Name, "dtype %s cannot be read as int64 (want an integer dtype or BOOL)", t.DType)
	}
	if err := t.checkLen(); err != nil {
		return nil, err
	}
	out := make([]int64, t.NumElements())
	d := t.Data
	le := binary.LittleEndian
	for i := range out {
		switch t.DType {
		case I64:
			out[i] = int64(le.Uint64(d[8*i:]))
		case U64:
			v := le.Uint64(d[8*i:])
			if v > math.MaxInt64 {
				return nil, errorf("", t.Name, "element %d = %d does not fit in int64", i, v)
			}
			out[i] = int64(v)
		case I32:
			out[i] = int64(int32(le.Uint32(d[4*i:])))
		case U32:
			out[i] = int64(le.Uint32(d[4*i:]))
		case I16:
			out[i] = int64(int16(le.Uint16(d[2*i:])))
		case U16:
			out[i] = int64(le.Uint16(d[2*i:]))
		case I8:
			out[i] = int64(int8(d[i]))
		case U8, BOOL:
			out[i] = int64(d[i])
		}
	}
	return out, nil
}

// F32Tensor builds an F32 tensor from v. It panics if shape does not hold
// exactly len(v) elements.
func F32Tensor(name string, shape []int, v []float32) Tensor {
	checkShape("F32Tensor", name, shape, len(v))
	return Tensor{Name: name, DType: F32, Shape: shape, Data: EncodeF32(v)}
}

// F16Tensor builds an F16 tensor from v, rounding to nearest even. It panics
// if shape does not hold exactly len(v) elements.
func F16Tensor(name string, shape []int, v []float32) Tensor {
	checkShape("F16Tensor", name, shape, len(v))
	return Tensor{Name: name, DType: F16, Shape: shape, Data: EncodeF16(v)}
}

// BF16Tensor builds a BF16 tensor from v, rounding to nearest even. It panics
// if shape does not hold exactly len(v) elements.
func BF16Tensor(name string, shape []int, v []float32) Tensor {
	checkShape("BF16Tensor", name, shape, len(v))
	return Tensor{Name: name, DType: BF16, Shape: shape, Data: EncodeBF16(v)}
}

// I64Tensor builds an I64 tensor from v. It panics if shape does not hold
// exactly len(v) elements.
func I64Tensor(name string, shape []int, v []int64) Tensor {
	checkShape("I64Tensor", name, shape, len(v))
	return Tensor{Name: name, DType: I64, Shape: shape, Data: EncodeI64(v)}
}

// U8Tensor builds a U8 tensor holding a copy of data. It panics if shape
// does not hold exactly len(data) elements.
func U8Tensor(name string, shape []int, data []byte) Tensor {
	checkShape("U8Tensor", name, shape, len(data))
	return Tensor{Name: name, DType: U8, Shape: shape, Data: slices.Clone(data)}
}

// checkShape panics, naming the constructor, tensor, shape and length, when
// shape has a negative dimension or does not hold n elements.
func checkShape(fn, name string, shape []int, n int) {
	count := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("safetensors: %s(%q): negative dimension in shape %s", fn, name, formatDims(shape)))
		}
		count *= d
	}
	if count != n {
		panic(fmt.Sprintf("safetensors: %s(%q): shape %s holds %d elements but %d values were given", fn, name, formatDims(shape), count, n))
	}
}
