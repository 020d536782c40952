package decoder

import (
	"fmt"

	"github.com/tune-dev/tune/backend"
)

// Slot is one named region of an arena, in elements.
type Slot struct {
	Name       string
	Off, Elems int
	// Float32 places the slot in the float32 arena (Alloc) rather than
	// the activation arena (AllocActivation), for what must not be
	// rounded to a narrower activation dtype.
	Float32 bool
}

// Layout places named regions one after another in a single arena, and
// the few float32 ones in a second. The same table sizes the arenas on
// every backend, so the CPU and an accelerator agree on what a pass holds.
type Layout struct {
	Slots []Slot
	// Total is the activation arena's size, Total32 the float32 arena's,
	// in elements.
	Total, Total32 int
}

func (l *Layout) add(name string, elems int) {
	l.Slots = append(l.Slots, Slot{Name: name, Off: l.Total, Elems: elems})
	l.Total += elems
}

func (l *Layout) add32(name string, elems int) {
	l.Slots = append(l.Slots, Slot{Name: name, Off: l.Total32, Elems: elems, Float32: true})
	l.Total32 += elems
}

// Slot returns the region called name; an unknown name is a programmer
// error.
func (l *Layout) Slot(name string) Slot {
	for _, s := range l.Slots {
		if s.Name == name {
			return s
		}
	}
	panic("decoder: layout has no slot " + name)
}

// Plan says what one pass over the decoder holds.
type Plan struct {
	// Rows is the number of tokens the pass runs (Batch·T).
	Rows int
	// HeadRows is the number of rows the LM head computes logits for at
	// once: the rows that get logits in inference, a chunk of the scored
	// rows when computing the loss.
	HeadRows int
	// LoRARank is the largest rank of the adapter (0 without one).
	// FusedLoRA says the backend fuses the LoRA linear layer, so its
	// composition needs no scratch.
	LoRARank  int
	FusedLoRA bool
	// Train keeps what the backward pass needs and room for the
	// gradients: every layer's activations, or with Recompute only every
	// layer's input and one set of activations recomputed layer by layer.
	Train, Recompute bool
}

// ActivationLayout is the one table of the activation arena of every pass:
// inference, evaluation and training.
//
// Inference and evaluation keep nothing for a backward pass: the residual
// stream x is updated in place, and one set of buffers serves every layer
// (h is the input of both norms' blocks, gate also holds silu(gate)·up,
// and blockout each block's output before the residual add). Training keeps
// each layer's input "L<i>.xin" and the activations of its backward pass,
// "L<i>.<name>" for every layer or, with recomputation, one set "ck.<name>",
// among them the attention's log-sum-exp "lse" [Batch, Heads, T] in the
// float32 arena; blockout serves its forward pass, and dterm holds, in the
// backward pass, one projection's input gradient before it is added to the
// others'.
func ActivationLayout(c *Config, p Plan) Layout {
	var l Layout
	rows := p.Rows
	h, kv, in := c.HiddenSize, c.KVDim(), c.IntermediateSize
	wide := max(h, in, kv)
	if !p.Train {
		l.add("x", rows*h)
		l.add("h", rows*h)
		l.add("q", rows*h)
		l.add("k", rows*kv) // copied to a KVCache's slots in generation
		l.add("v", rows*kv)
		l.add("attn", rows*h)
		l.add("blockout", rows*h)
		l.add("gate", rows*in)
		l.add("up", rows*in)
	} else {
		saved := func(prefix string) {
			for _, s := range []struct {
				name  string
				elems int
			}{{"hn1", h}, {"q", h}, {"k", kv}, {"v", kv}, {"att", h}, {"xmid", h}, {"hn2", h}, {"gate", in}, {"up", in}, {"act", in}} {
				l.add(prefix+s.name, rows*s.elems)
			}
			l.add32(prefix+"lse", rows*c.NumAttentionHeads)
		}
		for i := 0; i < c.NumHiddenLayers; i++ {
			l.add(fmt.Sprintf("L%d.xin", i), rows*h)
			if !p.Recompute {
				saved(fmt.Sprintf("L%d.", i))
			}
		}
		if p.Recompute {
			saved("ck.")
		}
		l.add("xfinal", rows*h)
		l.add("blockout", rows*h)
		l.add("dterm", rows*h) // the projections whose input gradients are summed (k, v, up) all take the hidden state
		for _, s := range []struct {
			name  string
			elems int
		}{{"dx", h}, {"dhn", h}, {"datt", h}, {"dq", h}, {"dk", kv}, {"dv", kv}, {"dgate", in}, {"dup", in}} {
			l.add(s.name, rows*s.elems)
		}
		l.add("lm_dx", p.HeadRows*h)
	}
	l.add("lm_x", p.HeadRows*h) // the rows that get logits
	l.add("lm_h", p.HeadRows*h) // their final norm
	l.add("logits", p.HeadRows*c.VocabSize)
	if p.LoRARank > 0 && !p.FusedLoRA {
		// backend.LoRAScratch of the LoRA linear composition.
		l.add("lora_r1", rows*p.LoRARank)
		l.add("lora_r2", rows*p.LoRARank)
		l.add("lora_wide", rows*wide)
	}
	return l
}

// chunkLogits is the most logits a loss computes at once: 16M, 64 MiB in
// float32.
var chunkLogits = 16 << 20

// lossChunk is the number of scored rows whose logits a loss computes at
// once: at most chunkLogits logits, at least one row, a multiple of four
// rows when that many fit (the CPU's matrix tiles are four rows high).
func lossChunk(rows, vocab int) int {
	n := min(rows, chunkLogits/vocab)
	if n >= 4 {
		n &^= 3
	}
	return max(1, n)
}

// arena returns the slots of layout l in the model's activation arena
// (from AllocActivation) and float32 arena (from Alloc), growing them as
// needed.
func (m *Model) arena(l Layout) func(name string, n int) backend.Buffer {
	if m.act == nil || m.act.Len() < l.Total {
		if m.act != nil {
			m.Backend.Free(m.act)
		}
		m.act = m.Backend.AllocActivation(l.Total)
	}
	if l.Total32 > 0 && (m.act32 == nil || m.act32.Len() < l.Total32) {
		if m.act32 != nil {
			m.Backend.Free(m.act32)
		}
		m.act32 = m.Backend.Alloc(l.Total32)
	}
	return func(name string, n int) backend.Buffer {
		s := l.Slot(name)
		if n > s.Elems {
			panic(fmt.Sprintf("decoder: slot %s holds %d elements, asked for %d", name, s.Elems, n))
		}
		if s.Float32 {
			return m.Backend.Slice(m.act32, s.Off, n)
		}
		return m.Backend.Slice(m.act, s.Off, n)
	}
}
