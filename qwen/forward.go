package qwen

import (
	"fmt"

	"github.com/tune-dev/tune/backend"
)

// KVCache holds every layer's keys and values for Batch rows of up to Len
// positions, laid out [Batch, Len, KVDim].
type KVCache struct {
	K, V       []backend.Buffer
	Batch, Len int
}

// NewKVCache allocates a cache for batch rows of maxLen positions.
func (m *Model) NewKVCache(batch, maxLen int) *KVCache {
	c := &KVCache{Batch: batch, Len: maxLen}
	n := batch * maxLen * m.Config.KVDim()
	for range m.Layers {
		c.K = append(c.K, m.B.Alloc(n))
		c.V = append(c.V, m.B.Alloc(n))
	}
	return c
}

// Free releases the cache's buffers.
func (m *Model) FreeKVCache(c *KVCache) {
	for i := range c.K {
		m.B.Free(c.K[i])
		m.B.Free(c.V[i])
	}
	c.K, c.V = nil, nil
}

// Step is one forward call: Batch rows of T new tokens each, written into
// the cache at index Start onwards.
type Step struct {
	IDs, Pos []int32 // [Batch*T] token ids and RoPE position ids
	Batch, T int
	Start    int
	// KeyMask has Batch*Cache.Len entries: 0 removes that key (padding).
	// nil keeps every key.
	KeyMask []int32
	Cache   *KVCache
	// LogitRows picks the rows (indices into Batch*T) that get logits;
	// nil means every row.
	LogitRows []int
	// Hook, when set, sees the residual stream after the embedding
	// ("hidden.embeddings"), after each layer ("hidden.layer.<i>") and
	// after the final norm ("hidden.final_norm", only when every row gets
	// logits), as the Hugging Face goldens name them.
	Hook func(name string, x backend.Buffer)
}

// arena returns the activation arena for a layout, growing it as needed.
func (m *Model) arena(l Layout) func(name string, n int) backend.Buffer {
	if m.act == nil || m.act.Len() < l.Total {
		if m.act != nil {
			m.B.Free(m.act)
		}
		m.act = m.B.Alloc(l.Total)
	}
	return func(name string, n int) backend.Buffer {
		s := l.Slot(name)
		if n > s.Elems {
			panic(fmt.Sprintf("qwen: slot %s holds %d elements, asked for %d", name, s.Elems, n))
		}
		return m.B.Slice(m.act, s.Off, n)
	}
}

// Forward runs the decoder over s and returns the logits
// [len(LogitRows) or Batch*T, vocab]. The logits live in the model's
// activation arena: they are valid until the next Forward.
func (m *Model) Forward(s Step) backend.Buffer {
	c := m.Config
	rows := s.Batch * s.T
	if len(s.IDs) != rows || len(s.Pos) != rows {
		panic(fmt.Sprintf("qwen: Forward with %d ids and %d positions for %d×%d tokens", len(s.IDs), len(s.Pos), s.Batch, s.T))
	}
	if s.Cache == nil || s.Cache.Batch != s.Batch || s.Start+s.T > s.Cache.Len {
		panic(fmt.Sprintf("qwen: Forward of %d×%d tokens at %d does not fit the cache", s.Batch, s.T, s.Start))
	}
	logitRows := len(s.LogitRows)
	if s.LogitRows == nil {
		logitRows = rows
	}
	h, hd, kvd, inter := c.HiddenSize, c.HeadDim(), c.KVDim(), c.IntermediateSize
	slot := m.arena(ActivationLayout(c, rows, logitRows, m.loraRank()))
	x, hn, q, att, o := slot("x", rows*h), slot("h", rows*h), slot("q", rows*h), slot("attn", rows*h), slot("o", rows*h)
	gate, up := slot("gate", rows*inter), slot("up", rows*inter)
	eps := float32(c.RMSNormEps)

	m.B.Embedding(x, m.Embed, s.IDs, h)
	hook(s, "hidden.embeddings", x)
	for li := range m.Layers {
		L := &m.Layers[li]
		m.B.RMSNorm(hn, x, L.InputNorm, rows, h, eps)
		m.linear(q, hn, &L.Q, rows, slot)
		m.B.RoPE(q, s.Pos, rows, c.NumAttentionHeads, hd, c.RopeTheta)
		for b := 0; b < s.Batch; b++ {
			hb := m.B.Slice(hn, b*s.T*h, s.T*h)
			at := (b*s.Cache.Len + s.Start) * kvd
			kb := m.B.Slice(s.Cache.K[li], at, s.T*kvd)
			vb := m.B.Slice(s.Cache.V[li], at, s.T*kvd)
			m.linear(kb, hb, &L.K, s.T, slot)
			m.linear(vb, hb, &L.V, s.T, slot)
			m.B.RoPE(kb, s.Pos[b*s.T:(b+1)*s.T], s.T, c.NumKeyValueHeads, hd, c.RopeTheta)
		}
		m.B.Attention(att, q, s.Cache.K[li], s.Cache.V[li], s.KeyMask, backend.AttnShape{
			Batch: s.Batch, Q: s.T, KV: s.Start + s.T, KVStride: s.Cache.Len,
			Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: hd, QStart: s.Start,
		})
		m.linear(o, att, &L.O, rows, slot)
		m.B.Add(x, x, o, rows*h)

		m.B.RMSNorm(hn, x, L.PostNorm, rows, h, eps)
		m.linear(gate, hn, &L.Gate, rows, slot)
		m.linear(up, hn, &L.Up, rows, slot)
		m.B.SiLUMul(gate, gate, up, rows*inter)
		m.linear(o, gate, &L.Down, rows, slot)
		m.B.Add(x, x, o, rows*h)
		hook(s, fmt.Sprintf("hidden.layer.%d", li), x)
	}

	last := slot("last", logitRows*h)
	if s.LogitRows == nil {
		m.B.RMSNorm(last, x, m.Norm, rows, h, eps)
		hook(s, "hidden.final_norm", last)
	} else {
		for i, r := range s.LogitRows {
			m.B.RMSNorm(m.B.Slice(last, i*h, h), m.B.Slice(x, r*h, h), m.Norm, 1, h, eps)
		}
	}
	logits := slot("logits", logitRows*c.VocabSize)
	m.B.Linear(logits, last, m.LMHead, nil, logitRows, h, c.VocabSize)
	return logits
}

func hook(s Step, name string, x backend.Buffer) {
	if s.Hook != nil {
		s.Hook(name, x)
	}
}

// linear computes out = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ for rows rows.
func (m *Model) linear(out, x backend.Buffer, l *Linear, rows int, slot func(string, int) backend.Buffer) {
	m.B.Linear(out, x, m.weight(l), l.Bias, rows, l.In, l.Out)
	if l.LoRA == nil {
		return
	}
	t := slot("lora_t", rows*l.LoRA.R)
	d := slot("lora_d", rows*l.Out)
	m.B.Linear(t, x, l.LoRA.A, nil, rows, l.In, l.LoRA.R)
	m.B.Linear(d, t, l.LoRA.B, nil, rows, l.LoRA.R, l.Out)
	m.B.AddScaled(out, d, l.LoRA.Scale, rows*l.Out)
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
