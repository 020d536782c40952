package decoder

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/quant"
	"github.com/tune-dev/tune/safetensors"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// RandomTensor fills one tensor of a random model deterministically from
// seed and the tensor's name, so any subset can be generated alone:
// weights ~ N(0, 0.02) (transformers' initializer_range), norm gains
// 1 + N(0, 0.1) and biases N(0, 0.02), so that gains and biases matter.
func RandomTensor(spec TensorSpec, seed uint64) []float32 {
	h := fnv.New64a()
	h.Write([]byte(spec.Name))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	n := 1
	for _, d := range spec.Shape {
		n *= d
	}
	v := make([]float32, n)
	norm := len(spec.Shape) == 1 && !isBias(spec.Name)
	for i := range v {
		switch {
		case norm:
			v[i] = float32(1 + 0.1*rng.NormFloat64())
		default:
			v[i] = float32(0.02 * rng.NormFloat64())
		}
	}
	return v
}

func isBias(name string) bool { return filepath.Ext(name) == ".bias" }

// NewRandom builds a random model of config c directly on b (see
// RandomTensor), for benchmarks and tests in real shapes without a
// download.
func NewRandom(c *Config, b backend.Backend, seed uint64) (*Model, error) {
	return NewRandomWith(c, b, seed, LoadOptions{})
}

// NewRandomWith is NewRandom with load options (QLoRA quantizes the
// projections as they are generated).
func NewRandomWith(c *Config, b backend.Backend, seed uint64, o LoadOptions) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("decoder: random model: %w", err)
	}
	if err := requireBackend(b, o.QLoRA); err != nil {
		return nil, err
	}
	bufs := map[string]backend.Buffer{}
	quantized := map[string]bool{}
	for _, s := range c.Specs() {
		v := RandomTensor(s, seed)
		if o.QLoRA && Projection(s.Name) {
			q, err := quant.Quantize(v, s.Shape, cmp.Or(o.BlockSize, 64), true)
			if err != nil {
				return nil, fmt.Errorf("decoder: random model: %s: %w", s.Name, err)
			}
			bufs[s.Name], quantized[s.Name] = b.UploadNF4(q), true
			continue
		}
		buf := b.AllocWeight(len(v))
		b.Upload(buf, v)
		bufs[s.Name] = buf
	}
	return assemble(c, b, func(name string) backend.Buffer { return bufs[name] }, quantized), nil
}

// assemble wires named buffers into a Model; the projection weights named
// in quantized are NF4 buffers.
func assemble(c *Config, b backend.Backend, get func(string) backend.Buffer, quantized map[string]bool) *Model {
	m := &Model{Config: c, Backend: b, Embed: get(EmbedName), Norm: get(NormName), invFreq: c.InvFreq()}
	m.LMHead = m.Embed
	if !c.TieWordEmbeddings {
		m.LMHead = get(LMHeadName)
	}
	bias := c.Family().QKVBias
	m.Layers = make([]Layer, c.NumHiddenLayers)
	for l := range m.Layers {
		L := &m.Layers[l]
		L.InputNorm = get(LayerName(l, "input_layernorm.weight"))
		L.PostNorm = get(LayerName(l, "post_attention_layernorm.weight"))
		for _, pl := range L.linears() {
			x := pl.lin
			x.In, x.Out = pl.Shape(c.dims())
			if w := LayerName(l, pl.Path+".weight"); quantized[w] {
				x.Q = get(w)
			} else {
				x.W = get(w)
			}
			if pl.QKV && bias {
				x.Bias = get(LayerName(l, pl.Path+".bias"))
			}
		}
	}
	m.deqElems = dequantElems(c, func(li int, module string) bool {
		return quantized[LayerName(li, lora.ModulePath(module)+".weight")]
	})
	return m
}

// SaveRandom writes a random model of config c as a Hugging Face model
// folder: config.json, generation_config.json (greedy, with eos ids when
// the config has one) and model.safetensors (F32 or BF16), sharded when it
// exceeds maxShardBytes (0: never).
func SaveRandom(dir string, c *Config, seed uint64, dtype safetensors.DType, maxShardBytes int64) error {
	return SaveRandomWith(dir, c, seed, dtype, maxShardBytes, nil)
}

// SaveRandomWith is SaveRandom with adjust, when not nil, applied to each
// tensor's values before they are written (to scale a gain, say).
func SaveRandomWith(dir string, c *Config, seed uint64, dtype safetensors.DType, maxShardBytes int64, adjust func(TensorSpec, []float32)) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("decoder: random model: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("decoder: %w", err)
	}
	var ts []safetensors.Tensor
	for _, s := range c.Specs() {
		v := RandomTensor(s, seed)
		if adjust != nil {
			adjust(s, v)
		}
		switch dtype {
		case safetensors.BF16:
			ts = append(ts, safetensors.BF16Tensor(s.Name, s.Shape, v))
		case safetensors.F32:
			ts = append(ts, safetensors.F32Tensor(s.Name, s.Shape, v))
		default:
			return fmt.Errorf("decoder: random model dtype %s is not F32 or BF16", dtype)
		}
	}
	cc := *c
	cc.TorchDType = map[safetensors.DType]string{safetensors.BF16: "bfloat16", safetensors.F32: "float32"}[dtype]
	if len(cc.Architectures) == 0 {
		cc.Architectures = []string{c.Family().Architecture}
	}
	if err := writeJSON(filepath.Join(dir, "config.json"), &cc); err != nil {
		return err
	}
	gen := map[string]any{"do_sample": false}
	if c.EOSTokenID != nil {
		gen["eos_token_id"] = c.EOSTokenID
	}
	if err := writeJSON(filepath.Join(dir, "generation_config.json"), gen); err != nil {
		return err
	}
	md := map[string]string{"format": "pt"}
	var total int64
	for _, t := range ts {
		total += int64(len(t.Data))
	}
	if maxShardBytes > 0 && total > maxShardBytes {
		return safetensors.WriteSharded(dir, ts, md, maxShardBytes)
	}
	return safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, md)
}

// writeJSON writes v, indented, to path atomically.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("decoder: %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("decoder: %s: %w", path, err)
	}
	return nil
}
