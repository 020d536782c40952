package testmodel

import (
	"encoding/json"
	"fmt"

	"github.com/tune-dev/tune/decoder"
	_ "github.com/tune-dev/tune/qwen" // registers qwen2, the family of Config
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/safetensors"
)

// Special token ids of the tokenizer, after the 256 byte tokens.
const (
	EndOfText = 256 // <|endoftext|>, the padding token
	IMStart   = 257 // <|im_start|>
	IMEnd     = 258 // <|im_end|>, where answers stop
)

// Config is the model's config: two layers, hidden size 32 and a
// vocabulary of 288, above the tokenizer's 259 tokens.
func Config() *decoder.Config {
	eos := IMEnd
	return &decoder.Config{
		ModelType: "qwen2", VocabSize: 288, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 1024, RMSNormEps: 1e-6,
		RopeTheta: 10000, HiddenAct: "silu", EOSTokenID: decoder.TokenIDs{eos},
	}
}

// Write makes dir a Hugging Face model folder: config.json,
// generation_config.json and model.safetensors of a random model of Config
// drawn from seed, and tokenizer.json.
func Write(dir string, seed uint64) error {
	if err := decoder.SaveRandom(dir, Config(), seed, safetensors.F32, 0); err != nil {
		return err
	}
	return WriteTokenizer(dir, tokenizer.SplitPattern, "<|endoftext|>", "<|im_start|>", "<|im_end|>")
}

// WriteTokenizer writes dir/tokenizer.json, a byte-level BPE tokenizer
// without merges: byte b is token b, spelt as the byte-level alphabet
// spells it, split by pattern, and special i is the added token 256+i.
func WriteTokenizer(dir, pattern string, special ...string) error {
	data, err := json.Marshal(tokenizerJSON(pattern, special))
	if err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	return (&tokenizer.Files{JSON: data}).Write(dir)
}

func tokenizerJSON(pattern string, special []string) map[string]any {
	vocab := map[string]int{}
	for b := range 256 {
		vocab[tokenizer.ByteToken(byte(b))] = b
	}
	var added []any
	for i, content := range special {
		added = append(added, map[string]any{"id": 256 + i, "content": content, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true})
	}
	return map[string]any{
		"version":      "1.0",
		"added_tokens": added,
		"normalizer":   nil,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": pattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		}},
		"decoder": map[string]any{"type": "ByteLevel"},
		"model":   map[string]any{"type": "BPE", "vocab": vocab, "merges": []any{}},
	}
}
