package decoder

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
		c.K = append(c.K, m.Backend.AllocActivation(n))
		c.V = append(c.V, m.Backend.AllocActivation(n))
	}
	return c
}

// FreeKVCache releases the cache's buffers.
func (m *Model) FreeKVCache(c *KVCache) {
	for i := range c.K {
		m.Backend.Free(c.K[i])
		m.Backend.Free(c.V[i])
	}
	c.K, c.V = nil, nil
}

// Input is one inference call: Batch rows of T new tokens each.
type Input struct {
	IDs, Pos []int32 // [Batch*T] token ids and RoPE position ids
	Batch, T int
	// Cache, when not nil, holds the keys and values of generation: row
	// r's new tokens go to cache slot Slots[r] at positions Starts[r]
	// onwards and attend to everything that slot holds before them, so
	// rows of different lengths decode together and a sequence can join
	// or leave a running batch between steps. Without a cache the tokens
	// attend only to each other (Slots and Starts must be nil).
	Cache         *KVCache
	Slots, Starts []int
	// KeyMask, only without a cache, has Batch*T entries: 0 removes that
	// key (padding); see backend.Forward.Attention for segment ids. nil
	// keeps every key.
	KeyMask []int32
	// Adapters, when not nil, gives row r the adapter Adapters[r] in place
	// of the model's active one (nil keeps the active one), so rows of one
	// batch use different adapters. Consecutive rows with the same adapter
	// share each projection's call.
	Adapters []*DeviceAdapter
	// LogitRows picks the rows (indices into Batch*T) that get logits;
	// nil means every row.
	LogitRows []int
	// Hook, when set, sees the residual stream after the embedding
	// ("hidden.embeddings"), after each layer ("hidden.layer.<i>") and
	// after the final norm ("hidden.final_norm", only when every row gets
	// logits), as the Hugging Face goldens name them.
	Hook func(name string, x backend.Buffer)
}

// check panics, naming the sizes, when s is inconsistent.
func (s *Input) check() {
	rows := s.Batch * s.T
	if len(s.IDs) != rows || len(s.Pos) != rows {
		panic(fmt.Sprintf("decoder: Forward with %d ids and %d positions for %d×%d tokens", len(s.IDs), len(s.Pos), s.Batch, s.T))
	}
	if s.Adapters != nil && len(s.Adapters) != s.Batch {
		panic(fmt.Sprintf("decoder: Forward with %d adapters for %d rows", len(s.Adapters), s.Batch))
	}
	c := s.Cache
	if c == nil {
		if s.Slots != nil || s.Starts != nil {
			panic("decoder: Forward with cache slots but no cache")
		}
		return
	}
	if len(s.Slots) != s.Batch || len(s.Starts) != s.Batch || s.KeyMask != nil {
		panic(fmt.Sprintf("decoder: Forward with a cache needs one slot and start per row (%d rows, %d slots, %d starts) and no key mask", s.Batch, len(s.Slots), len(s.Starts)))
	}
	used := map[int]bool{}
	for r, slot := range s.Slots {
		if slot < 0 || slot >= c.Batch || used[slot] || s.Starts[r] < 0 || s.Starts[r]+s.T > c.Len {
			panic(fmt.Sprintf("decoder: Forward row %d: %d tokens at %d of slot %d do not fit a cache of %d slots × %d positions (or the slot repeats)", r, s.T, s.Starts[r], slot, c.Batch, c.Len))
		}
		used[slot] = true
	}
}

// Forward runs the decoder over s and returns the logits
// [len(LogitRows) or Batch*T, vocab]. The logits live in the model's
// activation arena: they are valid until the next pass.
func (m *Model) Forward(s Input) backend.Buffer {
	s.check()
	var idx []int32
	headRows := s.Batch * s.T
	if s.LogitRows != nil {
		headRows = len(s.LogitRows)
		idx = make([]int32, headRows)
		for i, r := range s.LogitRows {
			idx[i] = int32(r)
		}
	}
	p := m.newPass(s.Batch, s.T, s.Pos, s.KeyMask, s.Adapters, Plan{HeadRows: headRows})
	p.cache, p.slots, p.starts = s.Cache, s.Slots, s.Starts
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
	slots, starts  []int        // each row's cache slot and first new position
	runs           []adapterRun // rows by adapter (nil: the model's active adapter for all)
	seed           uint64       // training: the micro-batch's LoRA dropout seed
}

// adapterRun is rows [lo, hi) of a pass, which use adapter d (nil: the
// base model).
type adapterRun struct {
	lo, hi int
	d      *DeviceAdapter
}

// newPass lays out the arena for plan (completed with the pass's rows
// and the adapters) over batch rows of t tokens; adapters, when not nil,
// gives each row its adapter (see Input.Adapters).
func (m *Model) newPass(batch, t int, pos, mask []int32, adapters []*DeviceAdapter, plan Plan) *pass {
	plan.Rows = batch * t
	plan.LoRARank = m.loraRank(adapters)
	plan.FusedLoRA = backend.Supports(m.Backend, backend.OpLoRALinear)
	p := &pass{m: m, b: m.Backend, plan: plan, slot: m.arena(ActivationLayout(m.Config, plan)),
		batch: batch, t: t, rows: batch * t, pos: pos, mask: mask}
	for r, d := range adapters {
		if n := len(p.runs); n > 0 && p.runs[n-1].d == d {
			p.runs[n-1].hi = r + 1
		} else {
			p.runs = append(p.runs, adapterRun{lo: r, hi: r + 1, d: d})
		}
	}
	return p
}

// layerActs are the buffers one decoder layer reads and writes. In
// inference several of them are the same buffer (see ActivationLayout).
type layerActs struct {
	xin, hn1, q, k, v, att, xmid, hn2, gate, up, act, out, blockOut backend.Buffer
	lse                                                             backend.Buffer // the attention's log-sum-exp (float32; nil in inference)
}

// acts returns layer li's buffers. In training the layer's output is the
// next layer's input ("xfinal" after the last layer).
func (p *pass) acts(li int) layerActs {
	c, rows, s := p.m.Config, p.rows, p.slot
	h, kv, in := c.HiddenSize, c.KVDim(), c.IntermediateSize
	if !p.plan.Train {
		x, hn, gate := s("x", rows*h), s("h", rows*h), s("gate", rows*in)
		return layerActs{xin: x, hn1: hn, q: s("q", rows*h), k: s("k", rows*kv), v: s("v", rows*kv), att: s("attn", rows*h),
			xmid: x, hn2: hn, gate: gate, up: s("up", rows*in), act: gate, out: x, blockOut: s("blockout", rows*h)}
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
		xin: s(fmt.Sprintf("L%d.xin", li), rows*h), out: s(out, rows*h), blockOut: s("blockout", rows*h),
		hn1: s(pre+"hn1", rows*h), q: s(pre+"q", rows*h), k: s(pre+"k", rows*kv), v: s(pre+"v", rows*kv),
		att: s(pre+"att", rows*h), xmid: s(pre+"xmid", rows*h), hn2: s(pre+"hn2", rows*h),
		gate: s(pre+"gate", rows*in), up: s(pre+"up", rows*in), act: s(pre+"act", rows*in),
		lse: s(pre+"lse", rows*c.NumAttentionHeads),
	}
}

// layerForward runs decoder layer li, the one definition of the decoder
// layer of every family (the q, k and v biases only where the family has
// them):
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
	p.proj(a.q, a.hn1, &L.Q, li, "q_proj")
	b.RoPE(a.q, p.pos, rows, c.NumAttentionHeads, p.m.invFreq)
	p.proj(a.k, a.hn1, &L.K, li, "k_proj")
	p.proj(a.v, a.hn1, &L.V, li, "v_proj")
	b.RoPE(a.k, p.pos, rows, c.NumKeyValueHeads, p.m.invFreq)
	p.attention(li, a)
	o := a.blockOut
	p.proj(o, a.att, &L.O, li, "o_proj")
	backend.AddRMSNorm(b, a.xmid, a.hn2, a.xin, o, L.PostNorm, rows, h, eps)

	p.proj(a.gate, a.hn2, &L.Gate, li, "gate_proj")
	p.proj(a.up, a.hn2, &L.Up, li, "up_proj")
	b.SiLUMul(a.act, a.gate, a.up, rows*in)
	p.proj(o, a.act, &L.Down, li, "down_proj")
	b.Add(a.out, a.xmid, o, rows*h)
}

// attention writes a.att from a.q and the keys and values: a.k and a.v
// alone without a cache; with one, each row's new keys and values are
// first copied to its cache slot after what the slot holds, and the row
// attends to the whole slot up to its own positions. Rows of a cached
// pass are attended one at a time since each has its own length.
func (p *pass) attention(li int, a layerActs) {
	b, c := p.b, p.m.Config
	if p.cache == nil {
		b.Attention(a.att, a.lse, a.q, a.k, a.v, p.mask, p.attnShape())
		return
	}
	h, kvd := c.HiddenSize, c.KVDim()
	slotLen := p.cache.Len * kvd
	// The same ids 0..t-1 for every row and layer, gathering from the
	// row's own keys, so a backend that keeps its index arguments on a
	// device uploads them once per pass.
	ids := make([]int32, p.t)
	for i := range ids {
		ids[i] = int32(i)
	}
	for r := 0; r < p.batch; r++ {
		k := b.Slice(p.cache.K[li], p.slots[r]*slotLen, slotLen)
		v := b.Slice(p.cache.V[li], p.slots[r]*slotLen, slotLen)
		at, rk := p.starts[r]*kvd, r*p.t*kvd
		b.Embedding(b.Slice(k, at, p.t*kvd), b.Slice(a.k, rk, p.t*kvd), ids, kvd) // copies the row's keys into its slot
		b.Embedding(b.Slice(v, at, p.t*kvd), b.Slice(a.v, rk, p.t*kvd), ids, kvd)
		s := backend.AttnShape{Batch: 1, Q: p.t, KV: p.starts[r] + p.t, KVStride: p.cache.Len,
			Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim(), QStart: p.starts[r]}
		b.Attention(b.Slice(a.att, r*p.t*h, p.t*h), nil, b.Slice(a.q, r*p.t*h, p.t*h), k, v, nil, s)
	}
}

// attnShape is the attention of a pass without a cache: every row's
// tokens attend to each other.
func (p *pass) attnShape() backend.AttnShape {
	c := p.m.Config
	return backend.AttnShape{Batch: p.batch, Q: p.t, KV: p.t, KVStride: p.t,
		Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim()}
}

// proj computes out = x·Wᵀ + b over every row of projection l (module of
// layer li), plus s·(dropout(x)·Aᵀ)·Bᵀ where it is adapted: with the
// model's active adapter, or run by run with each row's own (see
// Input.Adapters).
func (p *pass) proj(out, x backend.Buffer, l *Linear, li int, module string) {
	if p.runs == nil {
		p.projRows(out, x, l, l.LoRA, p.rows, li, module)
		return
	}
	for _, run := range p.runs {
		lr := l.LoRA
		if run.d != nil {
			lr = run.d.linear(li, module)
		}
		lo, n := run.lo*p.t, (run.hi-run.lo)*p.t
		p.projRows(p.b.Slice(out, lo*l.Out, n*l.Out), p.b.Slice(x, lo*l.In, n*l.In), l, lr, n, li, module)
	}
}

// projRows computes rows rows of projection l with the LoRA pair lr (nil:
// none), through backend.LoRALinearForward (the backend's fused op when it
// has one).
func (p *pass) projRows(out, x backend.Buffer, l *Linear, lr *DevicePair, rows, li int, module string) {
	if lr == nil {
		p.b.Linear(out, x, p.m.weight(l), l.Bias, rows, l.In, l.Out)
		return
	}
	s, sc := p.lora(l, lr, rows, li, module)
	backend.LoRALinearForward(p.b, out, x, l.frozen(), l.Bias, lr.A, lr.B, s, sc)
}

// lora returns the shape of projection l adapted by lr over rows rows,
// with the dropout of training, and the scratch of its composition.
func (p *pass) lora(l *Linear, lr *DevicePair, rows, li int, module string) (backend.LoRAShape, backend.LoRAScratch) {
	s := backend.LoRAShape{Rows: rows, In: l.In, Out: l.Out, Rank: lr.R, Scale: lr.Scale}
	if p.plan.Train && lr.Dropout != 0 {
		s.Dropout, s.DropoutSeed = lr.Dropout, p.dropSeed(li, module)
	}
	var sc backend.LoRAScratch
	if !p.plan.FusedLoRA {
		sc.Rank1, sc.Rank2 = p.slot("lora_r1", rows*lr.R), p.slot("lora_r2", rows*lr.R)
		sc.Wide = p.slot("lora_wide", rows*max(l.In, l.Out))
	}
	if l.Q != nil && !p.plan.FusedLoRA {
		sc.Deq = p.m.dequantRoom()
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
