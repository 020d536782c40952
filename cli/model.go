package cli

import (
	"fmt"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// modelFlags are the flags of every command that runs a model.
func modelFlags() []ucli.Flag {
	return []ucli.Flag{
		strFlag("base_model", "Hugging Face Qwen2 model folder (config.json + safetensors)", "", "BASE_MODEL"),
		strFlag("adapter", "PEFT LoRA adapter folder to apply (adapter_config.json + adapter_model.safetensors)", "", "TUNE_ADAPTER"),
		strFlag("tokenizer", "tokenizer.json, .json.gz or folder (default: the model folder's, else the built-in Qwen2.5 tokenizer)", "", "TUNE_TOKENIZER"),
	}
}

// openModel loads --base_model and, if given, --adapter.
func (e *env) openModel(c *ucli.Context) (*qwen.Model, error) {
	dir := c.String("base_model")
	if dir == "" {
		return nil, fmt.Errorf("--base_model (or BASE_MODEL) is required")
	}
	m, err := qwen.Load(dir, e.backend(c))
	if err != nil {
		return nil, err
	}
	if ad := c.String("adapter"); ad != "" {
		a, err := lora.Load(ad, filepath.Base(ad), m.Config.NumHiddenLayers, m.Config.ModuleShape)
		if err != nil {
			return nil, err
		}
		m.SetAdapter(a)
	}
	return m, nil
}

// modelTokenizer picks the tokenizer for model m: --tokenizer, else the
// model folder's tokenizer.json, else the built-in one. It checks that the
// model's vocabulary covers the tokenizer's ids.
func (e *env) modelTokenizer(c *ucli.Context, m *qwen.Model) (*tokenizer.Tokenizer, error) {
	path := c.String("tokenizer")
	if path == "" && fileExists(filepath.Join(c.String("base_model"), "tokenizer.json")) {
		path = c.String("base_model")
	}
	tok, err := e.loadTokenizer(path)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() > m.Config.VocabSize {
		name := path
		if name == "" {
			name = "the built-in Qwen2.5 tokenizer"
		}
		return nil, fmt.Errorf("%s has %d tokens but the model's vocab_size is %d: pass a matching --tokenizer", name, tok.VocabSize(), m.Config.VocabSize)
	}
	return tok, nil
}
