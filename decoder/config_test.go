package decoder

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPadID takes pad_token_id, else eos_token_id, else 0, skipping ids
// outside the vocabulary.
func TestPadID(t *testing.T) {
	id := func(i int) *int { return &i }
	for _, c := range []struct {
		pad  *int
		eos  TokenIDs
		want int32
	}{
		{id(7), TokenIDs{9}, 7},
		{nil, TokenIDs{9}, 9},
		{nil, nil, 0},
		{id(151643), TokenIDs{9}, 9}, // a tokenizer's pad beyond a small vocabulary
		{id(-1), TokenIDs{1000}, 0},
		{nil, TokenIDs{1000, 8, 9}, 8}, // the first eos id in the vocabulary
	} {
		cfg := Config{VocabSize: 1000, PadTokenID: c.pad, EOSTokenID: c.eos}
		if got := cfg.PadID(); got != c.want {
			t.Errorf("pad %v eos %v: PadID %d, want %d", c.pad, c.eos, got, c.want)
		}
	}
}

// TestTokenIDs reads eos_token_id as an id or a list (Llama 3.1's) and
// writes one id back as a number.
func TestTokenIDs(t *testing.T) {
	var c struct {
		EOS TokenIDs `json:"eos_token_id,omitempty"`
	}
	for in, want := range map[string]TokenIDs{
		`{"eos_token_id": 2}`:                        {2},
		`{"eos_token_id": [128001, 128008, 128009]}`: {128001, 128008, 128009},
		`{"eos_token_id": null}`:                     nil,
		`{}`:                                         nil,
	} {
		c.EOS = nil
		require.NoError(t, json.Unmarshal([]byte(in), &c), in)
		require.Equal(t, want, c.EOS, in)
	}
	require.ErrorContains(t, json.Unmarshal([]byte(`{"eos_token_id": "x"}`), &c), `eos_token_id "x" is neither an id nor a list of ids`)
	out, err := json.Marshal(struct {
		EOS TokenIDs `json:"eos_token_id"`
	}{TokenIDs{7}})
	require.NoError(t, err)
	require.JSONEq(t, `{"eos_token_id": 7}`, string(out))
}
