package tokenizer

import (
	"golang.org/x/text/unicode/norm"
)

// Tokenizer is a byte-level BPE tokenizer (Qwen2's, Llama 3's). It is safe for concurrent
// use.
type Tokenizer struct {
	vocab  map[string]int // model vocabulary
	added  map[string]int // added token content -> id
	tokens []tokenInfo    // by id, over vocab and added tokens

	rawAdded  *addedMatcher // added tokens matched before normalization
	normAdded *addedMatcher // added tokens matched in normalized text
	nfc       bool
	model     *bpe

	eos          []int
	pad          int
	hasPad       bool
	chatTemplate bool

	// Chat is the model family's chat template (ChatML when nil); the
	// caller that knows the model sets it after loading.
	Chat ChatTemplate
}

// tokenInfo describes one id.
type tokenInfo struct {
	text    string // token as in the vocabulary (byte-level alphabet) or added token content
	bytes   []byte // what the token decodes to
	known   bool   // whether the id is in use
	special bool   // added token marked special
}

// Encode tokenizes text like the Hugging Face tokenizer with
// add_special_tokens=False: added tokens in the text are recognized, but no
// special tokens are added around it. Invalid UTF-8 in text is encoded byte
// by byte.
func (t *Tokenizer) Encode(text string) []int {
	ids := make([]int, 0, len(text)/4+4)
	return t.rawAdded.split(ids, text, t.encodeNormalized)
}

// encodeNormalized handles text between raw added tokens: it normalizes it,
// extracts the normalized added tokens and pre-tokenizes and encodes the rest.
func (t *Tokenizer) encodeNormalized(ids []int, text string) []int {
	if t.nfc && !norm.NFC.IsNormalString(text) {
		text = norm.NFC.String(text)
	}
	return t.normAdded.split(ids, text, t.model.encodeText)
}

// TokenID returns the id of an added token or vocabulary token (written in
// the byte-level alphabet, e.g. "Ġthe").
func (t *Tokenizer) TokenID(token string) (int, bool) {
	if id, ok := t.added[token]; ok {
		return id, true
	}
	id, ok := t.vocab[token]
	return id, ok
}

// Token returns the token for id: added token content, or the vocabulary
// entry in the byte-level alphabet.
func (t *Tokenizer) Token(id int) (string, bool) {
	if id < 0 || id >= len(t.tokens) || !t.tokens[id].known {
		return "", false
	}
	return t.tokens[id].text, true
}

// VocabSize returns the largest id in use plus one, over the vocabulary and
// the added tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.tokens) && t.tokens[id].special
}

// EOSIDs returns the ids that end generation: the eos_token of the
// tokenizer_config.json loaded with the tokenizer, or else those of the
// families' end-of-turn and end-of-text tokens that exist (Qwen2's
// <|im_end|> and <|endoftext|>, Llama 3's <|eot_id|> and <|end_of_text|>). The caller must not modify the
// returned slice.
func (t *Tokenizer) EOSIDs() []int { return t.eos }

// PadID returns the padding id: the pad_token of the tokenizer_config.json
// loaded with the tokenizer, or else <|endoftext|> if it exists.
func (t *Tokenizer) PadID() (int, bool) { return t.pad, t.hasPad }

// HasChatTemplate reports whether the loaded tokenizer_config.json has a
// chat template. The template itself is not interpreted; ApplyChatTemplate
// renders Chat, the family's template written in Go.
func (t *Tokenizer) HasChatTemplate() bool { return t.chatTemplate }
