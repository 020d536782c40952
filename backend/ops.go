package backend

import (
	"fmt"
	"math/bits"
	"reflect"
	"strings"
)

// Op names one op of the vocabulary: a method of Forward, Backward,
// Optimizer or Quant, or one of the fused ops of fused.go. Memory is not
// part of it: every backend has all of Memory.
type Op uint8

// The vocabulary, group by group. The names are the method names.
const (
	OpEmbedding Op = iota
	OpRMSNorm
	OpLinear
	OpRoPE
	OpAttention
	OpSiLUMul
	OpAdd
	OpAddScaled
	OpCrossEntropy

	OpRMSNormBackward
	OpLinearBackward
	OpLinearWeightGrad
	OpRoPEBackward
	OpAttentionBackward
	OpSiLUMulBackward
	OpCrossEntropyBackward
	OpDropout

	OpSumSquares
	OpAdamW

	OpUploadNF4
	OpDequantize

	// OpLoRALinear is the LoRALinear interface, forward and backward.
	OpLoRALinear
	OpAdamWClipped
	OpQuantizeNF4
	OpCrossEntropySum
	OpAddRMSNorm

	numOps
)

var opNames = [numOps]string{
	"Embedding", "RMSNorm", "Linear", "RoPE", "Attention", "SiLUMul", "Add", "AddScaled", "CrossEntropy",
	"RMSNormBackward", "LinearBackward", "LinearWeightGrad", "RoPEBackward", "AttentionBackward", "SiLUMulBackward",
	"CrossEntropyBackward", "Dropout",
	"SumSquares", "AdamW",
	"UploadNF4", "Dequantize",
	"LoRALinear", "AdamWClipped", "QuantizeNF4", "CrossEntropySum", "AddRMSNorm",
}

func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// OpSet is a set of ops.
type OpSet uint64

// Set returns the set holding ops.
func Set(ops ...Op) OpSet {
	var s OpSet
	for _, o := range ops {
		s |= 1 << o
	}
	return s
}

// The ops of each interface.
const (
	ForwardOps = OpSet(1<<OpEmbedding | 1<<OpRMSNorm | 1<<OpLinear | 1<<OpRoPE | 1<<OpAttention |
		1<<OpSiLUMul | 1<<OpAdd | 1<<OpAddScaled | 1<<OpCrossEntropy)
	BackwardOps = OpSet(1<<OpRMSNormBackward | 1<<OpLinearBackward | 1<<OpLinearWeightGrad | 1<<OpRoPEBackward |
		1<<OpAttentionBackward | 1<<OpSiLUMulBackward | 1<<OpCrossEntropyBackward | 1<<OpDropout)
	OptimizerOps = OpSet(1<<OpSumSquares | 1<<OpAdamW)
	QuantOps     = OpSet(1<<OpUploadNF4 | 1<<OpDequantize)
	// BackendOps are the ops of a complete Backend.
	BackendOps = ForwardOps | BackwardOps | OptimizerOps | QuantOps
	FusedOps   = OpSet(1<<OpLoRALinear | 1<<OpAdamWClipped | 1<<OpQuantizeNF4 | 1<<OpCrossEntropySum | 1<<OpAddRMSNorm)
	// AllOps is the whole vocabulary.
	AllOps = BackendOps | FusedOps
)

// Has reports whether o is in s.
func (s OpSet) Has(o Op) bool { return s&(1<<o) != 0 }

// Ops lists the ops of s in vocabulary order.
func (s OpSet) Ops() []Op {
	var ops []Op
	for rest := uint64(s); rest != 0; rest &= rest - 1 {
		ops = append(ops, Op(bits.TrailingZeros64(rest)))
	}
	return ops
}

func (s OpSet) String() string {
	var names []string
	for _, o := range s.Ops() {
		names = append(names, o.String())
	}
	return "{" + strings.Join(names, ", ") + "}"
}

// groups are the interfaces of the vocabulary: each one's name, ops and
// whether a backend has its methods. For Forward and Backward, whose ops
// are one method each, a backend needs only the methods of the ops it
// declares (see group), so that it can run part of a group.
var groups = []struct {
	name string
	ops  OpSet
	has  func(Memory) bool
}{
	{"Forward", ForwardOps, func(b Memory) bool { _, ok := b.(Forward); return ok }},
	{"Backward", BackwardOps, func(b Memory) bool { _, ok := b.(Backward); return ok }},
	{"Optimizer", OptimizerOps, func(b Memory) bool { _, ok := b.(Optimizer); return ok }},
	{"Quant", QuantOps, func(b Memory) bool { _, ok := b.(Quant); return ok }},
	{"LoRALinear", Set(OpLoRALinear), func(b Memory) bool { _, ok := b.(LoRALinear); return ok }},
	{"ClippedAdamW", Set(OpAdamWClipped), func(b Memory) bool { _, ok := b.(ClippedAdamW); return ok }},
	{"NF4Quantizer", Set(OpQuantizeNF4), func(b Memory) bool { _, ok := b.(NF4Quantizer); return ok }},
	{"LossSum", Set(OpCrossEntropySum), func(b Memory) bool { _, ok := b.(LossSum); return ok }},
	{"ResidualRMSNorm", Set(OpAddRMSNorm), func(b Memory) bool { _, ok := b.(ResidualRMSNorm); return ok }},
}

// perMethod are the interfaces whose ops are each one method named as the
// op.
var perMethod = map[string]reflect.Type{
	"Forward":  reflect.TypeFor[Forward](),
	"Backward": reflect.TypeFor[Backward](),
}

// group returns the name of what b must implement to run o, the interface
// that holds o or, for an op of Forward or Backward, that interface's
// method, and whether b implements it (the method with the interface's
// signature).
func group(b Memory, o Op) (name string, implements bool) {
	for _, g := range groups {
		if !g.ops.Has(o) {
			continue
		}
		iface, ok := perMethod[g.name]
		if !ok || g.has(b) {
			return g.name, g.has(b)
		}
		want, _ := iface.MethodByName(o.String())
		m := reflect.ValueOf(b).MethodByName(o.String())
		return g.name + "." + o.String(), m.IsValid() && m.Type() == want.Type
	}
	panic(fmt.Sprintf("backend: %s is in no interface", o))
}

// Supports reports whether b runs op o: b declares it (Memory.Ops) and
// has its methods (see group).
func Supports(b Memory, o Op) bool {
	if !b.Ops().Has(o) {
		return false
	}
	_, ok := group(b, o)
	return ok
}

// Require returns an error naming the first op of need that b does not
// run, either because b does not declare it or because b declares it
// without implementing its interface; user says what needs the op.
func Require(b Memory, need OpSet, user string) error {
	for _, o := range need.Ops() {
		if !b.Ops().Has(o) {
			return fmt.Errorf("backend %s lacks op %s, which %s needs", b.Name(), o, user)
		}
		if name, ok := group(b, o); !ok {
			return fmt.Errorf("backend %s declares op %s but does not implement backend.%s", b.Name(), o, name)
		}
	}
	return nil
}
