package decoder

import (
	"fmt"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/lora"
)

// Linear is one projection: W [Out, In] (Hugging Face layout) or, for
// QLoRA, the same weight packed as NF4 in Q (W is then nil); an optional
// bias; and an optional LoRA pair.
type Linear struct {
	W, Q, Bias backend.Buffer
	In, Out    int
	LoRA       *DevicePair
}

// DevicePair is an adapter's factors for one Linear on the device (a
// lora.Pair uploaded), with their gradients (nil unless training) and
// dropout probability.
type DevicePair struct {
	A, B    backend.Buffer // [R, In], [Out, R]
	GA, GB  backend.Buffer // gradients of A and B, accumulated by ForwardBackward
	R       int
	Scale   float32
	Dropout float32
}

// Layer is one decoder layer.
type Layer struct {
	InputNorm, PostNorm backend.Buffer
	Q, K, V, O          Linear
	Gate, Up, Down      Linear
}

// Model is a causal language model of any registered family on one
// backend.
type Model struct {
	Config  *Config
	Backend backend.Backend
	Embed   backend.Buffer // [vocab, hidden]
	Norm    backend.Buffer // [hidden]
	LMHead  backend.Buffer // [vocab, hidden]; the same buffer as Embed when tied
	Layers  []Layer
	Adapter *lora.Adapter // the active adapter, nil for the base model

	invFreq []float32 // RoPE's inverse frequencies, one per pair of a head's dimensions

	act       backend.Buffer // activation arena, grown to the largest pass
	act32     backend.Buffer // float32 arena of the layout's Float32 slots (nil until a pass has one)
	active    *DeviceAdapter // SetAdapter's adapter on the backend
	uploads   uint64         // adapters uploaded so far
	deq       backend.Buffer // dequantRoom's buffer, nil until first needed
	deqElems  int            // the largest NF4 weight's elements (0 without NF4 weights)
	trainable *Trainable     // set by Train
}

// requireBackend reports the first op the model needs that b lacks: every
// op of backend.Forward (its passes run them all, the loss and the LoRA
// composition included) and, with NF4 weights, those of backend.Quant.
func requireBackend(b backend.Backend, nf4 bool) error {
	need := backend.ForwardOps
	if nf4 {
		need |= backend.QuantOps
	}
	if err := backend.Require(b, need, "the model"); err != nil {
		return fmt.Errorf("decoder: %w", err)
	}
	return nil
}

// frozen returns l's frozen weight buffer: W, or the NF4 buffer Q.
func (l *Linear) frozen() backend.Buffer {
	if l.Q != nil {
		return l.Q
	}
	return l.W
}

// weight returns the float weight of l: W, or Q dequantized into the
// model's scratch buffer (valid until the next call).
func (m *Model) weight(l *Linear) backend.Buffer {
	if l.Q == nil {
		return l.W
	}
	w := m.Backend.Slice(m.dequantRoom(), 0, l.In*l.Out)
	m.Backend.Dequantize(w, l.Q)
	return w
}

// dequantRoom returns the float32 room for the largest NF4 weight,
// dequantized, allocating it on first use: a backend that fuses the LoRA
// layer never needs it when every NF4 projection is adapted, and on a 7B
// model it is 259 MiB (PlanMemory counts it only when a run needs it).
func (m *Model) dequantRoom() backend.Buffer {
	if m.deq == nil {
		m.deq = m.Backend.AllocWeight(m.deqElems)
	}
	return m.deq
}

// layerLinear is one projection of a layer with its row of lora.Modules.
type layerLinear struct {
	lora.Module
	lin *Linear
}

// linears lists a layer's projections in lora.Modules order.
func (l *Layer) linears() []layerLinear {
	lins := []*Linear{&l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down}
	out := make([]layerLinear, len(lins))
	for i, m := range lora.Modules {
		out[i] = layerLinear{m, lins[i]}
	}
	return out
}

// DeviceAdapter is an adapter's factors on the model's backend: one
// DevicePair per adapted projection. The model's active adapter
// (SetAdapter) is one; a server keeps several at once and applies each to
// its own rows of an Input (Input.Adapters) over the one base model.
type DeviceAdapter struct {
	Adapter *lora.Adapter
	pairs   []map[string]*DevicePair // by layer, then module name
	rank    int                      // the largest rank of its pairs
	id      uint64                   // its rank among the model's uploads, from 1
}

// linear returns the factors of module in layer li, nil when d (which may
// be nil: the base model) does not adapt it.
func (d *DeviceAdapter) linear(li int, module string) *DevicePair {
	if d == nil {
		return nil
	}
	return d.pairs[li][module]
}

// UploadAdapter puts the factors of a on the backend (see eachPair).
func (m *Model) UploadAdapter(a *lora.Adapter) *DeviceAdapter {
	m.uploads++
	d := &DeviceAdapter{Adapter: a, pairs: make([]map[string]*DevicePair, len(m.Layers)), id: m.uploads}
	for li := range d.pairs {
		d.pairs[li] = map[string]*DevicePair{}
	}
	m.eachPair(a, func(li int, module string, _ *Linear, p *lora.Pair) {
		ab, bb := m.Backend.Alloc(len(p.A)), m.Backend.Alloc(len(p.B))
		m.Backend.Upload(ab, p.A)
		m.Backend.Upload(bb, p.B)
		d.pairs[li][module] = &DevicePair{A: ab, B: bb, R: p.R, Scale: float32(a.Config.Scaling())}
		d.rank = max(d.rank, p.R)
	})
	return d
}

// eachPair calls f for every projection a adapts, in layer and module
// order, with the model's Linear and a's pair, whose shape must match it
// (lora.Load checks it with Config.ModuleShape; a mismatch is a
// programmer error).
func (m *Model) eachPair(a *lora.Adapter, f func(li int, module string, lin *Linear, p *lora.Pair)) {
	for li := range m.Layers {
		for _, pl := range m.Layers[li].linears() {
			p, ok := a.Pair(li, pl.Name)
			if !ok {
				continue
			}
			if p.In != pl.lin.In || p.Out != pl.lin.Out {
				panic(fmt.Sprintf("decoder: adapter %s layer %d %s is [%d→%d], model is [%d→%d]", a.Name, li, pl.Name, p.In, p.Out, pl.lin.In, pl.lin.Out))
			}
			f(li, pl.Name, pl.lin, p)
		}
	}
}

// FreeAdapter releases d's factors; d must not be used afterwards.
func (m *Model) FreeAdapter(d *DeviceAdapter) {
	for _, mods := range d.pairs {
		for _, lr := range mods {
			m.Backend.Free(lr.A)
			m.Backend.Free(lr.B)
		}
	}
	d.pairs = nil
}

// SetAdapter makes a the active adapter (nil removes it), uploading its
// factors to the backend.
func (m *Model) SetAdapter(a *lora.Adapter) {
	if t := m.trainable; t != nil {
		// Training factors are slices of the Trainable's arenas.
		m.Backend.Free(t.Params)
		m.Backend.Free(t.Grads)
		m.Backend.Free(t.lossSum)
		for _, s := range t.slots {
			s.linear.LoRA = nil
		}
		m.trainable = nil
	}
	if m.active != nil {
		m.FreeAdapter(m.active)
		m.active = nil
	}
	if a != nil {
		m.active = m.UploadAdapter(a)
	}
	for li := range m.Layers {
		for _, pl := range m.Layers[li].linears() {
			pl.lin.LoRA = m.active.linear(li, pl.Name)
		}
	}
	m.Adapter = a
}

// loraRank is the largest rank of the active adapter and of adapters,
// 0 without any.
func (m *Model) loraRank(adapters []*DeviceAdapter) int {
	r := 0
	for li := range m.Layers {
		for _, pl := range m.Layers[li].linears() {
			if pl.lin.LoRA != nil {
				r = max(r, pl.lin.LoRA.R)
			}
		}
	}
	for _, d := range adapters {
		if d != nil {
			r = max(r, d.rank)
		}
	}
	return r
}
