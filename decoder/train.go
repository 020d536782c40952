package decoder

import (
	"fmt"
	"math"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/lora"
)

// Trainable is a LoRA adapter attached to a model for training: every
// factor lives in one parameter arena and every gradient in one gradient
// arena of the same layout, so an optimizer updates them all with one op.
type Trainable struct {
	Adapter       *lora.Adapter
	Params, Grads backend.Buffer
	N             int // elements in each arena
	slots         []paramSlot
	lossSum       backend.Buffer // a step's summed loss and counted targets, on backends that sum on the device
}

// paramSlot places one factor pair in the arenas.
type paramSlot struct {
	layer      int
	module     string
	offA, offB int
	lenA, lenB int
	pair       *lora.Pair
	linear     *Linear
}

// Train attaches adapter a to the model for training and returns its
// arenas. Its dropout (lora_dropout) applies in ForwardBackward; inference
// (Forward) never drops. The adapter's host factors are not updated as
// training runs: call Download to copy the trained values back.
func (m *Model) Train(a *lora.Adapter) *Trainable {
	m.SetAdapter(nil)
	l := paramLayout(m.Config, func(li int, module string) (int, bool) {
		p, ok := a.Pair(li, module)
		if !ok {
			return 0, false
		}
		return p.R, true
	})
	t := &Trainable{Adapter: a, N: l.Total}
	m.eachPair(a, func(li int, module string, lin *Linear, p *lora.Pair) {
		sa, sb := l.Slot(factorSlot(li, module, "A")), l.Slot(factorSlot(li, module, "B"))
		t.slots = append(t.slots, paramSlot{layer: li, module: module, offA: sa.Off, lenA: sa.Elems, offB: sb.Off, lenB: sb.Elems, pair: p, linear: lin})
	})
	t.Params, t.Grads, t.lossSum = m.Backend.Alloc(t.N), m.Backend.Alloc(t.N), m.Backend.Alloc(lossSumElems)
	scale := float32(a.Config.Scaling())
	for _, s := range t.slots {
		ab, bb := m.Backend.Slice(t.Params, s.offA, s.lenA), m.Backend.Slice(t.Params, s.offB, s.lenB)
		m.Backend.Upload(ab, s.pair.A)
		m.Backend.Upload(bb, s.pair.B)
		s.linear.LoRA = &DevicePair{
			A: ab, B: bb, R: s.pair.R, Scale: scale, Dropout: float32(a.Config.LoraDropout),
			GA: m.Backend.Slice(t.Grads, s.offA, s.lenA), GB: m.Backend.Slice(t.Grads, s.offB, s.lenB),
		}
	}
	m.Adapter = a
	m.trainable = t
	return t
}

// paramLayout places the LoRA factors of a model of config c in one arena,
// in layer and module order (eachPair's): "L<i>.<module>.A" [r, In] then
// "L<i>.<module>.B" [Out, r] for every projection rank gives a rank r for.
// Train lays out the parameter and gradient arenas with it, and
// PlanMemory sizes them (and the optimizer's moments) with it.
func paramLayout(c *Config, rank func(li int, module string) (int, bool)) Layout {
	var l Layout
	for li := 0; li < c.NumHiddenLayers; li++ {
		for _, m := range lora.Modules {
			r, ok := rank(li, m.Name)
			if !ok {
				continue
			}
			in, out := m.Shape(c.dims())
			l.add(factorSlot(li, m.Name, "A"), r*in)
			l.add(factorSlot(li, m.Name, "B"), out*r)
		}
	}
	return l
}

// factorSlot names factor ("A" or "B") of module in layer li in
// paramLayout.
func factorSlot(li int, module, factor string) string {
	return fmt.Sprintf("L%d.%s.%s", li, module, factor)
}

// Download copies the trained factors from the parameter arena back into
// the adapter's host slices (before saving or merging).
func (t *Trainable) Download(b backend.Backend) {
	for _, s := range t.slots {
		b.Download(s.pair.A, b.Slice(t.Params, s.offA, s.lenA))
		b.Download(s.pair.B, b.Slice(t.Params, s.offB, s.lenB))
	}
}

// Grad downloads the gradient of one factor ("A" or "B") of module in
// layer; ok is false when that linear is not adapted.
func (t *Trainable) Grad(b backend.Backend, layer int, module, factor string) (g []float32, ok bool) {
	for _, s := range t.slots {
		if s.layer != layer || s.module != module {
			continue
		}
		off, n := s.offA, s.lenA
		if factor == "B" {
			off, n = s.offB, s.lenB
		}
		g = make([]float32, n)
		b.Download(g, b.Slice(t.Grads, off, n))
		return g, true
	}
	return nil, false
}

// TrainOptions controls one ForwardBackward.
type TrainOptions struct {
	// LossScale multiplies the gradient of the summed token losses: 1/N
	// for the mean over N counted targets of the whole accumulated batch
	// (Hugging Face's normalization).
	LossScale float64
	// DropoutSeed seeds this micro-batch's LoRA dropout masks; every
	// (layer, module) draws its own mask from it.
	DropoutSeed uint64
	// Recompute keeps only each layer's input during the forward pass
	// and recomputes the rest of the layer before its backward pass
	// (gradient checkpointing).
	Recompute bool
}

// trainOps are the ops ForwardBackward runs besides those of inference and of
// the adapted projections (backend.LoRALinearOps).
var trainOps = backend.Set(backend.OpRMSNormBackward, backend.OpLinearBackward, backend.OpRoPEBackward,
	backend.OpAttentionBackward, backend.OpSiLUMulBackward, backend.OpCrossEntropyBackward)

// requireTraining reports the first op training needs that the backend
// lacks.
func (m *Model) requireTraining() error {
	need := trainOps
	for li := range m.Layers {
		for _, pl := range m.Layers[li].linears() {
			if lr := pl.lin.LoRA; lr != nil {
				need |= backend.LoRALinearOps(m.Backend, lr.Dropout != 0, pl.lin.Q != nil)
			}
		}
	}
	return backend.Require(m.Backend, need, "training")
}

// ForwardBackward runs the forward and backward pass of one micro-batch and
// accumulates (+=) the LoRA gradients into the Trainable's gradient arena.
// It returns the summed token loss and the number of counted targets.
// b.AttentionMask may hold segment ids of packed sequences (see
// backend.Forward.Attention) and b.Pos their position ids.
func (m *Model) ForwardBackward(b *Batch, o TrainOptions) (lossSum float64, tokens int, err error) {
	if m.trainable == nil {
		panic("decoder: ForwardBackward without Train")
	}
	if err := b.Validate(m.Config); err != nil {
		return 0, 0, err
	}
	if err := m.requireTraining(); err != nil {
		return 0, 0, fmt.Errorf("decoder: %w", err)
	}
	rows := b.Rows * b.T
	p := m.newPass(b.Rows, b.T, b.positions(), b.AttentionMask, nil, trainPlan(m.Config, rows, o.Recompute))
	p.seed = o.DropoutSeed
	x := p.forward(b.IDs, nil)
	dx := p.slot("dx", rows*m.Config.HiddenSize)
	targets := b.targets()
	for _, t := range targets {
		if t != backend.IgnoreIndex {
			tokens++
		}
	}
	// Where the backend sums the loss on the device, the step's one
	// download is that sum, after the backward pass; else the per-row
	// losses come back chunk by chunk.
	var loss []float64
	sum := m.trainable.lossSum
	if backend.Supports(m.Backend, backend.OpCrossEntropySum) {
		m.Backend.Zero(sum, 2)
	} else {
		loss, sum = make([]float64, rows), nil
	}
	p.loss(x, targets, loss, sum, float32(o.LossScale), dx)

	// Backward: dx is the gradient of the residual stream.
	for li := len(m.Layers) - 1; li >= 0; li-- {
		a := p.acts(li)
		if o.Recompute {
			a.out = a.blockOut // the output is already the next layer's saved input: write it where it is dropped
			p.layerForward(li, a)
		}
		p.layerBackward(li, a, dx, li > 0)
	}
	if sum != nil {
		s := make([]float32, 2)
		m.Backend.Download(s, sum)
		lossSum = float64(s[0])
	} else {
		for i, t := range targets {
			if t != backend.IgnoreIndex {
				lossSum += loss[i]
			}
		}
	}
	if math.IsNaN(lossSum) || math.IsInf(lossSum, 0) {
		return lossSum, tokens, fmt.Errorf("decoder: loss is %v", lossSum)
	}
	return lossSum, tokens, nil
}

// layerBackward turns dx, the gradient of layer li's output, into the
// gradient of its input (computed only when needInput), accumulating the
// layer's LoRA gradients: layerForward's backward pass.
func (p *pass) layerBackward(li int, a layerActs, dx backend.Buffer, needInput bool) {
	b, c, rows, s := p.b, p.m.Config, p.rows, p.slot
	h, kv, in := c.HiddenSize, c.KVDim(), c.IntermediateSize
	eps := float32(c.RMSNormEps)
	L := &p.m.Layers[li]
	dhn, datt, dq, dk, dv := s("dhn", rows*h), s("datt", rows*h), s("dq", rows*h), s("dk", rows*kv), s("dv", rows*kv)
	dgate, dup := s("dgate", rows*in), s("dup", rows*in)

	// MLP: out = xmid + down(silu(gate(hn2)) * up(hn2)).
	p.projBackward(dgate, dx, a.act, &L.Down, li, "down_proj", false)
	b.SiLUMulBackward(dgate, dup, dgate, a.gate, a.up, rows*in)
	p.projBackward(dhn, dgate, a.hn2, &L.Gate, li, "gate_proj", false)
	p.projBackward(dhn, dup, a.hn2, &L.Up, li, "up_proj", true)
	b.RMSNormBackward(dhn, dhn, a.xmid, L.PostNorm, rows, h, eps)
	b.Add(dx, dx, dhn, rows*h)

	// Attention: xmid = xin + o_proj(attention(rope(q), rope(k), v)).
	p.projBackward(datt, dx, a.att, &L.O, li, "o_proj", false)
	b.AttentionBackward(dq, dk, dv, datt, a.q, a.k, a.v, a.att, a.lse, p.mask, p.attnShape())
	b.RoPEBackward(dq, p.pos, rows, c.NumAttentionHeads, p.m.invFreq)
	b.RoPEBackward(dk, p.pos, rows, c.NumKeyValueHeads, p.m.invFreq)
	var dh backend.Buffer
	if needInput {
		dh = dhn
	}
	p.projBackward(dh, dq, a.hn1, &L.Q, li, "q_proj", false)
	p.projBackward(dh, dk, a.hn1, &L.K, li, "k_proj", true)
	p.projBackward(dh, dv, a.hn1, &L.V, li, "v_proj", true)
	if needInput {
		b.RMSNormBackward(dhn, dhn, a.xin, L.InputNorm, rows, h, eps)
		b.Add(dx, dx, dhn, rows*h)
	}
}

// projBackward takes dy [rows, Out] of projection l with input x and
// accumulates its LoRA gradients, through backend.LoRALinearBackward (the
// backend's fused op when it has one). When dx is not nil it receives the
// input gradient (= or, with acc, +=).
func (p *pass) projBackward(dx, dy, x backend.Buffer, l *Linear, li int, module string, acc bool) {
	b, rows := p.b, p.rows
	target := dx
	if dx != nil && acc {
		target = p.slot("dterm", rows*l.In)
	}
	if lr := l.LoRA; lr != nil {
		s, sc := p.lora(l, lr, rows, li, module)
		backend.LoRALinearBackward(b, target, lr.GA, lr.GB, dy, x, l.frozen(), lr.A, lr.B, s, sc)
	} else if target != nil {
		b.LinearBackward(target, dy, p.m.weight(l), rows, l.In, l.Out)
	}
	if dx != nil && acc {
		b.Add(dx, dx, target, rows*l.In)
	}
}
