package qwen

import (
	"fmt"
	"hash/fnv"

	"github.com/tune-dev/tune/backend"
)

// KVCache holds every layer's keys and values for Batch rows of up to Len
// positions, laid out [Batch, Len, KVDim].
type KVCache struct {
	K, V       []backend.Buffer
	Batch, Len int
}

// NewKVCache allocates a cache for batch rows of maxLen positions, in the
// backend's activation dtype.
func (m *Model) NewKVCache(batch, maxLen int) *KVCache {
	c := &KVCache{Batch: batch, Len: maxLen}
	n := batch * maxLen * m.Config.KVDim()
	for range m.Layers {
		c.K = append(c.K, m.B.AllocActivation(n))
		c.V = append(c.V, m.B.AllocActivation(n))
	}
	return c
}

// FreeKVCache releases the cache's buffers.
func (m *Model) FreeKVCache(c *KVCache) {
	for i := range c.K {
		m.B.Free(c.K[i])
		m.B.Free(c.V[i])
	}
	c.K, c.V = nil, nil
}

// Step is one inference call: Batch rows of T new tokens each.
type Step struct {
	IDs, Pos []int32 // [Batch*T] token ids and RoPE position ids
	Batch, T int
	// Cache, when not nil, receives the new tokens' keys and values at
	// index Start onwards, and the new tokens attend to everything it
	// holds before them (generation). Without a cache the tokens attend
	// only to each other (Start must be 0).
	Cache *KVCache
	Start int
	// KeyMask has Batch*Cache.Len entries (Batch*T without a cache): 0
	// removes that key (padding); see backend.Forward.Attention for
	// segment ids. nil keeps every key.
	KeyMask []int32
	// LogitRows picks the rows (indices into Batch*T) that get logits;
	// nil means every row.
	LogitRows []int
	// Hook, when set, sees the residual stream after the embedding
	// ("hidden.embeddings"), after each layer ("hidden.layer.<i>") and
	// after the final norm ("hidden.final_norm", only when every row gets
	// logits), as the Hugging Face goldens name them.
	Hook func(name string, x backend.Buffer)
}

// Forward runs the decoder over s and returns the logits
// [len(LogitRows) or Batch*T, vocab]. The logits live in the model's
// activation arena: they are valid until the next pass.
func (m *Model) Forward(s Step) backend.Buffer {
	rows := s.Batch * s.T
	if len(s.IDs) != rows || len(s.Pos) != rows {
		panic(fmt.Sprintf("qwen: Forward with %d ids and %d positions for %d×%d tokens", len(s.IDs), len(s.Pos), s.Batch, s.T))
	}
	if c := s.Cache; (c == nil && s.Start != 0) || (c != nil && (c.Batch != s.Batch || s.Start+s.T > c.Len)) {
		panic(fmt.Sprintf("qwen: Forward of %d×%d tokens at %d does not fit the cache", s.Batch, s.T, s.Start))
	}
	var idx []int32
	headRows := rows
	if s.LogitRows != nil {
		headRows = len(s.LogitRows)
		idx = make([]int32, headRows)
		for i, r := range s.LogitRows {
			idx[i] = int32(r)
		}
	}
	p := m.newPass(s.Batch, s.T, s.Pos, s.KeyMask, Plan{HeadRows: headRows, Cache: s.Cache != nil})
	p.cache, p.start = s.Cache, s.Start
	x := p.forward(s.IDs, s.Hook)
	_, hn, logits := p.head(x, idx)
	if idx == nil && s.Hook != nil {
		s.Hook("hidden.final_norm", hn)
	}
	return logits
}

// pass is one run of the decoder over Batch rows of T new tokens: what
// every layer of it shares. Inference, evaluation and training all run
// the layers through it.
type pass struct {
	m    *Model
	b    backend.Backend
	plan Plan
	slot func(name string, n int) backend.Buffer

	batch, t, rows int
	pos            []int32 // RoPE position of every token
	mask           []int32 // attention key mask (nil: every key)
	cache          *KVCache
	start          int    // the new tokens' first index in the cache
	seed           uint64 // training: the micro-batch's LoRA dropout seed
}

// newPass lays out the arena for plan (completed with the pass's rows
// and the adapter) over batch rows of t tokens.
func (m *Model) newPass(batch, t int, pos, mask []int32, plan Plan) *pass {
	plan.Rows = batch * t
	plan.LoRARank = m.loraRank()
	plan.FusedLoRA = backend.Supports(m.B, backend.OpLoRALinear)
	return &pass{m: m, b: m.B, plan: plan, slot: m.arena(ActivationLayout(m.Config, plan)),
		batch: batch, t: t, rows: batch * t, pos: pos, mask: mask}
}

// layerActs are the buffers one decoder layer reads and writes. In
// inference several of them are the same buffer (see ActivationLayout).
type layerActs struct {
	xin, hn1, q, k, v, att, xmid, hn2, gate, up, act, out, tmp backend.Buffer
	kvLen                                                      int // keys per row of k and v
}

// acts returns layer li's buffers. In training the layer's output is the
// next layer's input ("xfinal" after the last layer).
func (p *pass) acts(li int) layerActs {
	c, rows, s := p.m.Config, p.rows, p.slot
	h, kv, in := c.HiddenSize, c.KVDim(), c.IntermediateSize
	if !p.plan.Train {
		x, hn, gate := s("x", rows*h), s("h", rows*h), s("gate", rows*in)
		a := layerActs{xin: x, hn1: hn, q: s("q", rows*h), att: s("attn", rows*h), xmid: x, hn2: hn,
			gate: gate, up: s("up", rows*in), act: gate, out: x, tmp: s("tmp", rows*h)}
		if p.cache != nil {
			a.k, a.v, a.kvLen = p.cache.K[li], p.cache.V[li], p.cache.Len
		} else {
			a.k, a.v, a.kvLen = s("k", rows*kv), s("v", rows*kv), p.t
		}
		return a
	}
	pre := fmt.Sprintf("L%d.", li)
	if p.plan.Recompute {
		pre = "ck."
	}
	out := "xfinal"
	if li+1 < c.NumHiddenLayers {
		out = fmt.Sprintf("L%d.xin", li+1)
	}
	return layerActs{
		xin: s(fmt.Sprintf("L%d.xin", li), rows*h), out: s(out, rows*h), tmp: s("tmp", rows*max(h, in, kv)),
		hn1: s(pre+"hn1", rows*h), q: s(pre+"q", rows*h), k: s(pre+"k", rows*kv), v: s(pre+"v", rows*kv),
		att: s(pre+"att", rows*h), xmid: s(pre+"xmid", rows*h), hn2: s(pre+"hn2", rows*h),
		gate: s(pre+"gate", rows*in), up: s(pre+"up", rows*in), act: s(pre+"act", rows*in), kvLen: p.t,
	}
}

// layerForward runs decoder layer li, the one definition of the Qwen2
// decoder layer:
//
//	hn1 = rmsnorm(xin); q, k, v = rope(hn1·Wqᵀ+bq), rope(hn1·Wkᵀ+bk), hn1·Wvᵀ+bv
//	xmid = xin + o_proj(attention(q, k, v))
//	hn2 = rmsnorm(xmid); out = xmid + down(silu(gate(hn2)) * up(hn2))
func (p *pass) layerForward(li int, a layerActs) {
	b, c, rows := p.b, p.m.Config, p.rows
	h, in := c.HiddenSize, c.IntermediateSize
	eps := float32(c.RMSNormEps)
	L := &p.m.Layers[li]

	b.RMSNorm(a.hn1, a.xin, L.InputNorm, rows, h, eps)
	p.proj(a.q, a.hn1, &L.Q, rows, li, "q_proj")
	b.RoPE(a.q, p.pos, rows, c.NumAttentionHeads, c.HeadDim(), c.RopeTheta)
	p.keysValues(li, a)
	b.Attention(a.att, a.q, a.k, a.v, p.mask, p.attnShape(a.kvLen))
	o := b.Slice(a.tmp, 0, rows*h)
	p.proj(o, a.att, &L.O, rows, li, "o_proj")
	b.Add(a.xmid, a.xin, o, rows*h)

	b.RMSNorm(a.hn2, a.xmid, L.PostNorm, rows, h, eps)
	p.proj(a.gate, a.hn2, &L.Gate, rows, li, "gate_proj")
	p.proj(a.up, a.hn2, &L.Up, rows, li, "up_proj")
	b.SiLUMul(a.act, a.gate, a.up, rows*in)
	p.proj(o, a.act, &L.Down, rows, li, "down_proj")
	b.Add(a.out, a.xmid, o, rows*h)
}

// keysValues writes the new tokens' keys (rotated) and values into a.k and
// a.v, at positions start.. of each row.
func (p *pass) keysValues(li int, a layerActs) {
	b, c := p.b, p.m.Config
	L := &p.m.Layers[li]
	if a.kvLen == p.t { // the keys are exactly the new tokens': one call each
		p.proj(a.k, a.hn1, &L.K, p.rows, li, "k_proj")
		p.proj(a.v, a.hn1, &L.V, p.rows, li, "v_proj")
		b.RoPE(a.k, p.pos, p.rows, c.NumKeyValueHeads, c.HeadDim(), c.RopeTheta)
		return
	}
	h, kvd := c.HiddenSize, c.KVDim()
	for r := 0; r < p.batch; r++ {
		hb := b.Slice(a.hn1, r*p.t*h, p.t*h)
		at := (r*a.kvLen + p.start) * kvd
		kb, vb := b.Slice(a.k, at, p.t*kvd), b.Slice(a.v, at, p.t*kvd)
		p.proj(kb, hb, &L.K, p.t, li, "k_proj")
		p.proj(vb, hb, &L.V, p.t, li, "v_proj")
		b.RoPE(kb, p.pos[r*p.t:(r+1)*p.t], p.t, c.NumKeyValueHeads, c.HeadDim(), c.RopeTheta)
	}
}

func (p *pass) attnShape(kvLen int) backend.AttnShape {
	c := p.m.Config
	return backend.AttnShape{Batch: p.batch, Q: p.t, KV: p.start + p.t, KVStride: kvLen,
		Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim(), QStart: p.start}
}

// proj computes out = x·Wᵀ + b for rows rows of projection l (module of
// layer li), plus s·(dropout(x)·Aᵀ)·Bᵀ when it is adapted, through
// backend.LoRALinearForward (the backend's fused op when it has one).
func (p *pass) proj(out, x backend.Buffer, l *Linear, rows, li int, module string) {
	if l.LoRA == nil {
		p.b.Linear(out, x, p.m.weight(l), l.Bias, rows, l.In, l.Out)
		return
	}
	s, sc := p.lora(l, rows, li, module)
	backend.LoRALinearForward(p.b, out, x, l.frozen(), l.Bias, l.LoRA.A, l.LoRA.B, s, sc)
}

// lora returns the shape of adapted projection l over rows rows, with the
// dropout of training, and the scratch of its composition.
func (p *pass) lora(l *Linear, rows, li int, module string) (backend.LoRAShape, backend.LoRAScratch) {
	s := backend.LoRAShape{Rows: rows, In: l.In, Out: l.Out, Rank: l.LoRA.R, Scale: l.LoRA.Scale}
	if p.plan.Train && l.LoRA.Dropout != 0 {
		s.Dropout, s.DropoutSeed = l.LoRA.Dropout, p.dropSeed(li, module)
	}
	var sc backend.LoRAScratch
	if !p.plan.FusedLoRA {
		sc.Rank1, sc.Rank2 = p.slot("lora_r1", rows*l.LoRA.R), p.slot("lora_r2", rows*l.LoRA.R)
		sc.Wide = p.slot("lora_wide", rows*max(l.In, l.Out))
	}
	if l.Q != nil {
		sc.Deq = p.m.deq
	}
	return s, sc
}

// dropSeed is the LoRA dropout seed of one (layer, module) in this
// micro-batch, used by its forward and backward pass alike.
func (p *pass) dropSeed(li int, module string) uint64 {
	f := fnv.New64a()
	fmt.Fprintf(f, "%d/%d/%s", p.seed, li, module)
	return f.Sum64()
}

// forward embeds ids and runs every layer, returning the residual stream
// after the last one: in place in inference and evaluation, keeping what
// the backward pass needs in training.
func (p *pass) forward(ids []int32, hook func(string, backend.Buffer)) backend.Buffer {
	x := p.acts(0).xin
	p.b.Embedding(x, p.m.Embed, ids, p.m.Config.HiddenSize)
	if hook != nil {
		hook("hidden.embeddings", x)
	}
	for li := range p.m.Layers {
		a := p.acts(li)
		p.layerForward(li, a)
		if x = a.out; hook != nil {
			hook(fmt.Sprintf("hidden.layer.%d", li), x)
		}
	}
	return x
}

// head runs the final norm and the LM head on rows idx of the residual
// stream x (every row when idx is nil): xs holds those rows of x, hn their
// final norm and logits [len(idx), vocab] the LM head's output, all in the
// arena.
func (p *pass) head(x backend.Buffer, idx []int32) (xs, hn, logits backend.Buffer) {
	c := p.m.Config
	h := c.HiddenSize
	n, xs := p.rows, x
	if idx != nil {
		n = len(idx)
		xs = p.slot("lm_x", n*h)
		p.b.Embedding(xs, x, idx, h) // gathers rows idx of x
	}
	hn = p.slot("lm_h", n*h)
	p.b.RMSNorm(hn, xs, p.m.Norm, n, h, float32(c.RMSNormEps))
	logits = p.slot("logits", n*c.VocabSize)
	p.b.Linear(logits, hn, p.m.LMHead, nil, n, h, c.VocabSize)
	return xs, hn, logits
}

// CheckIDs reports the first token id outside the vocabulary.
func (c *Config) CheckIDs(ids []int32) error {
	for i, id := range ids {
		if id < 0 || int(id) >= c.VocabSize {
			return fmt.Errorf("token id %d at position %d is outside the vocabulary [0, %d)", id, i, c.VocabSize)
		}
	}
	return nil
}
