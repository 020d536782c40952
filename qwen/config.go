package qwen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Config is the part of a Hugging Face Qwen2 config.json that the forward
// pass needs. Field names follow config.json.
type Config struct {
	ModelType             string   `json:"model_type"`
	VocabSize             int      `json:"vocab_size"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      int      `json:"num_key_value_heads"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	RMSNormEps            float64  `json:"rms_norm_eps"`
	RopeTheta             float64  `json:"rope_theta"`
	TieWordEmbeddings     bool     `json:"tie_word_embeddings"`
	HiddenAct             string   `json:"hidden_act"`
	TorchDType            string   `json:"torch_dtype,omitempty"`
	BOSTokenID            *int     `json:"bos_token_id,omitempty"`
	EOSTokenID            *int     `json:"eos_token_id,omitempty"`
	PadTokenID            *int     `json:"pad_token_id,omitempty"`
	UseSlidingWindow      bool     `json:"use_sliding_window"`
	RopeScaling           any      `json:"rope_scaling,omitempty"`
	Architectures         []string `json:"architectures,omitempty"`
}

// HeadDim is hidden_size / num_attention_heads.
func (c *Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// KVDim is the width of the key and value projections.
func (c *Config) KVDim() int { return c.NumKeyValueHeads * c.HeadDim() }

// PadID is the token id that fills the padding positions of a batch:
// pad_token_id, else eos_token_id, else 0, taking the first of them that
// lies in the vocabulary. Padding is masked out of attention and loss, so
// any id in range does; it must only never index outside the embedding
// (a tokenizer's pad id may, when the model's vocabulary is smaller).
func (c *Config) PadID() int32 {
	for _, id := range []*int{c.PadTokenID, c.EOSTokenID} {
		if id != nil && *id >= 0 && *id < c.VocabSize {
			return int32(*id)
		}
	}
	return 0
}

// Validate reports the first inconsistency in c.
func (c *Config) Validate() error {
	if c.ModelType != "" && c.ModelType != "qwen2" {
		return fmt.Errorf("model_type %q is not qwen2", c.ModelType)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers}, {"num_attention_heads", c.NumAttentionHeads},
		{"num_key_value_heads", c.NumKeyValueHeads}, {"max_position_embeddings", c.MaxPositionEmbeddings},
	} {
		if f.v <= 0 {
			return fmt.Errorf("%s is %d, must be positive", f.name, f.v)
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NumAttentionHeads, c.NumKeyValueHeads)
	}
	if c.HeadDim()%2 != 0 {
		return fmt.Errorf("head dim %d is odd; RoPE needs it even", c.HeadDim())
	}
	if c.RMSNormEps <= 0 {
		return fmt.Errorf("rms_norm_eps is %g, must be positive", c.RMSNormEps)
	}
	if c.RopeTheta <= 0 {
		return fmt.Errorf("rope_theta is %g, must be positive", c.RopeTheta)
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return fmt.Errorf("hidden_act %q is not supported (only silu)", c.HiddenAct)
	}
	if c.UseSlidingWindow {
		return errors.New("use_sliding_window is true; sliding-window attention is not supported")
	}
	if c.RopeScaling != nil {
		return fmt.Errorf("rope_scaling %v is not supported", c.RopeScaling)
	}
	return nil
}

// LoadConfig reads and validates dir/config.json. Fields absent from the
// file take Hugging Face's Qwen2Config defaults for rope_theta (10000),
// rms_norm_eps (1e-6) and num_key_value_heads (= num_attention_heads).
func LoadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("qwen: reading model config: %w", err)
	}
	c := &Config{RopeTheta: 10000, RMSNormEps: 1e-6, HiddenAct: "silu"}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("qwen: %s: %w", path, err)
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("qwen: %s: %w", path, err)
	}
	return c, nil
}

// Family lists the published Qwen2.5 sizes (the instruct models' config.json
// values). The names are the Hugging Face model names without "Qwen/".
var Family = map[string]Config{
	"Qwen2.5-0.5B-Instruct": family(151936, 896, 4864, 24, 14, 2, 1e-6, true),
	"Qwen2.5-1.5B-Instruct": family(151936, 1536, 8960, 28, 12, 2, 1e-6, true),
	"Qwen2.5-3B-Instruct":   family(151936, 2048, 11008, 36, 16, 2, 1e-6, true),
	"Qwen2.5-7B-Instruct":   family(152064, 3584, 18944, 28, 28, 4, 1e-6, false),
	"Qwen2.5-14B-Instruct":  family(152064, 5120, 13824, 48, 40, 8, 1e-5, false),
	"Qwen2.5-32B-Instruct":  family(152064, 5120, 27648, 64, 40, 8, 1e-5, false),
	"Qwen2.5-72B-Instruct":  family(152064, 8192, 29568, 80, 64, 8, 1e-5, false),
}

func family(vocab, hidden, inter, layers, heads, kv int, eps float64, tied bool) Config {
	bos, eos := 151643, 151645
	return Config{
		ModelType: "qwen2", VocabSize: vocab, HiddenSize: hidden, IntermediateSize: inter,
		NumHiddenLayers: layers, NumAttentionHeads: heads, NumKeyValueHeads: kv,
		MaxPositionEmbeddings: 32768, RMSNormEps: eps, RopeTheta: 1e6, TieWordEmbeddings: tied,
		HiddenAct: "silu", TorchDType: "bfloat16", BOSTokenID: &bos, EOSTokenID: &eos,
		Architectures: []string{"Qwen2ForCausalLM"},
	}
}

// NumParams counts the model's parameters (the tied LM head once).
func (c *Config) NumParams() int64 {
	h, i, kv := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.KVDim())
	layer := h*h + h + 2*(kv*h+kv) + h*h + 3*h*i + 2*h
	n := int64(c.VocabSize)*h + int64(c.NumHiddenLayers)*layer + h
	if !c.TieWordEmbeddings {
		n += int64(c.VocabSize) * h
	}
	return n
}
