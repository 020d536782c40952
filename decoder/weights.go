package decoder

import (
	"fmt"
	"strings"

	"github.com/tune-dev/tune/lora"
)

// Weight names of a Hugging Face causal-LM checkpoint, the same in every
// family the decoder runs (Qwen2ForCausalLM, LlamaForCausalLM).
const (
	EmbedName  = "model.embed_tokens.weight"
	NormName   = "model.norm.weight"
	LMHeadName = "lm_head.weight"
)

// LayerName is the name of a per-layer tensor, e.g.
// LayerName(3, "self_attn.q_proj.weight").
func LayerName(layer int, suffix string) string {
	return fmt.Sprintf("model.layers.%d.%s", layer, suffix)
}

// Projection reports whether a weight name is one of the seven projection
// weights of a decoder layer (the weights QLoRA quantizes).
func Projection(name string) bool {
	_, _, ok := ProjectionOf(name)
	return ok
}

// ProjectionOf parses a projection weight's name
// ("model.layers.N.<path>.weight") into its layer and module.
func ProjectionOf(name string) (layer int, module lora.Module, ok bool) {
	for _, m := range lora.Modules {
		if !strings.HasSuffix(name, "."+m.Path+".weight") {
			continue
		}
		if _, err := fmt.Sscanf(name, "model.layers.%d."+m.Path+".weight", &layer); err == nil && LayerName(layer, m.Path+".weight") == name {
			return layer, m, true
		}
	}
	return 0, lora.Module{}, false
}

// TensorSpec names one weight of the checkpoint layout and its shape.
type TensorSpec struct {
	Name  string
	Shape []int
}

// NumElements is the product of the shape.
func (s TensorSpec) NumElements() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// dims are the widths of c's decoder layers.
func (c *Config) dims() lora.Dims {
	return lora.Dims{Hidden: c.HiddenSize, KV: c.KVDim(), Intermediate: c.IntermediateSize}
}

// ModuleShape gives the (in, out) features of a projection by module name.
func (c *Config) ModuleShape(module string) (in, out int) {
	for _, m := range lora.Modules {
		if m.Name == module {
			return m.Shape(c.dims())
		}
	}
	panic("decoder: unknown module " + module)
}

// Specs is the checkpoint tensor table: every tensor a Hugging Face
// checkpoint of config c holds, in load order (no lm_head.weight when the
// embeddings are tied; q, k and v biases when the family has them).
// Loading, random models and merging all read it.
func (c *Config) Specs() []TensorSpec {
	h, v := c.HiddenSize, c.VocabSize
	bias := c.Family().QKVBias
	s := []TensorSpec{{EmbedName, []int{v, h}}, {NormName, []int{h}}}
	if !c.TieWordEmbeddings {
		s = append(s, TensorSpec{LMHeadName, []int{v, h}})
	}
	for l := 0; l < c.NumHiddenLayers; l++ {
		s = append(s, TensorSpec{LayerName(l, "input_layernorm.weight"), []int{h}},
			TensorSpec{LayerName(l, "post_attention_layernorm.weight"), []int{h}})
		for _, m := range lora.Modules {
			in, out := m.Shape(c.dims())
			s = append(s, TensorSpec{LayerName(l, m.Path+".weight"), []int{out, in}})
			if m.QKV && bias {
				s = append(s, TensorSpec{LayerName(l, m.Path+".bias"), []int{out}})
			}
		}
	}
	return s
}
