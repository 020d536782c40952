package qwen

import (
	"errors"
	"fmt"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// Family is Qwen2 for the decoder: q, k and v biases, plain RoPE, and the
// ChatML template of Qwen2.5-Instruct.
var Family = &decoder.Family{
	ModelType:    "qwen2",
	Architecture: "Qwen2ForCausalLM",
	// Qwen2Config's defaults for the fields the decoder reads.
	Defaults: decoder.Config{RopeTheta: 10000, RMSNormEps: 1e-6, HiddenAct: "silu"},
	QKVBias:  true,
	Check:    check,
	Chat:     tokenizer.ChatML{},
}

func init() { decoder.Register(Family) }

// check refuses what Qwen2Config allows but the decoder does not do.
func check(c *decoder.Config) error {
	if c.UseSlidingWindow {
		return errors.New("use_sliding_window is true; sliding-window attention is not supported")
	}
	if c.RopeScaling != nil {
		return fmt.Errorf("rope_scaling %+v is not supported for qwen2", *c.RopeScaling)
	}
	return nil
}

// Sizes lists the published Qwen2.5 sizes (the instruct models' config.json
// values). The names are the Hugging Face model names without "Qwen/".
var Sizes = map[string]decoder.Config{
	"Qwen2.5-0.5B-Instruct": size(151936, 896, 4864, 24, 14, 2, 1e-6, true),
	"Qwen2.5-1.5B-Instruct": size(151936, 1536, 8960, 28, 12, 2, 1e-6, true),
	"Qwen2.5-3B-Instruct":   size(151936, 2048, 11008, 36, 16, 2, 1e-6, true),
	"Qwen2.5-7B-Instruct":   size(152064, 3584, 18944, 28, 28, 4, 1e-6, false),
	"Qwen2.5-14B-Instruct":  size(152064, 5120, 13824, 48, 40, 8, 1e-5, false),
	"Qwen2.5-32B-Instruct":  size(152064, 5120, 27648, 64, 40, 8, 1e-5, false),
	"Qwen2.5-72B-Instruct":  size(152064, 8192, 29568, 80, 64, 8, 1e-5, false),
}

func size(vocab, hidden, inter, layers, heads, kv int, eps float64, tied bool) decoder.Config {
	bos, eos := 151643, 151645
	return decoder.Config{
		ModelType: "qwen2", VocabSize: vocab, HiddenSize: hidden, IntermediateSize: inter,
		NumHiddenLayers: layers, NumAttentionHeads: heads, NumKeyValueHeads: kv,
		MaxPositionEmbeddings: 32768, RMSNormEps: eps, RopeTheta: 1e6, TieWordEmbeddings: tied,
		HiddenAct: "silu", TorchDType: "bfloat16", BOSTokenID: &bos, EOSTokenID: decoder.TokenIDs{eos},
		Architectures: []string{"Qwen2ForCausalLM"},
	}
}
