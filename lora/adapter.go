package lora

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tune-dev/tune/safetensors"
)

// Module is one of the seven linear layers of a decoder layer (the same
// in Qwen2 and Llama 3), the layers LoRA can adapt: its name, the
// sub-module path Hugging Face and PEFT use in tensor names, and the
// widths it maps between.
type Module struct {
	Name, Path string
	In, Out    Width
	// QKV marks q, k and v, the projections that have a bias in families
	// with QKV biases.
	QKV bool
}

// Width names one of a decoder layer's widths.
type Width int

// The widths of a decoder layer.
const (
	Hidden       Width = iota // hidden_size
	KV                        // num_key_value_heads × head_dim
	Intermediate              // intermediate_size
)

// Dims are the sizes of the widths of one model.
type Dims struct{ Hidden, KV, Intermediate int }

// Shape is the (in, out) features of m in a model of dims d.
func (m Module) Shape(d Dims) (in, out int) {
	of := func(w Width) int { return [...]int{d.Hidden, d.KV, d.Intermediate}[w] }
	return of(m.In), of(m.Out)
}

// Modules is the one table of the seven projections, in the order of a
// decoder layer and of PEFT's parameters.
var Modules = []Module{
	{"q_proj", "self_attn.q_proj", Hidden, Hidden, true},
	{"k_proj", "self_attn.k_proj", Hidden, KV, true},
	{"v_proj", "self_attn.v_proj", Hidden, KV, true},
	{"o_proj", "self_attn.o_proj", Hidden, Hidden, false},
	{"gate_proj", "mlp.gate_proj", Hidden, Intermediate, false},
	{"up_proj", "mlp.up_proj", Hidden, Intermediate, false},
	{"down_proj", "mlp.down_proj", Intermediate, Hidden, false},
}

// ModulePath returns the sub-module path of a module name ("q_proj" gives
// "self_attn.q_proj"), or "" for an unknown name.
func ModulePath(module string) string {
	for _, m := range Modules {
		if m.Name == module {
			return m.Path
		}
	}
	return ""
}

// Key is PEFT's saved tensor name for one factor ("A" or "B") of the
// adapted linear module of decoder layer layer, e.g.
// base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight.
func Key(layer int, module, factor string) string {
	return fmt.Sprintf("base_model.model.model.layers.%d.%s.lora_%s.weight", layer, ModulePath(module), factor)
}

// Pair is one adapted linear: A [R, In] and B [Out, R], row-major float32,
// so that the layer computes y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ.
type Pair struct {
	A, B       []float32
	In, Out, R int
}

// Adapter is one named LoRA adapter: its config and its factor pairs keyed
// by layer and module name.
type Adapter struct {
	Name   string
	Config Config
	Pairs  map[int]map[string]*Pair
	// System is the system prompt the adapter was trained with (nil when
	// none is recorded); Save writes it to SystemPromptFile and Load reads
	// it back.
	System *SystemPrompt
}

// Pair returns the factors of module in layer, if that linear is adapted.
func (a *Adapter) Pair(layer int, module string) (*Pair, bool) {
	p, ok := a.Pairs[layer][module]
	return p, ok
}

// Shape tells Load the (in, out) features of module, so that factor shapes
// can be checked against the base model.
type Shape func(module string) (in, out int)

// Load reads a PEFT adapter folder (adapter_config.json and
// adapter_model.safetensors) for a model of layers decoder layers whose
// linear shapes shape gives. Every targeted module of every layer must be
// present with the right shapes and finite values; the errors name the file
// and tensor. The system prompt recorded beside them (SystemPromptFile), if
// any, goes to System.
func Load(dir, name string, layers int, shape Shape) (*Adapter, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "adapter_model.safetensors")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("lora: adapter weights: %w", err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	defer f.Close()
	a := &Adapter{Name: name, Config: *cfg, Pairs: map[int]map[string]*Pair{}}
	used := 0
	for l := 0; l < layers; l++ {
		for _, m := range Modules {
			if !cfg.Targets(m.Name, fmt.Sprintf("model.layers.%d.%s", l, m.Path)) {
				continue
			}
			in, out := shape(m.Name)
			p := &Pair{In: in, Out: out, R: cfg.R}
			if p.A, err = factor(f, path, Key(l, m.Name, "A"), cfg.R, in); err != nil {
				return nil, err
			}
			if p.B, err = factor(f, path, Key(l, m.Name, "B"), out, cfg.R); err != nil {
				return nil, err
			}
			if a.Pairs[l] == nil {
				a.Pairs[l] = map[string]*Pair{}
			}
			a.Pairs[l][m.Name] = p
			used += 2
		}
	}
	if used == 0 {
		return nil, fmt.Errorf("lora: %s: target_modules %v match no linear layer of the decoder", filepath.Join(dir, "adapter_config.json"), cfg.TargetModules)
	}
	if n := len(f.Names()); n != used {
		return nil, fmt.Errorf("lora: %s holds %d tensors but the config targets %d (unexpected tensors such as %s)", path, n, used, extra(f, a))
	}
	if a.System, err = ReadSystemPrompt(dir); err != nil {
		return nil, err
	}
	return a, nil
}

func factor(f *safetensors.File, path, key string, rows, cols int) ([]float32, error) {
	t, ok := f.Tensor(key)
	if !ok {
		return nil, fmt.Errorf("lora: %s: tensor %q is missing", path, key)
	}
	if len(t.Shape) != 2 || t.Shape[0] != rows || t.Shape[1] != cols {
		return nil, fmt.Errorf("lora: %s: tensor %q has shape %v, want [%d %d]", path, key, t.Shape, rows, cols)
	}
	if err := t.CheckFinite(); err != nil {
		return nil, fmt.Errorf("lora: %s: %w", path, err)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("lora: %s: %w", path, err)
	}
	return v, nil
}

func extra(f *safetensors.File, a *Adapter) string {
	for _, n := range f.Names() {
		known := false
		for l, mods := range a.Pairs {
			for m := range mods {
				if n == Key(l, m, "A") || n == Key(l, m, "B") {
					known = true
				}
			}
		}
		if !known {
			return fmt.Sprintf("%q", n)
		}
	}
	return "none"
}

// ModuleNames are the names of Modules, in order.
func ModuleNames() []string {
	names := make([]string, len(Modules))
	for i, m := range Modules {
		names[i] = m.Name
	}
	return names
}
