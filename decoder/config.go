package decoder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Config is the part of a Hugging Face config.json that the decoder
// needs, the same fields for every family. Field names follow
// config.json; ModelType names the Family.
type Config struct {
	ModelType             string       `json:"model_type"`
	VocabSize             int          `json:"vocab_size"`
	HiddenSize            int          `json:"hidden_size"`
	IntermediateSize      int          `json:"intermediate_size"`
	NumHiddenLayers       int          `json:"num_hidden_layers"`
	NumAttentionHeads     int          `json:"num_attention_heads"`
	NumKeyValueHeads      int          `json:"num_key_value_heads"`
	MaxPositionEmbeddings int          `json:"max_position_embeddings"`
	RMSNormEps            float64      `json:"rms_norm_eps"`
	RopeTheta             float64      `json:"rope_theta"`
	RopeScaling           *RopeScaling `json:"rope_scaling,omitempty"`
	TieWordEmbeddings     bool         `json:"tie_word_embeddings"`
	HiddenAct             string       `json:"hidden_act"`
	TorchDType            string       `json:"torch_dtype,omitempty"`
	BOSTokenID            *int         `json:"bos_token_id,omitempty"`
	EOSTokenID            TokenIDs     `json:"eos_token_id,omitempty"`
	PadTokenID            *int         `json:"pad_token_id,omitempty"`
	Architectures         []string     `json:"architectures,omitempty"`
	// Family-specific switches the decoder does not implement, read so
	// that a family can refuse them (Family.Check) rather than load a
	// different model silently.
	UseSlidingWindow bool  `json:"use_sliding_window,omitempty"`
	AttentionBias    *bool `json:"attention_bias,omitempty"`
	MLPBias          *bool `json:"mlp_bias,omitempty"`
	// HeadDimField is head_dim, which newer configs write; the decoder
	// takes HeadDim from hidden_size and num_attention_heads and refuses
	// a different one.
	HeadDimField *int `json:"head_dim,omitempty"`
}

// HeadDim is hidden_size / num_attention_heads.
func (c *Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// KVDim is the width of the key and value projections.
func (c *Config) KVDim() int { return c.NumKeyValueHeads * c.HeadDim() }

// Family is the registered family of c.ModelType; Validate has checked
// that there is one.
func (c *Config) Family() *Family {
	f, ok := families[c.ModelType]
	if !ok {
		panic(fmt.Sprintf("decoder: config of model_type %q, which no family registered", c.ModelType))
	}
	return f
}

// PadID is the token id that fills the padding positions of a batch:
// pad_token_id, else an eos_token_id, else 0, taking the first of them that
// lies in the vocabulary. Padding is masked out of attention and loss, so
// any id in range does; it must only never index outside the embedding
// (a tokenizer's pad id may, when the model's vocabulary is smaller).
func (c *Config) PadID() int32 {
	ids := []int{}
	if c.PadTokenID != nil {
		ids = append(ids, *c.PadTokenID)
	}
	for _, id := range append(ids, c.EOSTokenID...) {
		if id >= 0 && id < c.VocabSize {
			return int32(id)
		}
	}
	return 0
}

// TokenIDs are config.json's eos_token_id: one id, or a list of them
// (Llama 3.1 lists three).
type TokenIDs []int

// UnmarshalJSON reads an id or a list of ids; null is none.
func (t *TokenIDs) UnmarshalJSON(data []byte) error {
	var one *int
	if err := json.Unmarshal(data, &one); err == nil {
		*t = nil
		if one != nil {
			*t = TokenIDs{*one}
		}
		return nil
	}
	var many []int
	if err := json.Unmarshal(data, &many); err != nil {
		return fmt.Errorf("eos_token_id %s is neither an id nor a list of ids", data)
	}
	*t = many
	return nil
}

// MarshalJSON writes one id as a number, as transformers does.
func (t TokenIDs) MarshalJSON() ([]byte, error) {
	if len(t) == 1 {
		return json.Marshal(t[0])
	}
	return json.Marshal([]int(t))
}

// Validate reports the first inconsistency in c: an unknown family, a
// shape the decoder cannot run, or what c's family refuses.
func (c *Config) Validate() error {
	f, ok := families[c.ModelType]
	if !ok {
		return fmt.Errorf("model_type %q is not a supported family (%s)", c.ModelType, familyNames())
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
	if d := c.HeadDimField; d != nil && *d != c.HeadDim() {
		return fmt.Errorf("head_dim %d is not hidden_size / num_attention_heads = %d; such heads are not supported", *d, c.HeadDim())
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
	if err := c.RopeScaling.validate(); err != nil {
		return err
	}
	return f.Check(c)
}

// LoadConfig reads and validates dir/config.json. Its model_type, or else
// its architectures, picks the family, whose Defaults fill the fields the
// file leaves out; num_key_value_heads defaults to num_attention_heads.
func LoadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("decoder: reading model config: %w", err)
	}
	var id struct {
		ModelType     string   `json:"model_type"`
		Architectures []string `json:"architectures"`
	}
	if err := json.Unmarshal(data, &id); err != nil {
		return nil, fmt.Errorf("decoder: %s: %w", path, err)
	}
	f, err := detect(id.ModelType, id.Architectures)
	if err != nil {
		return nil, fmt.Errorf("decoder: %s: %w", path, err)
	}
	c := f.Defaults
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decoder: %s: %w", path, err)
	}
	c.ModelType = f.ModelType
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("decoder: %s: %w", path, err)
	}
	return &c, nil
}

// NumParams counts the model's parameters (the tied LM head once).
func (c *Config) NumParams() int64 {
	h, i, kv := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.KVDim())
	layer := h*h + 2*kv*h + h*h + 3*h*i + 2*h
	if c.Family().QKVBias {
		layer += h + 2*kv
	}
	n := int64(c.VocabSize)*h + int64(c.NumHiddenLayers)*layer + h
	if !c.TieWordEmbeddings {
		n += int64(c.VocabSize) * h
	}
	return n
}
