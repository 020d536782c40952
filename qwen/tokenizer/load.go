package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// SplitPattern is the Qwen2 pre-tokenizer's split pattern; nextPreToken
// implements it.
const SplitPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// Llama3SplitPattern is Llama 3's, Qwen2's with runs of up to three digits
// in one pre-token (\p{N}{1,3}); nextPreToken implements it too.
const Llama3SplitPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// splitDigits is the longest run of digits one pre-token holds under each
// split pattern Load accepts.
var splitDigits = map[string]int{SplitPattern: 1, Llama3SplitPattern: 3}

// Load reads a tokenizer from path, which is a tokenizer.json file, a gzipped
// tokenizer.json (name ending in ".gz") or a folder (see ReadFiles); a
// folder's tokenizer_config.json, when present, supplies the eos and pad
// tokens and the chat template presence.
func Load(path string) (*Tokenizer, error) {
	f, err := ReadFiles(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(f.JSON, f.JSONPath)
	if err != nil {
		return nil, err
	}
	if f.Config != nil {
		if err := t.applyConfig(f.Config, f.ConfigPath); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// JSON shapes of tokenizer.json. Pointers and RawMessage tell absent or null
// fields from zero values where that matters.
type (
	fileJSON struct {
		AddedTokens  []addedTokenJSON `json:"added_tokens"`
		Normalizer   *typedJSON       `json:"normalizer"`
		PreTokenizer *preTokJSON      `json:"pre_tokenizer"`
		Decoder      *preTokJSON      `json:"decoder"`
		Model        *modelJSON       `json:"model"`
	}
	typedJSON struct {
		Type string `json:"type"`
	}
	preTokJSON struct {
		Type           string       `json:"type"`
		PreTokenizers  []preTokJSON `json:"pretokenizers"`
		Pattern        *patternJSON `json:"pattern"`
		Behavior       string       `json:"behavior"`
		Invert         bool         `json:"invert"`
		AddPrefixSpace bool         `json:"add_prefix_space"`
		UseRegex       bool         `json:"use_regex"`
	}
	patternJSON struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	}
	modelJSON struct {
		Type                    string          `json:"type"`
		Vocab                   map[string]int  `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		Dropout                 *float64        `json:"dropout"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		ByteFallback            bool            `json:"byte_fallback"`
		IgnoreMerges            bool            `json:"ignore_merges"`
	}
	addedTokenJSON struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
)

// Parse builds a tokenizer from the contents of a tokenizer.json; name (for
// instance the file's path) is used in error messages.
func Parse(data []byte, name string) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", name, err)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", name, err)
	}
	t, err := build(&f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", name, err)
	}
	return t, nil
}

// check rejects configurations this package does not implement.
func (f *fileJSON) check() error {
	if n := f.Normalizer; n != nil && n.Type != "NFC" {
		return fmt.Errorf("unsupported normalizer %q (want NFC or none)", n.Type)
	}
	p := f.PreTokenizer
	if p == nil || p.Type != "Sequence" || len(p.PreTokenizers) != 2 {
		return errors.New("unsupported pre_tokenizer: want a Sequence of Split and ByteLevel")
	}
	split, bl := p.PreTokenizers[0], p.PreTokenizers[1]
	if split.Type != "Split" || split.Pattern == nil || split.Pattern.Regex == nil {
		return errors.New("unsupported pre_tokenizer: first step must be a Split with a Regex pattern")
	}
	if splitDigits[*split.Pattern.Regex] == 0 {
		return fmt.Errorf("unsupported split pattern %q (only the Qwen2 and Llama 3 patterns are implemented)", *split.Pattern.Regex)
	}
	if split.Behavior != "Isolated" || split.Invert {
		return fmt.Errorf("unsupported split behavior %q (invert %v), want Isolated", split.Behavior, split.Invert)
	}
	if bl.Type != "ByteLevel" || bl.AddPrefixSpace || bl.UseRegex {
		return errors.New("unsupported pre_tokenizer: second step must be ByteLevel with add_prefix_space and use_regex false")
	}
	if d := f.Decoder; d == nil || d.Type != "ByteLevel" {
		return errors.New("unsupported decoder: want ByteLevel")
	}
	m := f.Model
	switch {
	case m == nil || m.Type != "BPE":
		return errors.New("unsupported model: want BPE")
	case m.Dropout != nil && *m.Dropout != 0:
		return errors.New("unsupported BPE dropout")
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "",
		m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return errors.New("unsupported BPE continuing_subword_prefix or end_of_word_suffix")
	case m.ByteFallback:
		return errors.New("unsupported BPE byte_fallback")
	case len(m.Vocab) == 0:
		return errors.New("BPE model has no vocab")
	}
	return nil
}

// parseMerges reads the merges, written either as "a b" strings or, in
// newer files, as ["a", "b"] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err == nil {
		merges := make([][2]string, len(pairs))
		for i, p := range pairs {
			if len(p) != 2 {
				return nil, fmt.Errorf("merge %d: malformed merge %q, want 2 tokens", i, p)
			}
			merges[i] = [2]string{p[0], p[1]}
		}
		return merges, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err != nil {
		return nil, fmt.Errorf("merges: want strings or pairs of strings: %w", err)
	}
	merges := make([][2]string, len(strs))
	for i, s := range strs {
		a, b, ok := strings.Cut(s, " ")
		if !ok || strings.Contains(b, " ") {
			return nil, fmt.Errorf("merge %d: malformed merge %q, want 2 tokens", i, s)
		}
		merges[i] = [2]string{a, b}
	}
	return merges, nil
}

// build assembles a Tokenizer from a checked configuration.
func build(f *fileJSON) (*Tokenizer, error) {
	m := f.Model
	maxID := -1
	for tok, id := range m.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("vocab token %q has negative id %d", tok, id)
		}
		maxID = max(maxID, id)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.Content == "" {
			return nil, fmt.Errorf("added token %q has id %d: want non-empty content and id >= 0", a.Content, a.ID)
		}
		maxID = max(maxID, a.ID)
	}
	model, err := newBPE(m.Vocab, m.IgnoreMerges, splitDigits[*f.PreTokenizer.PreTokenizers[0].Pattern.Regex])
	if err != nil {
		return nil, err
	}
	merges, err := parseMerges(m.Merges)
	if err != nil {
		return nil, err
	}
	for rank, mg := range merges {
		if err := model.addMerge(mg[0], mg[1], rank); err != nil {
			return nil, fmt.Errorf("merge %d: %w", rank, err)
		}
	}

	t := &Tokenizer{
		vocab:  m.Vocab,
		added:  make(map[string]int, len(f.AddedTokens)),
		tokens: make([]tokenInfo, maxID+1),
		nfc:    f.Normalizer != nil,
		model:  model,
	}
	for tok, id := range m.Vocab {
		t.tokens[id] = tokenInfo{text: tok, bytes: byteLevelDecode(tok), known: true}
	}
	var raw, normalized []addedToken
	for _, a := range f.AddedTokens {
		t.tokens[a.ID] = tokenInfo{text: a.Content, bytes: byteLevelDecode(a.Content), known: true, special: a.Special}
		t.added[a.Content] = a.ID
		tok := addedToken{id: a.ID, content: a.Content, singleWord: a.SingleWord, lstrip: a.LStrip, rstrip: a.RStrip}
		if a.Normalized {
			if t.nfc {
				tok.content = norm.NFC.String(tok.content)
			}
			normalized = append(normalized, tok)
		} else {
			raw = append(raw, tok)
		}
	}
	t.rawAdded = newAddedMatcher(raw)
	t.normAdded = newAddedMatcher(normalized)
	t.eos = t.idsOf("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>")
	if pad := t.idsOf("<|endoftext|>"); len(pad) == 1 {
		t.pad, t.hasPad = pad[0], true
	}
	return t, nil
}

// idsOf returns the ids of those tokens that exist, in order.
func (t *Tokenizer) idsOf(tokens ...string) []int {
	var ids []int
	for _, tok := range tokens {
		if id, ok := t.TokenID(tok); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// configJSON is the part of tokenizer_config.json the tokenizer uses.
type configJSON struct {
	EOSToken     json.RawMessage `json:"eos_token"`
	PadToken     json.RawMessage `json:"pad_token"`
	ChatTemplate json.RawMessage `json:"chat_template"`
}

// applyConfig takes eos and pad tokens and the chat template presence from a
// tokenizer_config.json read from path.
func (t *Tokenizer) applyConfig(data []byte, path string) error {
	var c configJSON
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	eos, ok, err := t.configToken(c.EOSToken)
	if err != nil {
		return fmt.Errorf("tokenizer: %s: eos_token: %w", path, err)
	}
	if ok {
		t.eos = []int{eos}
	}
	pad, ok, err := t.configToken(c.PadToken)
	if err != nil {
		return fmt.Errorf("tokenizer: %s: pad_token: %w", path, err)
	}
	if ok {
		t.pad, t.hasPad = pad, true
	}
	tmpl := bytes.TrimSpace(c.ChatTemplate)
	t.chatTemplate = len(tmpl) > 0 && !bytes.Equal(tmpl, []byte("null")) &&
		!bytes.Equal(tmpl, []byte(`""`)) && !bytes.Equal(tmpl, []byte("[]"))
	return nil
}

// configToken resolves a special-token setting, which is absent, null, a
// string or an object with a "content" string; ok is false when unset.
func (t *Tokenizer) configToken(raw json.RawMessage) (id int, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	var content string
	if json.Unmarshal(raw, &content) != nil {
		var obj struct {
			Content string `json:"content"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return 0, false, fmt.Errorf("want a string or an object with content, got %s", raw)
		}
		content = obj.Content
	}
	id, ok = t.TokenID(content)
	if !ok {
		return 0, false, fmt.Errorf("token %q is not in the vocabulary", content)
	}
	return id, true, nil
}
