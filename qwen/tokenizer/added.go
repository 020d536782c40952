package tokenizer

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is an entry of tokenizer.json's added_tokens as used for
// matching.
type addedToken struct {
	id         int
	content    string
	singleWord bool // match only when not inside a word
	lstrip     bool // also swallow whitespace on the left
	rstrip     bool // also swallow whitespace on the right
}

// addedMatcher finds added tokens in text with the semantics of the Hugging
// Face AddedVocabulary: non-overlapping leftmost-longest matches (as
// aho-corasick's LeftmostLongest), then the single_word, lstrip and rstrip
// rules.
type addedMatcher struct {
	// byFirst lists, for each first byte, the tokens starting with it,
	// longest first.
	byFirst [256][]*addedToken
	// firsts holds the distinct first bytes; with only one (as for Qwen,
	// '<') find looks for it with strings.IndexByte.
	firsts []byte
}

// newAddedMatcher returns a matcher for tokens, or nil when there are none.
func newAddedMatcher(tokens []addedToken) *addedMatcher {
	if len(tokens) == 0 {
		return nil
	}
	m := &addedMatcher{}
	for i := range tokens {
		tok := &tokens[i]
		c := tok.content[0]
		if m.byFirst[c] == nil {
			m.firsts = append(m.firsts, c)
		}
		m.byFirst[c] = append(m.byFirst[c], tok)
	}
	for _, list := range m.byFirst {
		slices.SortStableFunc(list, func(a, b *addedToken) int {
			return cmp.Compare(len(b.content), len(a.content))
		})
	}
	return m
}

// find returns the leftmost-longest token occurrence in text at or after
// from, and where it starts.
func (m *addedMatcher) find(text string, from int) (*addedToken, int) {
	for i := from; i < len(text); i++ {
		if len(m.firsts) == 1 {
			j := strings.IndexByte(text[i:], m.firsts[0])
			if j < 0 {
				break
			}
			i += j
		}
		for _, tok := range m.byFirst[text[i]] {
			if strings.HasPrefix(text[i:], tok.content) {
				return tok, i
			}
		}
	}
	return nil, -1
}

// split appends the ids of text to ids: the added tokens found in it, and
// for the text between them (never empty) what next appends. A nil matcher
// passes all of text to next.
func (m *addedMatcher) split(ids []int, text string, next func([]int, string) []int) []int {
	offset := 0 // start of the text not yet emitted
	if m != nil {
		for pos := 0; ; {
			tok, start := m.find(text, pos)
			if tok == nil {
				break
			}
			stop := start + len(tok.content)
			pos = stop
			if tok.singleWord && (endsWithWord(text[:start]) || startsWithWord(text[stop:])) {
				continue
			}
			if tok.lstrip {
				start = max(len(strings.TrimRightFunc(text[:start], unicode.IsSpace)), offset)
			}
			if tok.rstrip {
				stop = len(text) - len(strings.TrimLeftFunc(text[stop:], unicode.IsSpace))
			}
			if offset < start {
				ids = next(ids, text[offset:start])
			}
			ids = append(ids, tok.id)
			offset = stop
		}
	}
	if offset < len(text) {
		ids = next(ids, text[offset:])
	}
	return ids
}

// isWordChar reports whether r is matched by \w of Rust's regex crate (which
// the Hugging Face single_word check uses): Alphabetic, marks, decimal
// digits, connector punctuation and Join_Control.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) ||
		unicode.In(r, unicode.Nl, unicode.Other_Alphabetic, unicode.Nd, unicode.Pc, unicode.Join_Control)
}

func endsWithWord(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isWordChar(r)
}
