package qwen

// Slot is one named region of an arena, in elements.
type Slot struct {
	Name       string
	Off, Elems int
}

// Layout places named regions one after another in a single arena. The
// same table sizes the arena on every backend, so the CPU and an
// accelerator agree on what a forward pass holds.
type Layout struct {
	Slots []Slot
	Total int
}

func (l *Layout) add(name string, elems int) {
	l.Slots = append(l.Slots, Slot{Name: name, Off: l.Total, Elems: elems})
	l.Total += elems
}

// Slot returns the region called name; an unknown name is a programmer
// error.
func (l *Layout) Slot(name string) Slot {
	for _, s := range l.Slots {
		if s.Name == name {
			return s
		}
	}
	panic("qwen: layout has no slot " + name)
}

// ActivationLayout is the activation arena of one forward pass over rows
// tokens whose logits are computed for logitRows of them, with LoRA rank
// loraR (0 without an adapter). Buffers are reused from layer to layer:
// only the residual stream lives across layers.
func ActivationLayout(c *Config, rows, logitRows, loraR int) Layout {
	var l Layout
	h, kv, in := c.HiddenSize, c.KVDim(), c.IntermediateSize
	l.add("x", rows*h)     // residual stream
	l.add("h", rows*h)     // normed input of the current block
	l.add("q", rows*h)     // queries
	l.add("attn", rows*h)  // attention output
	l.add("o", rows*h)     // o_proj / down_proj output
	l.add("gate", rows*in) // gate_proj output, then silu(gate)*up
	l.add("up", rows*in)   // up_proj output
	l.add("lora_t", rows*max(loraR, 1))
	l.add("lora_d", rows*max(in, h, kv))
	l.add("last", logitRows*h) // final-norm rows that get logits
	l.add("logits", logitRows*c.VocabSize)
	return l
}
