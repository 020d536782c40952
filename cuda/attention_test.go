//go:build cgo

package cuda

import (
	"strings"
	"testing"

	"github.com/tune-dev/tune/backend"
)

// TestAttentionRejectsArgumentsCUDA: a head dim the kernels do not take
// (from the library), activations of two types, a short key mask and a
// short buffer panic naming the op and what is wrong, and the backend goes
// on working.
func TestAttentionRejectsArgumentsCUDA(t *testing.T) {
	b := openOrSkip(t)
	s := backend.AttnShape{Batch: 1, Q: 2, KV: 2, KVStride: 2, Heads: 2, KVHeads: 1, HeadDim: 16}
	q, k, v, out := b.AllocActivation(64), b.AllocActivation(32), b.AllocActivation(32), b.AllocActivation(64)
	wide := s
	wide.HeadDim = 136
	for _, c := range []struct {
		name, want string
		call       func()
	}{
		{"head dim 136", "tune_attention_forward: head_dim 136 (the kernels take at most 128)",
			func() {
				b.Attention(b.AllocActivation(544), nil, b.AllocActivation(544), b.AllocActivation(272),
					b.AllocActivation(272), nil, wide)
			}},
		{"mixed types", "Attention: q is float32 but out is bfloat16 (one activation type per call)",
			func() { b.Attention(out, nil, b.Alloc(64), k, v, nil, s) }},
		{"short mask", "Attention: key mask has 1 entries, needs 2",
			func() { b.Attention(out, nil, q, k, v, []int32{1}, s) }},
		{"short lse", "AttentionBackward: lse holds 3 elements, op needs 4",
			func() { b.AttentionBackward(q, k, v, out, q, k, v, out, b.Alloc(3), nil, s) }},
		{"kv past stride", "Attention: shape",
			func() {
				b.Attention(out, nil, q, k, v, nil, backend.AttnShape{Batch: 1, Q: 2, KV: 3, KVStride: 2, Heads: 2, KVHeads: 1, HeadDim: 16})
			}},
	} {
		if msg := panicMessage(c.call); !strings.Contains(msg, c.want) {
			t.Errorf("%s: %s, want a panic containing %q", c.name, msg, c.want)
		}
		b.Attention(out, nil, q, k, v, nil, s) // the backend goes on working
	}
}
