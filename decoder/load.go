package decoder

import (
	"cmp"
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
	var staging backend.Buffer // float32 room for the largest weight QLoRA quantizes
	host := make([]float32, streamChunk)
	free := func() {
		for _, x := range bufs {
			b.Free(x)
		}
		if staging != nil {
			b.Free(staging)
		}
	}
	for _, s := range cfg.Specs() {
		var buf backend.Buffer
		var err error
		switch {
		case Projection(s.Name) && quant.IsQuantized(s.Name, ck.Has):
			buf, err = uploadNF4(ck, b, s.Name, s.Shape)
			quantized[s.Name] = true
		case Projection(s.Name) && o.QLoRA:
			if staging == nil {
				staging = b.Alloc(largestProjection(cfg))
			}
			buf, err = quantize(ck, b, s, staging, host, cmp.Or(o.BlockSize, 64))
			quantized[s.Name] = true
		default:
			buf = b.AllocWeight(s.NumElements())
			if err = stream(ck, b, s, buf, host); err != nil {
				b.Free(buf)
			}
		}
		if err != nil {
			free()
			return nil, err
		}
		bufs[s.Name] = buf
	}
	if staging != nil {
		b.Free(staging)
	}
	return assemble(cfg, b, func(name string) backend.Buffer { return bufs[name] }, quantized), nil
}

// largestProjection is the element count of the largest projection
// weight.
func largestProjection(c *Config) int {
	n := 0
	for _, s := range c.Specs() {
		if Projection(s.Name) {
			n = max(n, s.NumElements())
		}
	}
	return n
}

// streamChunk is the most elements stream converts at once: 16 MiB of
// float32 on the host, whatever the tensor's size.
var streamChunk = 4 << 20

// stream checks the shape of tensor s and copies it to the first elements
// of dst streamChunk elements at a time through buf (streamChunk
// elements, reused for the whole checkpoint), checking that every element is
// finite (a NaN weight would silently turn every output into NaN), and
// releasing each piece of the mapped checkpoint once it is on the backend
// (safetensors.Checkpoint.Release). The host thus holds one piece of the
// checkpoint and its float32 conversion at a time, not the tensor, let
// alone the whole checkpoint.
func stream(ck *safetensors.Checkpoint, b backend.Backend, s TensorSpec, dst backend.Buffer, buf []float32) error {
	t, err := ck.Tensor(s.Name)
	if err != nil {
		return fmt.Errorf("decoder: %w", err)
	}
	if !slices.Equal(t.Shape, s.Shape) {
		return fmt.Errorf("decoder: %s: tensor %q has shape %v, config.json implies %v", ck.FileOf(s.Name), s.Name, t.Shape, s.Shape)
	}
	n := t.NumElements()
	size := t.DType.Size()
	if len(t.Data) != n*size {
		return fmt.Errorf("decoder: %s: tensor %q holds %d bytes for %d %s elements", ck.FileOf(s.Name), s.Name, len(t.Data), n, t.DType)
	}
	for off := 0; off < n; off += streamChunk {
		k := min(streamChunk, n-off)
		part := safetensors.Tensor{Name: t.Name, DType: t.DType, Shape: []int{k}, Data: t.Data[off*size : (off+k)*size]}
		if part.CheckFinite() != nil {
			// The whole tensor's check names the element by its index
			// and coordinates in the tensor.
			return fmt.Errorf("decoder: %s: %w", ck.FileOf(s.Name), t.CheckFinite())
		}
		if err := part.ReadFloat32s(buf); err != nil {
			return fmt.Errorf("decoder: %s: tensor %q: %w", ck.FileOf(s.Name), s.Name, err)
		}
		b.Upload(b.Slice(dst, off, k), buf[:k])
		ck.Release(part.Data)
	}
	return nil
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

// quantize streams one float weight into staging (see stream) and
// quantizes it there to NF4 with double quantization: on the device when
// the backend has the op (backend.QuantizeNF4), so the float weight never
// exists whole on the host.
func quantize(ck *safetensors.Checkpoint, b backend.Backend, s TensorSpec, staging backend.Buffer, host []float32, blockSize int) (backend.Buffer, error) {
	w := b.Slice(staging, 0, s.NumElements())
	if err := stream(ck, b, s, w, host); err != nil {
		return nil, err
	}
	q, err := backend.QuantizeNF4(b, w, s.Shape, blockSize)
	if err != nil {
		return nil, fmt.Errorf("decoder: %s: %w", s.Name, err)
	}
	return q, nil
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
	for i := range m.Layers {
		l := &m.Layers[i]
		free(l.InputNorm)
		free(l.PostNorm)
		for _, x := range l.linears() {
			free(x.lin.W)
			free(x.lin.Q)
			free(x.lin.Bias)
		}
	}
	free(m.act)
	free(m.act32)
	free(m.deq)
	m.Layers, m.act, m.act32, m.deq = nil, nil, nil, nil
}
