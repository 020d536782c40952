package lora

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// Config is a PEFT LoraConfig as written to adapter_config.json.
type Config struct {
	PeftType            string  `json:"peft_type"`
	TaskType            string  `json:"task_type"`
	BaseModelNameOrPath string  `json:"base_model_name_or_path"`
	R                   int     `json:"r"`
	LoraAlpha           float64 `json:"lora_alpha"`
	LoraDropout         float64 `json:"lora_dropout"`
	// TargetModules are module names ("q_proj") matched against the last
	// component of each linear's name. PEFT also accepts one string, a
	// regular expression matched against the full module name; that form
	// is kept in TargetRegex.
	TargetModules []string `json:"-"`
	TargetRegex   string   `json:"-"`
	UseRSLoRA     bool     `json:"use_rslora"`
	Bias          string   `json:"bias"`
	UseDoRA       bool     `json:"use_dora"`
	FanInFanOut   bool     `json:"fan_in_fan_out"`
	InferenceMode bool     `json:"inference_mode"`
}

// Scaling is the factor s of the LoRA term: lora_alpha / r, or
// lora_alpha / sqrt(r) with rsLoRA.
func (c *Config) Scaling() float64 {
	if c.UseRSLoRA {
		return c.LoraAlpha / math.Sqrt(float64(c.R))
	}
	return c.LoraAlpha / float64(c.R)
}

// Targets reports whether the linear called module (e.g. "q_proj") with the
// full name full (e.g. "model.layers.3.self_attn.q_proj") is adapted.
func (c *Config) Targets(module, full string) bool {
	if c.TargetRegex != "" {
		ok, _ := regexp.MatchString("^(?:"+c.TargetRegex+")$", full)
		return ok
	}
	for _, t := range c.TargetModules {
		if t == module || t == full {
			return true
		}
	}
	return false
}

// TargetsLayer reports whether module (e.g. "q_proj") of decoder layer
// layer is adapted: Targets with the module's full name.
func (c *Config) TargetsLayer(layer int, module string) bool {
	return c.Targets(module, fmt.Sprintf("model.layers.%d.%s", layer, ModulePath(module)))
}

// UnmarshalJSON accepts target_modules as a list or as one regex string.
func (c *Config) UnmarshalJSON(data []byte) error {
	type plain Config
	var aux struct {
		*plain
		TargetModules json.RawMessage `json:"target_modules"`
	}
	aux.plain = (*plain)(c)
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	if len(aux.TargetModules) == 0 || string(aux.TargetModules) == "null" {
		return nil
	}
	if aux.TargetModules[0] == '"' {
		return json.Unmarshal(aux.TargetModules, &c.TargetRegex)
	}
	return json.Unmarshal(aux.TargetModules, &c.TargetModules)
}

// Validate reports the first unsupported or inconsistent setting.
func (c *Config) Validate() error {
	if c.PeftType != "" && c.PeftType != "LORA" {
		return fmt.Errorf("peft_type %q is not LORA", c.PeftType)
	}
	if c.R <= 0 {
		return fmt.Errorf("r is %d, must be positive", c.R)
	}
	if !(c.LoraDropout >= 0 && c.LoraDropout <= 1) {
		return fmt.Errorf("lora_dropout %v is not in [0, 1]", c.LoraDropout)
	}
	if c.Bias != "" && c.Bias != "none" {
		return fmt.Errorf("bias %q is not supported (only \"none\")", c.Bias)
	}
	if c.UseDoRA {
		return fmt.Errorf("use_dora is true; DoRA is not supported")
	}
	if c.FanInFanOut {
		return fmt.Errorf("fan_in_fan_out is true; the decoder's linears are not Conv1D")
	}
	if len(c.TargetModules) == 0 && c.TargetRegex == "" {
		return fmt.Errorf("target_modules is empty")
	}
	if c.TargetRegex != "" {
		if _, err := regexp.Compile(c.TargetRegex); err != nil {
			return fmt.Errorf("target_modules regex: %w", err)
		}
	}
	return nil
}

// CheckTrainingDropout reports whether p can be the dropout of a training
// run: p must lie in [0, 1). PEFT accepts 1 (nn.Dropout then zeroes every
// input of the LoRA branch, so nothing trains), and Validate does too, so
// that such an adapter still loads for inference; training refuses it, as
// backend.DropoutMask does.
func CheckTrainingDropout(p float64) error {
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("lora_dropout %v is not in [0, 1)", p)
	}
	return nil
}

// LoadConfig reads and validates dir/adapter_config.json.
func LoadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "adapter_config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lora: reading adapter config: %w", err)
	}
	c := &Config{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("lora: %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("lora: %s: %w", path, err)
	}
	sort.Strings(c.TargetModules)
	return c, nil
}
