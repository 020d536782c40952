package qwen

import (
	"fmt"
	"hash/fnv"
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
// arenas. Its dropout (lora_dropout) applies in TrainStep; inference
// (Forward) never drops. The adapter's host factors are not updated as
// training runs: call Sync to copy the trained values back.
func (m *Model) Train(a *lora.Adapter) *Trainable {
	m.SetAdapter(nil)
	t := &Trainable{Adapter: a}
	for li := range m.Layers {
		for _, pl := range m.Layers[li].linears() {
			p, ok := a.Pair(li, pl.name)
			if !ok {
				continue
			}
			if p.In != pl.lin.In || p.Out != pl.lin.Out {
				panic(fmt.Sprintf("qwen: adapter %s layer %d %s is [%d→%d], model is [%d→%d]", a.Name, li, pl.name, p.In, p.Out, pl.lin.In, pl.lin.Out))
			}
			s := paramSlot{layer: li, module: pl.name, offA: t.N, lenA: len(p.A), offB: t.N + len(p.A), lenB: len(p.B), pair: p, linear: pl.lin}
			t.N += len(p.A) + len(p.B)
			t.slots = append(t.slots, s)
		}
	}
	t.Params, t.Grads = m.B.Alloc(t.N), m.B.Alloc(t.N)
	scale := float32(a.Config.Scaling())
	for _, s := range t.slots {
		ab, bb := m.B.Slice(t.Params, s.offA, s.lenA), m.B.Slice(t.Params, s.offB, s.lenB)
		m.B.Upload(ab, s.pair.A)
		m.B.Upload(bb, s.pair.B)
		s.linear.LoRA = &LoRALinear{
			A: ab, B: bb, R: s.pair.R, Scale: scale, Dropout: float32(a.Config.LoraDropout),
			GA: m.B.Slice(t.Grads, s.offA, s.lenA), GB: m.B.Slice(t.Grads, s.offB, s.lenB),
		}
	}
	m.Adapter = a
	m.trainable = t
	return t
}

// Sync copies the trained factors from the parameter arena back into the
// adapter's host slices (before saving or merging).
func (t *Trainable) Sync(b backend.Backend) {
	for _, s := range t.slots {
		b.Download(s.pair.A, b.Slice(t.Params, s.offA, s.lenA))
		b.Download(s.pair.B, b.Slice(t.Params, s.offB, s.lenB))
	}
}

// Load copies the adapter's host factors into the parameter arena (after
// the host values changed, e.g. when resuming from a checkpoint).
func (t *Trainable) Load(b backend.Backend) {
	for _, s := range t.slots {
		b.Upload(b.Slice(t.Params, s.offA, s.lenA), s.pair.A)
		b.Upload(b.Slice(t.Params, s.offB, s.lenB), s.pair.B)
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

// TrainOptions controls one TrainStep.
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
	// Eval scores the batch only: no dropout, no gradient, and (like
	// Recompute) only each layer's input kept, so evaluation needs little
	// memory and never holds the [rows × vocab] logits.
	Eval bool
}

// TrainStep runs the forward and backward pass of one micro-batch and
// accumulates (+=) the LoRA gradients into the Trainable's gradient arena
// (with o.Eval, only the forward pass and the loss, for any model, trained
// or not). It returns the summed token loss and the number of counted
// targets.
// b.AttentionMask may hold segment ids of packed sequences (see
// backend.Forward.Attention) and b.Pos their position ids.
func (m *Model) TrainStep(b *Batch, o TrainOptions) (lossSum float64, tokens int, err error) {
	if m.trainable == nil && !o.Eval {
		panic("qwen: TrainStep without Train")
	}
	if err := b.Validate(m.Config); err != nil {
		return 0, 0, err
	}
	c := m.Config
	rows := b.Rows * b.T
	L := len(m.Layers)
	h, inter, kvd, V := c.HiddenSize, c.IntermediateSize, c.KVDim(), c.VocabSize
	chunk := lmChunk(rows, V)
	recompute := o.Recompute || o.Eval
	lay := TrainLayout(c, rows, chunk, m.loraRank(), recompute)
	slot := m.arena(lay)
	pos := b.Pos
	if pos == nil {
		pos = make([]int32, rows)
		for i := range pos {
			pos[i] = int32(i % b.T)
		}
	}
	targets := b.targets()
	tc := &trainCtx{m: m, slot: slot, rows: rows, b: b, pos: pos, seed: o.DropoutSeed, recompute: recompute, eval: o.Eval}

	// Forward: the residual stream enters layer li in slot L<li>.xin; the
	// last layer writes "xfinal".
	m.B.Embedding(slot("L0.xin", rows*h), m.Embed, b.IDs, h)
	for li := 0; li < L; li++ {
		out := slot("xfinal", rows*h)
		if li+1 < L {
			out = slot(fmt.Sprintf("L%d.xin", li+1), rows*h)
		}
		tc.layerForward(li, out)
	}
	eps := float32(c.RMSNormEps)
	xf, last, dlast := slot("xfinal", rows*h), slot("last", rows*h), slot("dlast", rows*h)
	m.B.RMSNorm(last, xf, m.Norm, rows, h, eps)

	// The LM head and the loss, only for rows with a target (the prompt's
	// rows need no logits) and a chunk of them at a time, so the
	// [rows × vocab] logits never exist whole.
	var scored []int32
	for i, t := range targets {
		if t != backend.IgnoreIndex {
			scored = append(scored, int32(i))
		}
	}
	m.B.Zero(dlast, rows*h)
	loss := make([]float64, chunk)
	tg := make([]int32, chunk)
	for c0 := 0; c0 < len(scored); c0 += chunk {
		idx := scored[c0:min(c0+chunk, len(scored))]
		n := len(idx)
		x, dx := slot("lm_x", n*h), slot("lm_dx", n*h)
		logits := slot("logits", n*V)
		m.B.Embedding(x, last, idx, h) // gathers the scored rows of last
		for i, r := range idx {
			tg[i] = targets[r]
		}
		m.B.Linear(logits, x, m.LMHead, nil, n, h, V)
		m.B.CrossEntropy(loss, logits, tg[:n], n, V)
		for i := 0; i < n; i++ {
			lossSum += loss[i]
		}
		tokens += n
		if o.Eval {
			continue
		}
		m.B.CrossEntropyBackward(logits, logits, tg[:n], n, V, float32(o.LossScale))
		m.B.LinearBackward(dx, logits, m.LMHead, n, h, V)
		for i, r := range idx {
			m.B.AddScaled(m.B.Slice(dlast, int(r)*h, h), m.B.Slice(dx, i*h, h), 1, h)
		}
	}
	if math.IsNaN(lossSum) || math.IsInf(lossSum, 0) {
		return lossSum, tokens, fmt.Errorf("qwen: loss is %v", lossSum)
	}
	if o.Eval {
		return lossSum, tokens, nil
	}

	// Backward: dx is the gradient of the residual stream.
	dx := slot("dx", rows*h)
	m.B.RMSNormBackward(dx, dlast, xf, m.Norm, rows, h, eps)
	for li := L - 1; li >= 0; li-- {
		if o.Recompute {
			tc.layerForward(li, slot("dtmp", rows*max(h, inter, kvd)))
		}
		tc.layerBackward(li, dx, li > 0)
	}
	return lossSum, tokens, nil
}

// lmChunk is the number of rows whose logits TrainStep holds at once:
// at most 16M logits (64 MiB in float32), at least one row, a multiple of
// four rows when that many fit (the CPU's matrix tiles are four rows high).
func lmChunk(rows, vocab int) int {
	n := min(rows, (16<<20)/vocab)
	if n >= 4 {
		n &^= 3
	}
	return max(1, n)
}

// TrainLayout is the activation arena of TrainStep over rows tokens with
// LoRA rank loraR, computing chunk rows of logits at a time. Without
// recomputation every layer keeps all it needs for its backward pass
// (slots "L<i>.<name>"); with it, every layer keeps only its input and one
// shared set ("ck.<name>") is recomputed layer by layer.
func TrainLayout(c *Config, rows, chunk, loraR int, recompute bool) Layout {
	var l Layout
	h, kv, in := c.HiddenSize, c.KVDim(), c.IntermediateSize
	saved := func(p string) {
		l.add(p+"hn1", rows*h)
		l.add(p+"q", rows*h)
		l.add(p+"k", rows*kv)
		l.add(p+"v", rows*kv)
		l.add(p+"att", rows*h)
		l.add(p+"xmid", rows*h)
		l.add(p+"hn2", rows*h)
		l.add(p+"gate", rows*in)
		l.add(p+"up", rows*in)
		l.add(p+"act", rows*in)
	}
	for i := 0; i < c.NumHiddenLayers; i++ {
		l.add(fmt.Sprintf("L%d.xin", i), rows*h)
		if !recompute {
			saved(fmt.Sprintf("L%d.", i))
		}
	}
	if recompute {
		saved("ck.")
	}
	wide := max(h, in, kv)
	r := max(loraR, 1)
	l.add("xfinal", rows*h)
	l.add("last", rows*h)
	l.add("dlast", rows*h)
	l.add("lm_x", chunk*h)
	l.add("lm_dx", chunk*h)
	l.add("logits", chunk*c.VocabSize)
	l.add("dx", rows*h)
	l.add("dhn", rows*h)
	l.add("datt", rows*h)
	l.add("dq", rows*h)
	l.add("dk", rows*kv)
	l.add("dv", rows*kv)
	l.add("dgate", rows*in)
	l.add("dup", rows*in)
	l.add("dtmp", rows*wide)   // a linear's output before the residual add; an input-gradient term
	l.add("lora_t", rows*r)    // x·Aᵀ, then s·x·Aᵀ
	l.add("lora_u", rows*r)    // s·dy·B
	l.add("lora_d", rows*wide) // the LoRA term of a forward output
	l.add("lora_x", rows*wide) // dropout(x)
	l.add("lora_dx", rows*wide)
	return l
}

// trainCtx carries one TrainStep's state through the layers.
type trainCtx struct {
	m         *Model
	slot      func(string, int) backend.Buffer
	rows      int
	b         *Batch
	pos       []int32
	seed      uint64
	recompute bool
	eval      bool // no dropout
}

// names returns the slot prefix holding layer li's saved activations.
func (tc *trainCtx) names(li int) string {
	if tc.recompute {
		return "ck."
	}
	return fmt.Sprintf("L%d.", li)
}

// dropSeed is the dropout seed of one (layer, module) in this micro-batch.
func (tc *trainCtx) dropSeed(li int, module string) uint64 {
	f := fnv.New64a()
	fmt.Fprintf(f, "%d/%d/%s", tc.seed, li, module)
	return f.Sum64()
}

func (tc *trainCtx) attnShape() backend.AttnShape {
	c := tc.m.Config
	return backend.AttnShape{Batch: tc.b.Rows, Q: tc.b.T, KV: tc.b.T, KVStride: tc.b.T,
		Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim()}
}

// layerActs are the activations layer li's backward pass reads.
type layerActs struct {
	xin, hn1, q, k, v, att, xmid, hn2, gate, up, act backend.Buffer
}

// acts returns layer li's activation slots.
func (tc *trainCtx) acts(li int) layerActs {
	c, rows, s, p := tc.m.Config, tc.rows, tc.slot, tc.names(li)
	h, kv, in := c.HiddenSize, c.KVDim(), c.IntermediateSize
	return layerActs{
		xin: s(fmt.Sprintf("L%d.xin", li), rows*h),
		hn1: s(p+"hn1", rows*h), q: s(p+"q", rows*h), k: s(p+"k", rows*kv), v: s(p+"v", rows*kv),
		att: s(p+"att", rows*h), xmid: s(p+"xmid", rows*h), hn2: s(p+"hn2", rows*h),
		gate: s(p+"gate", rows*in), up: s(p+"up", rows*in), act: s(p+"act", rows*in),
	}
}

// layerForward runs decoder layer li from its saved input into out,
// keeping what the backward pass needs.
func (tc *trainCtx) layerForward(li int, out backend.Buffer) {
	m, c, rows, s := tc.m, tc.m.Config, tc.rows, tc.slot
	h, kv, in, hd := c.HiddenSize, c.KVDim(), c.IntermediateSize, c.HeadDim()
	eps := float32(c.RMSNormEps)
	L := &m.Layers[li]
	a := tc.acts(li)
	xin, hn1, q, k, v, att, xmid, hn2, gate, up, act := a.xin, a.hn1, a.q, a.k, a.v, a.att, a.xmid, a.hn2, a.gate, a.up, a.act
	tmp := s("dtmp", rows*max(h, in, kv))

	m.B.RMSNorm(hn1, xin, L.InputNorm, rows, h, eps)
	tc.linear(q, hn1, &L.Q, li, "q_proj")
	tc.linear(k, hn1, &L.K, li, "k_proj")
	tc.linear(v, hn1, &L.V, li, "v_proj")
	m.B.RoPE(q, tc.pos, rows, c.NumAttentionHeads, hd, c.RopeTheta)
	m.B.RoPE(k, tc.pos, rows, c.NumKeyValueHeads, hd, c.RopeTheta)
	m.B.Attention(att, q, k, v, tc.b.AttentionMask, tc.attnShape())
	o := m.B.Slice(tmp, 0, rows*h)
	tc.linear(o, att, &L.O, li, "o_proj")
	m.B.Add(xmid, xin, o, rows*h)
	m.B.RMSNorm(hn2, xmid, L.PostNorm, rows, h, eps)
	tc.linear(gate, hn2, &L.Gate, li, "gate_proj")
	tc.linear(up, hn2, &L.Up, li, "up_proj")
	m.B.SiLUMul(act, gate, up, rows*in)
	d := m.B.Slice(tmp, 0, rows*h)
	tc.linear(d, act, &L.Down, li, "down_proj")
	m.B.Add(out, xmid, d, rows*h)
}

// linear is the training forward of one projection: out = x·Wᵀ + b +
// s·(dropout(x)·Aᵀ)·Bᵀ.
func (tc *trainCtx) linear(out, x backend.Buffer, l *Linear, li int, module string) {
	m, rows := tc.m, tc.rows
	m.B.Linear(out, x, m.weight(l), l.Bias, rows, l.In, l.Out)
	if l.LoRA == nil {
		return
	}
	xd := tc.dropped(x, l, li, module)
	t := tc.slot("lora_t", rows*l.LoRA.R)
	d := tc.slot("lora_d", rows*l.Out)
	m.B.Linear(t, xd, l.LoRA.A, nil, rows, l.In, l.LoRA.R)
	m.B.Linear(d, t, l.LoRA.B, nil, rows, l.LoRA.R, l.Out)
	m.B.AddScaled(out, d, l.LoRA.Scale, rows*l.Out)
}

// dropped returns dropout(x) for the LoRA branch of a projection (x itself
// without dropout), regenerating the same mask in the forward and backward
// passes from the (layer, module) seed.
func (tc *trainCtx) dropped(x backend.Buffer, l *Linear, li int, module string) backend.Buffer {
	if l.LoRA.Dropout == 0 || tc.eval {
		return x
	}
	n := tc.rows * l.In
	xd := tc.slot("lora_x", n)
	tc.m.B.Dropout(xd, x, l.LoRA.Dropout, tc.dropSeed(li, module), n)
	return xd
}

// linearBackward takes dy [rows, Out] of one projection with input x and
// accumulates its LoRA gradients. When dx is not nil it receives the input
// gradient (= or, with acc, +=).
func (tc *trainCtx) linearBackward(dx, dy, x backend.Buffer, l *Linear, li int, module string, acc bool) {
	m, rows := tc.m, tc.rows
	target := dx
	if dx != nil && acc {
		target = tc.slot("dtmp", rows*l.In)
	}
	if target != nil {
		m.B.LinearBackward(target, dy, m.weight(l), rows, l.In, l.Out)
	}
	if lr := l.LoRA; lr != nil && lr.GA != nil {
		xd := tc.dropped(x, l, li, module)
		t, u := tc.slot("lora_t", rows*lr.R), tc.slot("lora_u", rows*lr.R)
		m.B.Linear(t, xd, lr.A, nil, rows, l.In, lr.R)
		scaleInPlace(m.B, t, lr.Scale, rows*lr.R)
		m.B.LinearWeightGrad(lr.GB, dy, t, rows, lr.R, l.Out)
		m.B.LinearBackward(u, dy, lr.B, rows, lr.R, l.Out)
		scaleInPlace(m.B, u, lr.Scale, rows*lr.R)
		m.B.LinearWeightGrad(lr.GA, u, xd, rows, l.In, lr.R)
		if target != nil {
			dxl := tc.slot("lora_dx", rows*l.In)
			m.B.LinearBackward(dxl, u, lr.A, rows, l.In, lr.R)
			if lr.Dropout != 0 {
				m.B.Dropout(dxl, dxl, lr.Dropout, tc.dropSeed(li, module), rows*l.In)
			}
			m.B.AddScaled(target, dxl, 1, rows*l.In)
		}
	}
	if dx != nil && acc {
		m.B.Add(dx, dx, target, rows*l.In)
	}
}

// scaleInPlace computes x *= s with the backend's AddScaled: x += (s-1)·x.
// For s = 2^k this is exact; otherwise it rounds once more than x*s.
func scaleInPlace(b backend.Backend, x backend.Buffer, s float32, n int) {
	if s != 1 {
		b.AddScaled(x, x, s-1, n)
	}
}

// layerBackward turns dx, the gradient of layer li's output, into the
// gradient of its input (computed only when needInput), accumulating the
// layer's LoRA gradients.
func (tc *trainCtx) layerBackward(li int, dx backend.Buffer, needInput bool) {
	m, c, rows, s := tc.m, tc.m.Config, tc.rows, tc.slot
	h, kv, in, hd := c.HiddenSize, c.KVDim(), c.IntermediateSize, c.HeadDim()
	eps := float32(c.RMSNormEps)
	L := &m.Layers[li]
	a := tc.acts(li)
	xin, hn1, q, k, v, att, xmid, hn2, gate, up, act := a.xin, a.hn1, a.q, a.k, a.v, a.att, a.xmid, a.hn2, a.gate, a.up, a.act
	dhn, datt, dq, dk, dv := s("dhn", rows*h), s("datt", rows*h), s("dq", rows*h), s("dk", rows*kv), s("dv", rows*kv)
	dgate, dup := s("dgate", rows*in), s("dup", rows*in)

	// MLP: xout = xmid + down(silu(gate(hn2)) * up(hn2)).
	tc.linearBackward(dgate, dx, act, &L.Down, li, "down_proj", false)
	m.B.SiLUMulBackward(dgate, dup, dgate, gate, up, rows*in)
	tc.linearBackward(dhn, dgate, hn2, &L.Gate, li, "gate_proj", false)
	tc.linearBackward(dhn, dup, hn2, &L.Up, li, "up_proj", true)
	m.B.RMSNormBackward(dhn, dhn, xmid, L.PostNorm, rows, h, eps)
	m.B.Add(dx, dx, dhn, rows*h)

	// Attention: xmid = xin + o_proj(attention(rope(q), rope(k), v)).
	tc.linearBackward(datt, dx, att, &L.O, li, "o_proj", false)
	m.B.AttentionBackward(dq, dk, dv, datt, q, k, v, tc.b.AttentionMask, tc.attnShape())
	m.B.RoPEBackward(dq, tc.pos, rows, c.NumAttentionHeads, hd, c.RopeTheta)
	m.B.RoPEBackward(dk, tc.pos, rows, c.NumKeyValueHeads, hd, c.RopeTheta)
	var dh backend.Buffer
	if needInput {
		dh = dhn
	}
	tc.linearBackward(dh, dq, hn1, &L.Q, li, "q_proj", false)
	tc.linearBackward(dh, dk, hn1, &L.K, li, "k_proj", true)
	tc.linearBackward(dh, dv, hn1, &L.V, li, "v_proj", true)
	if needInput {
		m.B.RMSNormBackward(dhn, dhn, xin, L.InputNorm, rows, h, eps)
		m.B.Add(dx, dx, dhn, rows*h)
	}
}
