package llama

import (
	"fmt"

	"github.com/tune-dev/tune/decoder"
)

// Family is Llama 3 for the decoder: no biases, plain or llama3-scaled
// RoPE, and the Llama 3.1 Instruct chat template.
var Family = &decoder.Family{
	ModelType:    "llama",
	Architecture: "LlamaForCausalLM",
	// LlamaConfig's defaults for the fields the decoder reads.
	Defaults: decoder.Config{RopeTheta: 10000, RMSNormEps: 1e-6, HiddenAct: "silu"},
	QKVBias:  false,
	Check:    check,
	Chat:     Chat{},
}

func init() { decoder.Register(Family) }

// check refuses the biases LlamaConfig allows (attention_bias puts one on
// o_proj too, mlp_bias on the MLP), which the decoder does not implement.
func check(c *decoder.Config) error {
	for _, b := range []struct {
		name string
		set  *bool
	}{{"attention_bias", c.AttentionBias}, {"mlp_bias", c.MLPBias}} {
		if b.set != nil && *b.set {
			return fmt.Errorf("%s is true; Llama projections with biases are not supported", b.name)
		}
	}
	return nil
}
