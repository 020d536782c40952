package decoder

import (
	"fmt"
	"slices"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/quant"
	"github.com/tune-dev/tune/safetensors"
)

// Load reads a Hugging Face model folder (config.json of any registered
// family, and model.safetensors or a sharded index) onto backend b. BF16, F16 and F32 weights are
// converted to float32. Every tensor's shape is checked against the config,
// and errors name the file and tensor.
func Load(dir string, b backend.Backend) (*Model, error) {
	return LoadWith(dir, b, LoadOptions{})
}

// LoadOptions selects how Load stores the base weights.
type LoadOptions struct {
	// QLoRA quantizes the seven projection weights of every layer to NF4
	// with double quantization as they are read (embeddings, norms and
	// lm_head stay in full precision), so the float weights never exist
	// all at once.
	QLoRA bool
	// BlockSize is the NF4 block size (64 when 0).
	BlockSize int
}

// LoadWith is Load with options. A checkpoint whose projections are
// already 4-bit (bitsandbytes NF4 layout) keeps them as stored, with or
// without QLoRA.
func LoadWith(dir string, b backend.Backend, o LoadOptions) (*Model, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	defer ck.Close()
	return fromCheckpoint(cfg, ck, b, o)
}

// FromCheckpoint builds the model from an open checkpoint. Tensors the
// model does not use (such as rotary tables of old exports) are ignored.
func FromCheckpoint(cfg *Config, ck *safetensors.Checkpoint, b backend.Backend) (*Model, error) {
	return fromCheckpoint(cfg, ck, b, LoadOptions{})
}

func fromCheckpoint(cfg *Config, ck *safetensors.Checkpoint, b backend.Backend, o LoadOptions) (*Model, error) {
	nf4 := o.QLoRA
	for _, s := range cfg.Specs() {
		nf4 = nf4 || (Projection(s.Name) && quant.IsQuantized(s.Name, ck.Has))
	}
	if err := requireBackend(b, nf4); err != nil {
		return nil, err
	}
	bufs := map[string]backend.Buffer{}
	quantized := map[string]bool{}
	for _, s := range cfg.Specs() {
		var buf backend.Buffer
		var err error
		switch {
		case Projection(s.Name) && quant.IsQuantized(s.Name, ck.Has):
			buf, err = uploadNF4(ck, b, s.Name, s.Shape)
			quantized[s.Name] = true
		case Projection(s.Name) && o.QLoRA:
			buf, err = quantize(ck, b, s.Name, s.Shape, o.BlockSize)
			quantized[s.Name] = true
		default:
			buf, err = upload(ck, b, s.Name, s.Shape)
		}
		if err != nil {
			for _, x := range bufs {
				b.Free(x)
			}
			return nil, err
		}
		bufs[s.Name] = buf
	}
	return assemble(cfg, b, func(name string) backend.Buffer { return bufs[name] }, quantized), nil
}

// uploadNF4 reads a bitsandbytes 4-bit weight as stored.
func uploadNF4(ck *safetensors.Checkpoint, b backend.Backend, name string, shape []int) (backend.Buffer, error) {
	q, err := quant.Read(name, func(n string) (safetensors.Tensor, bool) {
		t, err := ck.Tensor(n)
		return t, err == nil
	})
	if err != nil {
		return nil, fmt.Errorf("decoder: %s: %w", ck.FileOf(name), err)
	}
	if !slices.Equal(q.Shape, shape) {
		return nil, fmt.Errorf("decoder: %s: 4-bit tensor %q has shape %v, config.json implies %v", ck.FileOf(name), name, q.Shape, shape)
	}
	return b.UploadNF4(q), nil
}

// quantize reads one float weight and stores it as NF4 with double
// quantization.
func quantize(ck *safetensors.Checkpoint, b backend.Backend, name string, shape []int, blockSize int) (backend.Buffer, error) {
	v, dtype, err := readFloat(ck, name, shape)
	if err != nil {
		return nil, err
	}
	if blockSize == 0 {
		blockSize = 64
	}
	q, err := quant.Quantize(v, shape, blockSize, true)
	if err != nil {
		return nil, fmt.Errorf("decoder: %s: %w", name, err)
	}
	q.DType = dtypeName(dtype)
	return b.UploadNF4(q), nil
}

// dtypeName is torch's name of a safetensors dtype, as bitsandbytes
// records it in quant_state.
func dtypeName(d safetensors.DType) string {
	switch d {
	case safetensors.BF16:
		return "bfloat16"
	case safetensors.F16:
		return "float16"
	}
	return "float32"
}

// readFloat reads one tensor as float32 after checking its shape and that
// every element is finite (a NaN weight would silently turn every output
// into NaN), and reports its stored dtype.
func readFloat(ck *safetensors.Checkpoint, name string, shape []int) ([]float32, safetensors.DType, error) {
	t, err := ck.Tensor(name)
	if err != nil {
		return nil, "", fmt.Errorf("decoder: %w", err)
	}
	if !slices.Equal(t.Shape, shape) {
		return nil, "", fmt.Errorf("decoder: %s: tensor %q has shape %v, config.json implies %v", ck.FileOf(name), name, t.Shape, shape)
	}
	if err := t.CheckFinite(); err != nil {
		return nil, "", fmt.Errorf("decoder: %s: %w", ck.FileOf(name), err)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, "", fmt.Errorf("decoder: %s: %w", ck.FileOf(name), err)
	}
	return v, t.DType, nil
}

// upload checks one tensor's shape and copies it, as float32, to b.
func upload(ck *safetensors.Checkpoint, b backend.Backend, name string, shape []int) (backend.Buffer, error) {
	v, _, err := readFloat(ck, name, shape)
	if err != nil {
		return nil, err
	}
	buf := b.Alloc(len(v))
	b.Upload(buf, v)
	return buf, nil
}

// Free releases every buffer the model holds.
func (m *Model) Free() {
	free := func(x backend.Buffer) {
		if x != nil {
			m.Backend.Free(x)
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
			free(x.Q)
			free(x.Bias)
		}
	}
	free(m.act)
	free(m.act32)
	free(m.deq)
	m.Layers, m.act, m.act32, m.deq = nil, nil, nil, nil
}
