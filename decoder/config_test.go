package decoder

import "testing"

// TestPadID takes pad_token_id, else eos_token_id, else 0, skipping ids
// outside the vocabulary.
func TestPadID(t *testing.T) {
	id := func(i int) *int { return &i }
	for _, c := range []struct {
		pad, eos *int
		want     int32
	}{
		{id(7), id(9), 7},
		{nil, id(9), 9},
		{nil, nil, 0},
		{id(151643), id(9), 9}, // a tokenizer's pad beyond a small vocabulary
		{id(-1), id(1000), 0},
	} {
		cfg := Config{VocabSize: 1000, PadTokenID: c.pad, EOSTokenID: c.eos}
		if got := cfg.PadID(); got != c.want {
			t.Errorf("pad %v eos %v: PadID %d, want %d", c.pad, c.eos, got, c.want)
		}
	}
}
