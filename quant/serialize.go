package quant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tune-dev/tune/internal/pyjson"
	"github.com/tune-dev/tune/safetensors"
)

// The suffixes of the tensors bitsandbytes saves next to a 4-bit weight
// (QuantState.as_dict(packed=True), stored by Linear4bit under
// "<weight name>.<key>").
const (
	suffixAbsmax         = ".absmax"
	suffixQuantMap       = ".quant_map"
	suffixNestedAbsmax   = ".nested_absmax"
	suffixNestedQuantMap = ".nested_quant_map"
	suffixState          = ".quant_state.bitsandbytes__nf4"
	suffixStateFP4       = ".quant_state.bitsandbytes__fp4"
)

// Tensors returns q in bitsandbytes' serialized layout under name, the name
// of the weight (e.g. "model.layers.0.mlp.up_proj.weight"):
//
//	name                                   U8  [(n+1)/2, 1]  packed codes
//	name.absmax                            F32 [blocks]      absmax, or U8 [blocks] codes when double-quantized
//	name.quant_map                         F32 [16]          NF4Code
//	name.nested_absmax                     F32 [ceil(blocks/256)]  (double only)
//	name.nested_quant_map                  F32 [256]               (double only)
//	name.quant_state.bitsandbytes__nf4     U8  [len]         the JSON quant state
//
// The JSON is byte for byte what bitsandbytes writes (Python's json.dumps
// of quant_type, blocksize, dtype, shape and, when double-quantized,
// nested_blocksize, nested_dtype and nested_offset). The tensors hold copies
// of q's data. It returns an error if the fields of q are inconsistent.
func (q *NF4) Tensors(name string) ([]safetensors.Tensor, error) {
	if err := q.check(); err != nil {
		return nil, fmt.Errorf("quant: %s: %w", name, err)
	}
	ts := []safetensors.Tensor{safetensors.U8Tensor(name, []int{len(q.Data), 1}, q.Data)}
	d := q.Double
	if d == nil {
		ts = append(ts, safetensors.F32Tensor(name+suffixAbsmax, []int{len(q.Absmax)}, q.Absmax))
	} else {
		ts = append(ts, safetensors.U8Tensor(name+suffixAbsmax, []int{len(d.QAbsmax)}, d.QAbsmax))
	}
	ts = append(ts, safetensors.F32Tensor(name+suffixQuantMap, []int{len(NF4Code)}, NF4Code[:]))
	if d != nil {
		ts = append(ts,
			safetensors.F32Tensor(name+suffixNestedAbsmax, []int{len(d.Absmax)}, d.Absmax),
			safetensors.F32Tensor(name+suffixNestedQuantMap, []int{len(d.Code)}, d.Code[:]))
	}
	js := q.stateJSON()
	ts = append(ts, safetensors.U8Tensor(name+suffixState, []int{len(js)}, js))
	return ts, nil
}

// stateJSON is json.dumps of the non-tensor items of QuantState.as_dict, in
// its key order.
func (q *NF4) stateJSON() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"quant_type": "nf4", "blocksize": %d, "dtype": %q, "shape": [`, q.BlockSize, q.DType)
	for i, d := range q.Shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteString("]")
	if d := q.Double; d != nil {
		fmt.Fprintf(&b, `, "nested_blocksize": %d, "nested_dtype": %q, "nested_offset": %s`,
			d.BlockSize, dtypeF32, pyjson.Float(float64(d.Offset)))
	}
	b.WriteString("}")
	return b.Bytes()
}

// quantState is the JSON quant state; pointers tell absent keys apart.
// Keys bitsandbytes does not write are ignored.
type quantState struct {
	QuantType       *string  `json:"quant_type"`
	BlockSize       *int     `json:"blocksize"`
	DType           *string  `json:"dtype"`
	Shape           *[]int   `json:"shape"`
	NestedBlockSize *int     `json:"nested_blocksize"`
	NestedDType     *string  `json:"nested_dtype"`
	NestedOffset    *float64 `json:"nested_offset"`
}

// IsQuantized reports whether a checkpoint holds name as a bitsandbytes
// 4-bit weight, that is has the quant state tensor
// name+".quant_state.bitsandbytes__nf4" (or its fp4 twin, which [Read]
// rejects with a clear error rather than leaving the caller to load packed
// bytes as a float weight).
func IsQuantized(name string, has func(string) bool) bool {
	return has(name+suffixState) || has(name+suffixStateFP4)
}

// Read loads the NF4 weight name from the tensors of a checkpoint saved in
// bitsandbytes' layout (see [NF4.Tensors]); get returns a tensor by name, as
// (*safetensors.File).Tensor does. The result holds copies of the data, so
// it outlives the checkpoint. Double quantization uses the nested quant map
// stored in the checkpoint. A missing tensor, a wrong dtype or shape, a bad
// quant state JSON, or a quant_map other than NF4Code is an error naming
// the tensor; an fp4 weight or an unknown dtype is an error wrapping
// [ErrUnsupported].
func Read(name string, get func(string) (safetensors.Tensor, bool)) (*NF4, error) {
	stateName := name + suffixState
	st, ok := get(stateName)
	if !ok {
		if _, fp4 := get(name + suffixStateFP4); fp4 {
			return nil, tensorErr(name+suffixStateFP4, `quant_type "fp4": %w; only nf4 is supported`, ErrUnsupported)
		}
		return nil, tensorErr(stateName, "missing")
	}
	s, err := parseState(st)
	if err != nil {
		return nil, tensorErr(stateName, "%w", err)
	}
	q := &NF4{Shape: *s.Shape, BlockSize: *s.BlockSize, DType: strings.TrimPrefix(*s.DType, "torch.")}
	n, err := numElements(q.Shape)
	if err != nil {
		return nil, tensorErr(stateName, "%w", err)
	}
	if n == 0 {
		return nil, tensorErr(stateName, "shape %v holds no elements", q.Shape)
	}
	if !validBlockSize(q.BlockSize) {
		return nil, tensorErr(stateName, "blocksize %d is not a power of two from 32 to 4096", q.BlockSize)
	}
	blocks := ceilDiv(n, q.BlockSize)

	w, err := need(get, name)
	if err != nil {
		return nil, err
	}
	// The packed bytes are uint8 of shape [(n+1)/2, 1], or another dtype
	// viewing the same bytes (bitsandbytes' quant_storage).
	if size := w.DType.Size(); size == 0 || len(w.Data) != (n+1)/2 || !slices.Equal(w.Shape, []int{len(w.Data) / size, 1}) {
		return nil, tensorErr(name, "%s %v holding %d bytes, want U8 [%d, 1] for %d elements", w.DType, w.Shape, len(w.Data), (n+1)/2, n)
	}
	q.Data = slices.Clone(w.Data)

	qm, err := float32s(get, name+suffixQuantMap, len(NF4Code))
	if err != nil {
		return nil, err
	}
	if [16]float32(qm) != NF4Code {
		return nil, tensorErr(name+suffixQuantMap, "is not the NF4 code %v: %v", NF4Code, qm)
	}

	if s.NestedBlockSize == nil && s.NestedDType == nil && s.NestedOffset == nil {
		if _, ok := get(name + suffixNestedAbsmax); ok {
			return nil, tensorErr(stateName, "has no nested_* keys but %s exists", name+suffixNestedAbsmax)
		}
		if q.Absmax, err = float32s(get, name+suffixAbsmax, blocks); err != nil {
			return nil, err
		}
	} else if q.Double, err = readDouble(name, get, s, blocks); err != nil {
		return nil, err
	}
	return q, nil
}

// readDouble reads the double-quantized absmax of the weight name.
func readDouble(name string, get func(string) (safetensors.Tensor, bool), s *quantState, blocks int) (*DoubleQuant, error) {
	stateName := name + suffixState
	if s.NestedBlockSize == nil || s.NestedDType == nil || s.NestedOffset == nil {
		return nil, tensorErr(stateName, "needs all of nested_blocksize, nested_dtype and nested_offset")
	}
	if dt := strings.TrimPrefix(*s.NestedDType, "torch."); dt != dtypeF32 {
		return nil, tensorErr(stateName, "nested_dtype %q: %w; want float32", dt, ErrUnsupported)
	}
	d := &DoubleQuant{BlockSize: *s.NestedBlockSize, Offset: float32(*s.NestedOffset)}
	if !validBlockSize(d.BlockSize) {
		return nil, tensorErr(stateName, "nested_blocksize %d is not a power of two from 32 to 4096", d.BlockSize)
	}
	if math.IsNaN(float64(d.Offset)) || math.IsInf(float64(d.Offset), 0) {
		return nil, tensorErr(stateName, "nested_offset %v is not finite", *s.NestedOffset)
	}
	qa, err := need(get, name+suffixAbsmax)
	if err != nil {
		return nil, err
	}
	if qa.DType != safetensors.U8 || !slices.Equal(qa.Shape, []int{blocks}) || len(qa.Data) != blocks {
		return nil, tensorErr(name+suffixAbsmax, "%s %v, want U8 [%d] (quantized absmax)", qa.DType, qa.Shape, blocks)
	}
	d.QAbsmax = slices.Clone(qa.Data)
	if d.Absmax, err = float32s(get, name+suffixNestedAbsmax, ceilDiv(blocks, d.BlockSize)); err != nil {
		return nil, err
	}
	code, err := float32s(get, name+suffixNestedQuantMap, len(d.Code))
	if err != nil {
		return nil, err
	}
	d.Code = [256]float32(code)
	return d, nil
}

// parseState decodes and checks the JSON quant state tensor.
func parseState(t safetensors.Tensor) (*quantState, error) {
	if t.DType != safetensors.U8 || len(t.Shape) != 1 || t.Shape[0] != len(t.Data) {
		return nil, fmt.Errorf("%s %v, want U8 [bytes of JSON]", t.DType, t.Shape)
	}
	var s quantState
	if err := json.Unmarshal(t.Data, &s); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	switch {
	case s.QuantType == nil || s.BlockSize == nil || s.DType == nil || s.Shape == nil:
		return nil, fmt.Errorf("needs quant_type, blocksize, dtype and shape: %s", t.Data)
	case *s.QuantType != "nf4":
		return nil, fmt.Errorf("quant_type %q: %w; only nf4 is supported", *s.QuantType, ErrUnsupported)
	}
	switch dt := strings.TrimPrefix(*s.DType, "torch."); dt {
	case dtypeBF16, dtypeF16, dtypeF32:
	default:
		return nil, fmt.Errorf("dtype %q: %w; want bfloat16, float16 or float32", dt, ErrUnsupported)
	}
	return &s, nil
}

// need returns the tensor name, or an error if it is missing.
func need(get func(string) (safetensors.Tensor, bool), name string) (safetensors.Tensor, error) {
	t, ok := get(name)
	if !ok {
		return t, tensorErr(name, "missing")
	}
	return t, nil
}

// float32s returns the F32 tensor name, which must have shape [n] and
// finite elements (the scales and code tables of a 4-bit weight).
func float32s(get func(string) (safetensors.Tensor, bool), name string, n int) ([]float32, error) {
	t, err := need(get, name)
	if err != nil {
		return nil, err
	}
	if t.DType != safetensors.F32 || !slices.Equal(t.Shape, []int{n}) {
		return nil, tensorErr(name, "%s %v, want F32 [%d]", t.DType, t.Shape, n)
	}
	v, err := t.Float32s()
	if err == nil {
		err = t.CheckFinite()
	}
	if err != nil {
		return nil, tensorErr(name, "%w", err)
	}
	return v, nil
}

// tensorErr returns an error "quant: tensor "<name>": <problem>".
func tensorErr(name, format string, args ...any) error {
	return fmt.Errorf("quant: tensor %q: "+format, append([]any{name}, args...)...)
}
