package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// modelFlags are the flags of every command that runs a model.
func modelFlags() []ucli.Flag {
	return []ucli.Flag{
		strFlag("base_model", "Hugging Face Qwen2 or Llama model folder (config.json + safetensors)", "", "BASE_MODEL"),
		strFlag("adapter", "PEFT LoRA adapter folder to apply (adapter_config.json + adapter_model.safetensors)", "", "TUNE_ADAPTER"),
		strFlag("tokenizer", "tokenizer.json, .json.gz or folder (default: the model folder's, else the built-in Qwen2.5 tokenizer)", "", "TUNE_TOKENIZER"),
	}
}

// defaultOutputDir is where tune train writes and where the fine-tuned
// model is looked for when FINETUNING_ENABLED is set.
const defaultOutputDir = "checkpoints/qwen-legal-lora"

// fineTuned resolves the FINETUNING_* environment: with
// FINETUNING_ENABLED true, the model commands use the fine-tuned model in
// FINETUNING_MODEL_PATH (default checkpoints/qwen-legal-lora): its
// merged_model/ folder when USE_MERGED_MODEL is true, otherwise the base
// model plus the adapter at its root. An explicit --adapter wins.
func fineTuned() (enabled bool, path string, merged bool, err error) {
	on, err := envBool("FINETUNING_ENABLED")
	if err != nil || !on {
		return false, "", false, err
	}
	path = os.Getenv("FINETUNING_MODEL_PATH")
	if path == "" {
		path = defaultOutputDir
	}
	merged, err = envBool("USE_MERGED_MODEL")
	return true, path, merged, err
}

// envBool reads a true/false environment variable (unset is false).
func envBool(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not true or false", name, v)
	}
	return b, nil
}

// openModel loads --base_model and, if given, --adapter (or the
// fine-tuned model the FINETUNING_* variables name).
func (e *env) openModel(c *ucli.Context) (*decoder.Model, error) {
	dir, adapter, err := e.fineTunedModel(c.String("base_model"), c.String("adapter"))
	if err != nil {
		return nil, err
	}
	m, err := e.loadModel(c, dir)
	if err != nil {
		return nil, err
	}
	if adapter != "" {
		a, err := loadAdapter(m, adapter, filepath.Base(adapter))
		if err != nil {
			m.Free()
			return nil, err
		}
		m.SetAdapter(a)
	}
	return m, nil
}

// loadAdapter reads the PEFT adapter folder dir for model m.
func loadAdapter(m *decoder.Model, dir, name string) (*lora.Adapter, error) {
	return lora.Load(dir, name, m.Config.NumHiddenLayers, m.Config.ModuleShape)
}

// fineTunedModel applies the FINETUNING_* variables (see fineTuned) to
// the base model folder dir and the adapter folder adapter (either may be
// empty) and returns the folders to load, saying on stderr which
// fine-tuned model it chose.
func (e *env) fineTunedModel(dir, adapter string) (string, string, error) {
	on, ft, merged, err := fineTuned()
	if err != nil {
		return "", "", err
	}
	if on && adapter == "" {
		if merged {
			dir = filepath.Join(ft, "merged_model")
			fmt.Fprintf(e.stderr, "tune: FINETUNING_ENABLED and USE_MERGED_MODEL: using the merged model %s\n", dir)
		} else {
			adapter = ft
			fmt.Fprintf(e.stderr, "tune: FINETUNING_ENABLED: using the adapter in %s\n", ft)
		}
		if !fileExists(ft) {
			return "", "", fmt.Errorf("FINETUNING_ENABLED is set but the fine-tuned model %s does not exist (train one with tune train, or set FINETUNING_MODEL_PATH)", ft)
		}
	}
	return dir, adapter, nil
}

// loadModel loads the model folder dir (--base_model) on the command's
// backend.
func (e *env) loadModel(c *ucli.Context, dir string) (*decoder.Model, error) {
	if dir == "" {
		return nil, fmt.Errorf("--base_model (or BASE_MODEL) is required")
	}
	be, err := e.backend(c)
	if err != nil {
		return nil, err
	}
	m, err := decoder.Load(dir, be)
	if err != nil {
		return nil, err
	}
	e.modelDir = dir
	return m, nil
}

// modelTokenizer picks the tokenizer for model m (opened by openModel):
// --tokenizer, else the model folder's tokenizer.json, else the built-in
// one. It checks that the model's vocabulary covers the tokenizer's ids.
func (e *env) modelTokenizer(c *ucli.Context, m *decoder.Model) (*tokenizer.Tokenizer, error) {
	tok, path, err := e.tokenizerFor(c, e.modelDir)
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

// tokenizerFor picks a model folder's tokenizer: --tokenizer, else the
// folder's tokenizer.json, else the built-in one (path ""). It renders the
// chat template of the folder's model family.
func (e *env) tokenizerFor(c *ucli.Context, modelDir string) (*tokenizer.Tokenizer, string, error) {
	path := c.String("tokenizer")
	if path == "" && modelDir != "" && fileExists(filepath.Join(modelDir, tokenizer.JSONFile)) {
		path = modelDir
	}
	tok, err := e.loadTokenizer(path)
	if err != nil || modelDir == "" {
		return tok, path, err
	}
	cfg, err := decoder.LoadConfig(modelDir)
	if err != nil {
		return nil, "", err
	}
	tok.Chat = cfg.Family().Chat
	return tok, path, nil
}
