package tokenizer

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// A small tokenizer.json built in the tests. The token of each byte b has id
// b, so the expected ids below can be read off the text's bytes; merges and
// added tokens are listed in syntheticJSON.
const (
	idHe    = 256 // "he" = h + e, rank 0
	idLl    = 257 // "ll" = l + l, rank 1
	idHell  = 258 // "hell" = he + ll, rank 2
	idHello = 259 // "hello" = hell + o, rank 3
	idBc    = 260 // "bc" = b + c, rank 4
	idAb    = 261 // "ab" = a + b, rank 5 (after "b c")

	idX     = 300 // "<x>", special
	idXY    = 301 // "<x><y>", special (longer than "<x>")
	idL     = 302 // "[L]", lstrip
	idR     = 303 // "[R]", rstrip
	idWord  = 304 // "word", single_word
	idCafe  = 305 // "café", normalized (matched after NFC)
	idPlain = 306 // "<p>", not special
)

// syntheticConfig returns the tokenizer.json contents as a map that tests
// may alter before marshalling.
func syntheticConfig() map[string]any {
	vocab := map[string]any{}
	for b, r := range byteRune {
		vocab[string(r)] = b
	}
	for tok, id := range map[string]int{"he": idHe, "ll": idLl, "hell": idHell, "hello": idHello, "bc": idBc, "ab": idAb} {
		vocab[tok] = id
	}
	added := func(id int, content string, special bool) map[string]any {
		return map[string]any{"id": id, "content": content, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": special}
	}
	l := added(idL, "[L]", false)
	l["lstrip"] = true
	r := added(idR, "[R]", false)
	r["rstrip"] = true
	w := added(idWord, "word", false)
	w["single_word"] = true
	c := added(idCafe, "café", false)
	c["normalized"] = true
	return map[string]any{
		"version":      "1.0",
		"added_tokens": []any{added(idX, "<x>", true), added(idXY, "<x><y>", true), l, r, w, c, added(idPlain, "<p>", false)},
		"normalizer":   map[string]any{"type": "NFC"},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": SplitPattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		}},
		"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
			"vocab":  vocab,
			"merges": []any{"h e", "l l", "he ll", "hell o", "b c", "a b"},
		},
	}
}

func marshal(t *testing.T, cfg map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(cfg)
	require.NoError(t, err)
	return data
}

func synthetic(t *testing.T) *Tokenizer {
	t.Helper()
	tok, err := Parse(marshal(t, syntheticConfig()), "synthetic.json")
	require.NoError(t, err)
	return tok
}

// byteIDs returns the ids of s's bytes in the synthetic tokenizer.
func byteIDs(s string) []int {
	ids := make([]int, len(s))
	for i := range len(s) {
		ids[i] = int(s[i])
	}
	return ids
}

func concat(parts ...[]int) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestSyntheticEncode(t *testing.T) {
	tok := synthetic(t)
	// Expected ids follow from the Hugging Face rules: pre-tokens as in
	// TestPreTokens, merges by rank, added tokens leftmost-longest with their
	// flags (single_word: no word character beside the match; lstrip/rstrip:
	// the whitespace on that side joins the token).
	tests := []struct {
		name, text string
		want       []int
	}{
		{"merges by rank", "hello", []int{idHello}},
		{"partial merges", "helo", concat([]int{idHe}, byteIDs("lo"))},
		{"lower rank wins over leftmost", "abc", []int{'a', idBc}},
		{"merge left to right", "abab", []int{idAb, idAb}},
		{"pre-tokens merge separately", "he llo", concat([]int{idHe, ' '}, []int{idLl, 'o'})},
		{"added token", "a<x>b", []int{'a', idX, 'b'}},
		{"longest added token", "a<x><y>b", []int{'a', idXY, 'b'}},
		{"not special still matched", "a<p>b", []int{'a', idPlain, 'b'}},
		{"added tokens back to back", "<x><x>", []int{idX, idX}},
		{"incomplete added token", "<x", byteIDs("<x")},
		{"lstrip", "a  [L]b", []int{'a', idL, 'b'}},
		{"lstrip stops at previous token", "<x>  [L]", []int{idX, idL}},
		{"rstrip", "a[R]  b", []int{'a', idR, 'b'}},
		{"rstrip keeps left space", "a [R] b", []int{'a', ' ', idR, 'b'}},
		{"single word", "a word b", concat([]int{'a', ' ', idWord}, byteIDs(" b"))},
		{"single word at ends", "word", []int{idWord}},
		{"single word inside a word", "swordfish", byteIDs("swordfish")},
		{"single word after digit", "1word", byteIDs("1word")},
		{"normalized token after NFC", "cafe\u0301!", []int{idCafe, '!'}},
		{"NFC", "e\u0301", byteIDs("\u00e9")},
		{"invalid UTF-8 kept as bytes", "a\xffb", byteIDs("a\xffb")},
		{"empty", "", nil},
		{"long word (not cached)", strings.Repeat("hello", 60), slices.Repeat([]int{idHello}, 60)},
		{"long word again", strings.Repeat("ab", 200), slices.Repeat([]int{idAb}, 200)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tok.Encode(tc.text)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestMergePairs(t *testing.T) {
	// Newer tokenizer.json files write merges as pairs; both forms must give
	// the same tokenizer.
	cfg := syntheticConfig()
	model := cfg["model"].(map[string]any)
	var pairs [][]string
	for _, m := range model["merges"].([]any) {
		pairs = append(pairs, strings.Split(m.(string), " "))
	}
	model["merges"] = pairs
	tok, err := Parse(marshal(t, cfg), "pairs.json")
	require.NoError(t, err)
	for _, text := range []string{"hello", "helo abc", "abab"} {
		require.Equal(t, synthetic(t).Encode(text), tok.Encode(text), text)
	}
}

func TestSyntheticDecode(t *testing.T) {
	tok := synthetic(t)
	// Expected strings with U+FFFD: Python's bytes.decode("utf-8", "replace")
	// (run by hand), one U+FFFD per maximal invalid subpart.
	tests := []struct {
		name string
		ids  []int
		skip bool
		want string
	}{
		{"merged tokens", []int{idHello, ' ', idAb}, false, "hello ab"},
		{"special kept", []int{'a', idX, idPlain, 'b'}, false, "a<x><p>b"},
		{"special skipped", []int{'a', idX, idPlain, 'b'}, true, "a<p>b"},
		{"unknown ids skipped", []int{'a', -1, 270, 100000, 'b'}, false, "ab"},
		{"truncated 3-byte sequence", []int{0xE4, 0xB8, 'A'}, false, "\uFFFDA"},
		{"truncated at end", []int{0xF0, 0x9F, 0x98}, false, "\uFFFD"},
		{"invalid byte", []int{0xFF, 'A'}, false, "\uFFFDA"},
		{"bad second byte", []int{0xE0, 0x80}, false, "\uFFFD\uFFFD"},
		{"surrogate", []int{0xED, 0xA0, 0x80}, false, "\uFFFD\uFFFD\uFFFD"},
		{"overlong", []int{0xC0, 0xAF}, false, "\uFFFD\uFFFD"},
		{"above U+10FFFF", []int{0xF4, 0x90, 0x80, 0x80}, false, "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"mixed", []int{0xF0, 0x9F, 0x98, 'A', 0xC3}, false, "\uFFFDA\uFFFD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tok.Decode(tc.ids, tc.skip))
		})
	}
}

func TestStreamDecoderBytes(t *testing.T) {
	tok := synthetic(t)
	// Feeding "é😀a" one byte-token at a time: é is 2 bytes, 😀 is 4, so text
	// appears only when the last byte of a character arrives.
	d := tok.NewStreamDecoder(false)
	var got []string
	for _, id := range byteIDs("é😀a") {
		got = append(got, d.Add(id))
	}
	require.Equal(t, []string{"", "é", "", "", "", "😀", "a"}, got)
	require.Empty(t, d.Flush())

	// An unfinished sequence comes out as U+FFFD on Flush; an invalid one as
	// soon as it is known to be invalid.
	require.Empty(t, d.Add(0xE4))
	require.Empty(t, d.Add(0xB8))
	require.Equal(t, "\uFFFD", d.Flush())
	require.Equal(t, "\uFFFD", d.Add(0xFF))
	require.Empty(t, d.Add(0xE4))
	require.Equal(t, "\uFFFDA", d.Add('A'))

	skip := tok.NewStreamDecoder(true)
	require.Equal(t, "a", skip.Add('a'))
	require.Empty(t, skip.Add(idX))
	require.Equal(t, "<p>", skip.Add(idPlain))
}

func TestConcurrentEncode(t *testing.T) {
	tok := synthetic(t)
	texts := []string{"hello world", "a<x><y>b abc", "he llo helo", "swordfish word", "cafe\u0301"}
	want := make([][]int, len(texts))
	for i, text := range texts {
		want[i] = tok.Encode(text)
	}
	fresh := synthetic(t) // empty cache, filled by the goroutines at once
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 200 {
				i := (g + k) % len(texts)
				if got := fresh.Encode(texts[i]); !slices.Equal(got, want[i]) {
					t.Errorf("Encode(%q) = %v, want %v", texts[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}
