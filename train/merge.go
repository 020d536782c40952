package train

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/quant"
	"github.com/tune-dev/tune/qwen"
	"github.com/tune-dev/tune/safetensors"
)

// MergeOptions describes one merge of an adapter into its base model.
type MergeOptions struct {
	// BaseModel is the Hugging Face model folder the adapter was trained on.
	BaseModel string
	// Adapter is the adapter to merge; when nil, AdapterDir is loaded.
	Adapter    *lora.Adapter
	AdapterDir string
	// Output is the merged model's folder (written atomically).
	Output string
	// QLoRA merges into the NF4 round trip of the base projections, the
	// weights a QLoRA run trained against (a checkpoint that is already
	// 4-bit is always dequantized).
	QLoRA     bool
	BlockSize int
	// MaxShardBytes splits the weights into shards with an index above
	// this size (0: Hugging Face's default, 5 GB).
	MaxShardBytes int64
	// WriteTokenizer writes the tokenizer files when the base folder has
	// none to copy.
	WriteTokenizer func(dir string) error
}

// tokenizerFiles are copied from the base folder into a merged model.
var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json", "added_tokens.json"}

// Merge writes base + adapter as a plain Hugging Face model folder:
// config.json (without a quantization_config), generation_config.json,
// the weights (model.safetensors, or shards with an index) with every
// adapted projection replaced by W + s·B·A in the base weight's dtype
// (bfloat16 for a 4-bit base), the tokenizer files, and the system prompt
// recorded with the adapter (lora.SystemPromptFile), if any.
func Merge(o MergeOptions) error {
	cfg, err := qwen.LoadConfig(o.BaseModel)
	if err != nil {
		return err
	}
	a := o.Adapter
	if a == nil {
		if a, err = lora.Load(o.AdapterDir, "default", cfg.NumHiddenLayers, cfg.ModuleShape); err != nil {
			return err
		}
	}
	ck, err := safetensors.OpenCheckpoint(o.BaseModel)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	defer ck.Close()
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(o.Output)), 0o755); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	tmp, err := TempDir(filepath.Dir(filepath.Clean(o.Output)), filepath.Base(o.Output))
	if err != nil {
		return err
	}
	if err := writeMerged(o, cfg, a, ck, tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return CommitDir(tmp, o.Output)
}

func writeMerged(o MergeOptions, cfg *qwen.Config, a *lora.Adapter, ck *safetensors.Checkpoint, dir string) error {
	var ts []safetensors.Tensor
	var total int64
	merged := 0
	for _, s := range cfg.Specs() {
		t, err := mergedTensor(o, a, ck, s, &merged)
		if err != nil {
			return err
		}
		ts = append(ts, t)
		total += int64(len(t.Data))
	}
	if merged == 0 {
		return fmt.Errorf("merge: adapter %s adapts no projection of %s", a.Name, o.BaseModel)
	}
	md := map[string]string{"format": "pt"}
	limit := o.MaxShardBytes
	if limit == 0 {
		limit = 5_000_000_000
	}
	if total > limit {
		if err := safetensors.WriteSharded(dir, ts, md, limit); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	} else if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, md); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if err := copyConfig(o.BaseModel, dir); err != nil {
		return err
	}
	if err := copyIfPresent(filepath.Join(o.BaseModel, "generation_config.json"), filepath.Join(dir, "generation_config.json")); err != nil {
		return err
	}
	copied := 0
	for _, f := range tokenizerFiles {
		if _, err := os.Stat(filepath.Join(o.BaseModel, f)); err == nil {
			if err := copyIfPresent(filepath.Join(o.BaseModel, f), filepath.Join(dir, f)); err != nil {
				return err
			}
			copied++
		}
	}
	if copied == 0 && o.WriteTokenizer != nil {
		if err := o.WriteTokenizer(dir); err != nil {
			return fmt.Errorf("merge: tokenizer: %w", err)
		}
	}
	if a.System != nil { // the merged model answers with the adapter's system prompt by default too
		if err := a.System.Write(dir); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
	}
	return nil
}

// mergedTensor returns one tensor of the merged model.
func mergedTensor(o MergeOptions, a *lora.Adapter, ck *safetensors.Checkpoint, s qwen.TensorSpec, merged *int) (safetensors.Tensor, error) {
	if !qwen.Projection(s.Name) {
		t, err := ck.Tensor(s.Name)
		if err != nil {
			return t, fmt.Errorf("merge: %w", err)
		}
		return t, nil
	}
	var w []float32
	dtype := safetensors.BF16
	if quant.IsQuantized(s.Name, ck.Has) {
		q, err := quant.Read(s.Name, func(n string) (safetensors.Tensor, bool) {
			t, err := ck.Tensor(n)
			return t, err == nil
		})
		if err != nil {
			return safetensors.Tensor{}, fmt.Errorf("merge: %s: %w", ck.FileOf(s.Name), err)
		}
		w = make([]float32, q.Len())
		q.Dequantize(w)
		dtype = map[string]safetensors.DType{"float32": safetensors.F32, "float16": safetensors.F16}[q.DType]
		if dtype == "" {
			dtype = safetensors.BF16
		}
	} else {
		t, err := ck.Tensor(s.Name)
		if err != nil {
			return t, fmt.Errorf("merge: %w", err)
		}
		if w, err = t.Float32s(); err != nil {
			return t, fmt.Errorf("merge: %s: %w", ck.FileOf(s.Name), err)
		}
		dtype = t.DType
		if o.QLoRA {
			q, err := quant.Quantize(w, s.Shape, cmp.Or(o.BlockSize, 64), true)
			if err != nil {
				return t, fmt.Errorf("merge: %s: %w", s.Name, err)
			}
			q.Dequantize(w)
		}
	}
	layer, module, err := projectionOf(s.Name)
	if err != nil {
		return safetensors.Tensor{}, err
	}
	if a.Merge(w, layer, module) {
		*merged++
	}
	switch dtype {
	case safetensors.F32:
		return safetensors.F32Tensor(s.Name, s.Shape, w), nil
	case safetensors.F16:
		return safetensors.F16Tensor(s.Name, s.Shape, w), nil
	}
	return safetensors.BF16Tensor(s.Name, s.Shape, w), nil
}

// projectionOf parses "model.layers.N.<path>.weight" into (N, module).
func projectionOf(name string) (int, string, error) {
	for _, m := range lora.Modules {
		var layer int
		if _, err := fmt.Sscanf(name, "model.layers.%d."+m.Path+".weight", &layer); err == nil && qwen.LayerName(layer, m.Path+".weight") == name {
			return layer, m.Name, nil
		}
	}
	return 0, "", fmt.Errorf("merge: %q is not a projection weight", name)
}

// copyConfig copies config.json without the quantization_config of a
// 4-bit checkpoint (the merged weights are plain).
func copyConfig(base, dir string) error {
	data, err := os.ReadFile(filepath.Join(base, "config.json"))
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("merge: %s: %w", filepath.Join(base, "config.json"), err)
	}
	delete(m, "quantization_config")
	if _, ok := m["torch_dtype"]; !ok {
		m["torch_dtype"] = "bfloat16"
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return WriteFileAtomic(filepath.Join(dir, "config.json"), append(out, '\n'), 0o644)
}

func copyIfPresent(src, dst string) error {
	data, err := os.ReadFile(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return WriteFileAtomic(dst, data, 0o644)
}
