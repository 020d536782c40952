package lora

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/tune-dev/tune/safetensors"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// Save writes the adapter to dir (created if needed) in PEFT's format, so
// that PeftModel.from_pretrained and Load read it:
//
//   - adapter_model.safetensors: for every pair, Key(layer, module, "A")
//     [R, In] and Key(layer, module, "B") [Out, R] as F32, with metadata
//     {"format": "pt"};
//   - adapter_config.json: the 24 keys PEFT 0.12 and 0.13 write for a
//     LoraConfig, sorted and indented by two spaces as PEFT's
//     json.dumps(indent=2, sort_keys=True) gives them. The Config fields
//     are written as they are, except that peft_type is always "LORA", an
//     empty bias is written "none" and an empty task_type null;
//     target_modules is the sorted list, or the regex string when
//     TargetRegex is set. The keys Config does not model get PEFT's
//     defaults: init_lora_weights true, megatron_core "megatron.core",
//     alpha_pattern, rank_pattern and loftq_config {}, and null for
//     auto_mapping, layer_replication, layers_pattern, layers_to_transform,
//     megatron_config, modules_to_save and revision.
//
// The system prompt, when a.System records one, goes to SystemPromptFile
// beside them (a stale one from another adapter is removed).
//
// Each file is written to a temporary name in dir and renamed into place,
// the weights first, so an existing adapter is replaced file by file and
// never left half-written. LoadConfig of the saved folder gives back
// a.Config exactly whenever its peft_type is "LORA", its bias is set and
// its target_modules are sorted, as they are after New and after
// LoadConfig of a file PEFT wrote.
//
// Save checks first that the config is valid and that every pair belongs
// to a targeted decoder linear, has rank R and holds A and B of the sizes
// its shape gives.
func (a *Adapter) Save(dir string) error {
	if err := a.Config.Validate(); err != nil {
		return fmt.Errorf("lora: saving %s: %w", a.Name, err)
	}
	var tensors []safetensors.Tensor
	for _, l := range slices.Sorted(maps.Keys(a.Pairs)) {
		for m := range a.Pairs[l] {
			if l < 0 || ModulePath(m) == "" {
				return fmt.Errorf("lora: saving %s: layer %d %s is not a decoder linear", a.Name, l, m)
			}
		}
		for _, m := range Modules {
			p, ok := a.Pairs[l][m.Name]
			if !ok {
				continue
			}
			if !a.Config.Targets(m.Name, fmt.Sprintf("model.layers.%d.%s", l, m.Path)) {
				return fmt.Errorf("lora: saving %s: layer %d %s has a pair but target_modules %s leave it out", a.Name, l, m.Name, targetsString(&a.Config))
			}
			if p.R != a.Config.R || len(p.A) != p.R*p.In || len(p.B) != p.Out*p.R {
				return fmt.Errorf("lora: saving %s: layer %d %s has R %d, A of %d values and B of %d, want R %d, A [%d %d] and B [%d %d]",
					a.Name, l, m.Name, p.R, len(p.A), len(p.B), a.Config.R, a.Config.R, p.In, p.Out, a.Config.R)
			}
			tensors = append(tensors,
				safetensors.F32Tensor(Key(l, m.Name, "A"), []int{p.R, p.In}, p.A),
				safetensors.F32Tensor(Key(l, m.Name, "B"), []int{p.Out, p.R}, p.B))
		}
	}
	if len(tensors) == 0 {
		return fmt.Errorf("lora: saving %s: the adapter has no pairs", a.Name)
	}
	cfg, err := a.Config.configJSON()
	if err != nil {
		return fmt.Errorf("lora: saving %s: %w", a.Name, err)
	}
	if err := os.MkdirAll(dir, atomicfile.DirMode); err != nil {
		return fmt.Errorf("lora: saving %s: %w", a.Name, err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), tensors, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("lora: saving %s: %w", a.Name, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "adapter_config.json"), cfg, 0o644); err != nil {
		return fmt.Errorf("lora: saving %s: %w", a.Name, err)
	}
	return a.saveSystemPrompt(dir)
}

// peftConfig is adapter_config.json as PEFT 0.12 and 0.13 write a
// LoraConfig: every field of the dataclass (PeftConfig's
// base_model_name_or_path, revision, peft_type, task_type, inference_mode
// and auto_mapping, then LoraConfig's own) except runtime_config, which
// to_dict drops, in sorted order as json.dumps(sort_keys=True) writes them.
// Keys added in PEFT 0.14 (exclude_modules, lora_bias, ...) are left out on
// purpose: PEFT 0.13 fails to load a config with keys it does not know.
type peftConfig struct {
	AlphaPattern        map[string]any `json:"alpha_pattern"`
	AutoMapping         any            `json:"auto_mapping"`
	BaseModelNameOrPath string         `json:"base_model_name_or_path"`
	Bias                string         `json:"bias"`
	FanInFanOut         bool           `json:"fan_in_fan_out"`
	InferenceMode       bool           `json:"inference_mode"`
	InitLoraWeights     bool           `json:"init_lora_weights"`
	LayerReplication    any            `json:"layer_replication"`
	LayersPattern       any            `json:"layers_pattern"`
	LayersToTransform   any            `json:"layers_to_transform"`
	LoftqConfig         map[string]any `json:"loftq_config"`
	LoraAlpha           float64        `json:"lora_alpha"`
	LoraDropout         pythonFloat    `json:"lora_dropout"`
	MegatronConfig      any            `json:"megatron_config"`
	MegatronCore        string         `json:"megatron_core"`
	ModulesToSave       any            `json:"modules_to_save"`
	PeftType            string         `json:"peft_type"`
	R                   int            `json:"r"`
	RankPattern         map[string]any `json:"rank_pattern"`
	Revision            any            `json:"revision"`
	TargetModules       any            `json:"target_modules"`
	TaskType            *string        `json:"task_type"`
	UseDoRA             bool           `json:"use_dora"`
	UseRSLoRA           bool           `json:"use_rslora"`
}

// configJSON encodes c as PEFT's save_pretrained writes it: target_modules
// as a sorted list, or the regex string when TargetRegex is set; task_type
// null when TaskType is empty; bias "none" when Bias is empty;
// init_lora_weights true, and null or empty values for the fields this
// package does not model.
func (c *Config) configJSON() ([]byte, error) {
	pc := peftConfig{
		AlphaPattern:        map[string]any{},
		BaseModelNameOrPath: c.BaseModelNameOrPath,
		Bias:                c.Bias,
		FanInFanOut:         c.FanInFanOut,
		InferenceMode:       c.InferenceMode,
		InitLoraWeights:     true,
		LoftqConfig:         map[string]any{},
		LoraAlpha:           c.LoraAlpha,
		LoraDropout:         pythonFloat(c.LoraDropout),
		MegatronCore:        "megatron.core",
		PeftType:            "LORA",
		R:                   c.R,
		RankPattern:         map[string]any{},
		TargetModules:       slices.Sorted(slices.Values(c.TargetModules)),
		UseDoRA:             c.UseDoRA,
		UseRSLoRA:           c.UseRSLoRA,
	}
	if c.Bias == "" {
		pc.Bias = "none"
	}
	if c.TargetRegex != "" {
		pc.TargetModules = c.TargetRegex
	}
	if c.TaskType != "" {
		pc.TaskType = &c.TaskType
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(pc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// pythonFloat encodes a float64 the way Python's json writes a float: with
// ".0" on integral values (0.0, not 0).
type pythonFloat float64

// MarshalJSON implements json.Marshaler.
func (f pythonFloat) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(float64(f))
	if err != nil {
		return nil, err
	}
	if !bytes.ContainsAny(b, ".eE") {
		b = append(b, ".0"...)
	}
	return b, nil
}
