package lora

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// pcgStream is the second PCG seed word New uses ("LoRA" in ASCII).
const pcgStream = 0x4C6F5241

// New initializes an adapter called name the way PEFT's default
// (init_lora_weights=True) does, for a model of layers decoder layers whose
// linear shapes shape gives. It creates a pair for every module of every
// layer that cfg targets (Config.Targets with the full name
// "model.layers.N.<path>"), visiting layers in order and, within a layer,
// modules in Modules order. Each A [R, In] is drawn uniformly from
// [-1/√In, 1/√In), the bound of PEFT's kaiming_uniform_(a=√5); each B
// [Out, R] is zero, so a new adapter leaves the model unchanged.
//
// The draws come from math/rand/v2's PCG seeded with (seed, 0x4C6F5241),
// one Uint64 per element of A in row-major order, pairs in the order
// above: with u its top 24 bits, the element is bound·(u/2^23 − 1), bound =
// float32(1/√In). The same seed, config and shapes give the same bytes.
//
// cfg is validated first. The adapter keeps a copy with target_modules
// sorted and PEFT's defaults filled in where cfg leaves them empty:
// peft_type "LORA", task_type "CAUSAL_LM" and bias "none"; InferenceMode is
// set, as PEFT sets it in every adapter it saves. Save then writes, and
// LoadConfig reads back, exactly that config.
func New(name string, cfg Config, layers int, shape Shape, seed uint64) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lora: New %s: %w", name, err)
	}
	if layers <= 0 {
		return nil, fmt.Errorf("lora: New %s: %d layers, want at least 1", name, layers)
	}
	cfg.TargetModules = slices.Sorted(slices.Values(cfg.TargetModules))
	cfg.PeftType = "LORA"
	cfg.InferenceMode = true
	if cfg.TaskType == "" {
		cfg.TaskType = "CAUSAL_LM"
	}
	if cfg.Bias == "" {
		cfg.Bias = "none"
	}
	rng := rand.New(rand.NewPCG(seed, pcgStream))
	a := &Adapter{Name: name, Config: cfg, Pairs: map[int]map[string]*Pair{}}
	for l := range layers {
		for _, m := range Modules {
			if !cfg.TargetsLayer(l, m.Name) {
				continue
			}
			in, out := shape(m.Name)
			if in <= 0 || out <= 0 {
				return nil, fmt.Errorf("lora: New %s: %s has shape (in %d, out %d), want positive sizes", name, m.Name, in, out)
			}
			p := &Pair{A: make([]float32, cfg.R*in), B: make([]float32, out*cfg.R), In: in, Out: out, R: cfg.R}
			bound := float32(1 / math.Sqrt(float64(in)))
			for i := range p.A {
				p.A[i] = bound * (float32(rng.Uint64()>>40)/(1<<23) - 1)
			}
			if a.Pairs[l] == nil {
				a.Pairs[l] = map[string]*Pair{}
			}
			a.Pairs[l][m.Name] = p
		}
	}
	if len(a.Pairs) == 0 {
		return nil, fmt.Errorf("lora: New %s: target_modules %v match no linear layer of the decoder", name, targetsString(&cfg))
	}
	return a, nil
}

// targetsString is the target_modules setting for messages.
func targetsString(c *Config) string {
	if c.TargetRegex != "" {
		return fmt.Sprintf("%q", c.TargetRegex)
	}
	return fmt.Sprint(c.TargetModules)
}
