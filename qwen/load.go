package qwen

import (
	"fmt"
	"slices"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/safetensors"
)

// Weight names of the Hugging Face Qwen2ForCausalLM checkpoint.
const (
	EmbedName  = "model.embed_tokens.weight"
	NormName   = "model.norm.weight"
	LMHeadName = "lm_head.weight"
)

// LayerName is the name of a per-layer tensor, e.g.
// LayerName(3, "self_attn.q_proj.weight").
func LayerName(layer int, suffix string) string {
	return fmt.Sprintf("model.layers.%d.%s", layer, suffix)
}

// Load reads a Hugging Face model folder (config.json and model.safetensors
// or a sharded index) onto backend b. BF16, F16 and F32 weights are
// converted to float32. Every tensor's shape is checked against the config,
// and errors name the file and tensor.
func Load(dir string, b backend.Backend) (*Model, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, fmt.Errorf("qwen: %w", err)
	}
	defer ck.Close()
	return FromCheckpoint(cfg, ck, b)
}

// FromCheckpoint builds the model from an open checkpoint. Tensors the
// model does not use (such as rotary tables of old exports) are ignored.
func FromCheckpoint(cfg *Config, ck *safetensors.Checkpoint, b backend.Backend) (*Model, error) {
	bufs := map[string]backend.Buffer{}
	for _, s := range cfg.Specs() {
		buf, err := upload(ck, b, s.Name, s.Shape)
		if err != nil {
			for _, x := range bufs {
				b.Free(x)
			}
			return nil, err
		}
		bufs[s.Name] = buf
	}
	return assemble(cfg, b, func(name string) backend.Buffer { return bufs[name] }), nil
}

// upload checks one tensor's shape and copies it, as float32, to b.
func upload(ck *safetensors.Checkpoint, b backend.Backend, name string, shape []int) (backend.Buffer, error) {
	t, err := ck.Tensor(name)
	if err != nil {
		return nil, fmt.Errorf("qwen: %w", err)
	}
	if !slices.Equal(t.Shape, shape) {
		return nil, fmt.Errorf("qwen: %s: tensor %q has shape %v, config.json implies %v", ck.FileOf(name), name, t.Shape, shape)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("qwen: %s: %w", ck.FileOf(name), err)
	}
	buf := b.Alloc(len(v))
	b.Upload(buf, v)
	return buf, nil
}

// Free releases every buffer the model holds.
func (m *Model) Free() {
	free := func(x backend.Buffer) {
		if x != nil {
			m.B.Free(x)
		}
	}
	m.SetAdapter(nil)
	if m.LMHead != m.Embed {
		free(m.LMHead)
	}
	free(m.Embed)
	free(m.Norm)
	for _, l := range m.Layers {
		free(l.InputNorm)
		free(l.PostNorm)
		for _, x := range []Linear{l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down} {
			free(x.W)
			free(x.Bias)
		}
	}
	free(m.act)
	m.Layers, m.act = nil, nil
}
