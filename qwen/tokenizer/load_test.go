package tokenizer

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Ids of the Qwen2.5 added tokens, from tokenizer.json's added_tokens.
const (
	qwenEndOfText = 151643
	qwenIMStart   = 151644
	qwenIMEnd     = 151645
	qwenToolCall  = 151657 // "<tool_call>", not special
)

func TestQwenLoadFolder(t *testing.T) {
	tok := qwen(t)
	// 151,643 vocabulary entries plus added tokens 151643..151664.
	require.Equal(t, 151665, tok.VocabSize())
	// tokenizer_config.json: eos_token <|im_end|>, pad_token <|endoftext|>.
	require.Equal(t, []int{qwenIMEnd}, tok.EOSIDs())
	pad, ok := tok.PadID()
	require.True(t, ok)
	require.Equal(t, qwenEndOfText, pad)
	require.True(t, tok.HasChatTemplate())

	require.True(t, tok.IsSpecial(qwenIMStart))
	require.False(t, tok.IsSpecial(qwenToolCall))
	require.False(t, tok.IsSpecial(0))
	require.False(t, tok.IsSpecial(-1))

	id, ok := tok.TokenID("<|im_start|>")
	require.True(t, ok)
	require.Equal(t, qwenIMStart, id)
	// "Ġthe" is " the" in the byte-level alphabet; id from tokenizer.json.
	id, ok = tok.TokenID("Ġthe")
	require.True(t, ok)
	require.Equal(t, 279, id)
	s, ok := tok.Token(279)
	require.True(t, ok)
	require.Equal(t, "Ġthe", s)
	s, ok = tok.Token(qwenToolCall)
	require.True(t, ok)
	require.Equal(t, "<tool_call>", s)
	_, ok = tok.Token(tok.VocabSize())
	require.False(t, ok)
	_, ok = tok.TokenID("no such token")
	require.False(t, ok)
}

func TestQwenLoadFiles(t *testing.T) {
	gzPath := filepath.Join(testdataDir, "tokenizer.json.gz")
	fromGz, err := Load(gzPath)
	require.NoError(t, err)
	// Without tokenizer_config.json the defaults apply.
	require.Equal(t, []int{qwenIMEnd, qwenEndOfText}, fromGz.EOSIDs())
	pad, ok := fromGz.PadID()
	require.True(t, ok)
	require.Equal(t, qwenEndOfText, pad)
	require.False(t, fromGz.HasChatTemplate())

	// Plain tokenizer.json, as a file and as a folder without a config.
	dir := t.TempDir()
	f, err := os.Open(gzPath)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	data, err := io.ReadAll(zr)
	require.NoError(t, err)
	jsonPath := filepath.Join(dir, "tokenizer.json")
	require.NoError(t, os.WriteFile(jsonPath, data, 0o644))
	for _, path := range []string{jsonPath, dir} {
		tok, err := Load(path)
		require.NoError(t, err)
		require.Equal(t, fromGz.VocabSize(), tok.VocabSize())
		text := "Section 4.2: the Company's obligations."
		require.Equal(t, qwen(t).Encode(text), tok.Encode(text))
	}
}

func TestQwenAddedTokensInText(t *testing.T) {
	tok := qwen(t)
	// Added tokens split the text; the pieces around them are encoded on
	// their own (so "\n" after <|im_end|> is not merged with what follows).
	pieces := []struct {
		text string
		id   int
	}{
		{"Hello", qwenIMEnd}, {"\n", qwenIMStart}, {"user", qwenToolCall}, {" x", qwenEndOfText},
	}
	var text string
	var want []int
	for _, p := range pieces {
		text += p.text
		want = append(want, tok.Encode(p.text)...)
		s, ok := tok.Token(p.id)
		require.True(t, ok)
		text += s
		want = append(want, p.id)
	}
	require.Equal(t, want, tok.Encode(text))
	require.Equal(t, text, tok.Decode(want, false))
	require.Equal(t, "Hello\nuser<tool_call> x", tok.Decode(want, true))
}

func TestQwenStreamDecoder(t *testing.T) {
	tok := qwen(t)
	// "🦜" (F0 9F A6 9C) is two tokens, "ðŁ¦" and "ľ", and "𓀀" three, so
	// their first tokens produce no text.
	text := "合同 🦜 Договор 𓀀 😀"
	ids := tok.Encode(text)
	d := tok.NewStreamDecoder(false)
	var out string
	held := 0
	for _, id := range ids {
		s := d.Add(id)
		if s == "" {
			held++
		}
		require.NotContains(t, s, "\uFFFD")
		out += s
	}
	out += d.Flush()
	require.Equal(t, text, out)
	require.Positive(t, held, "some token ended inside a character")

	// For every reference case, streaming gives what Decode gives.
	for _, c := range readCases(t) {
		for _, skip := range []bool{false, true} {
			d := tok.NewStreamDecoder(skip)
			var s string
			for _, id := range c.IDs {
				s += d.Add(id)
			}
			s += d.Flush()
			require.Equal(t, tok.Decode(c.IDs, skip), s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	set := func(path []string, v any) func(map[string]any) {
		return func(cfg map[string]any) {
			m := cfg
			for _, k := range path[:len(path)-1] {
				m = m[k].(map[string]any)
			}
			m[path[len(path)-1]] = v
		}
	}
	splitStep := func(key string, v any) func(map[string]any) {
		return func(cfg map[string]any) {
			steps := cfg["pre_tokenizer"].(map[string]any)["pretokenizers"].([]any)
			steps[0].(map[string]any)[key] = v
		}
	}
	tests := []struct {
		name    string
		change  func(map[string]any)
		wantErr string
	}{
		{"normalizer", set([]string{"normalizer", "type"}, "NFKC"), `unsupported normalizer "NFKC"`},
		{"no pre-tokenizer", set([]string{"pre_tokenizer"}, nil), "unsupported pre_tokenizer"},
		{"pre-tokenizer type", set([]string{"pre_tokenizer", "type"}, "ByteLevel"), "unsupported pre_tokenizer"},
		{"split pattern", splitStep("pattern", map[string]any{"Regex": `\s+`}), "unsupported split pattern"},
		{"string pattern", splitStep("pattern", map[string]any{"String": " "}), "Split with a Regex pattern"},
		{"split behavior", splitStep("behavior", "Removed"), `unsupported split behavior "Removed"`},
		{"decoder", set([]string{"decoder"}, nil), "unsupported decoder"},
		{"model type", set([]string{"model", "type"}, "WordPiece"), "unsupported model"},
		{"byte fallback", set([]string{"model", "byte_fallback"}, true), "byte_fallback"},
		{"dropout", set([]string{"model", "dropout"}, 0.1), "dropout"},
		{"empty vocab", set([]string{"model", "vocab"}, map[string]any{}), "no vocab"},
		{"missing byte token", set([]string{"model", "vocab"}, map[string]any{"a": 0}), "byte-level token"},
		{"merge of unknown token", set([]string{"model", "merges"}, []any{"h zz"}), `merge 0: merge "h" "zz": token not in vocab`},
		{"merge result not in vocab", set([]string{"model", "merges"}, []any{"x y"}), `merged token "xy" not in vocab`},
		{"malformed merge string", set([]string{"model", "merges"}, []any{"h e", "h e l"}), `merge 1: malformed merge "h e l"`},
		{"malformed merge pair", set([]string{"model", "merges"}, []any{[]string{"h"}}), `merge 0: malformed merge ["h"]`},
		{"mixed merges", set([]string{"model", "merges"}, []any{"h e", 5}), "merges: want strings or pairs"},
		{"negative id", set([]string{"model", "vocab", "he"}, -3), "negative id"},
		{"empty added token", set([]string{"added_tokens"}, []any{map[string]any{"id": 400, "content": ""}}), "added token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := syntheticConfig()
			tc.change(cfg)
			_, err := Parse(marshal(t, cfg), "bad.json")
			require.ErrorContains(t, err, "bad.json")
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
	_, err := Parse([]byte(`{"model": `), "broken.json")
	require.ErrorContains(t, err, "broken.json")
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	_, err := Load(filepath.Join(dir, "missing.json"))
	require.ErrorContains(t, err, "missing.json")

	_, err = Load(dir) // a folder without tokenizer.json(.gz)
	require.ErrorContains(t, err, "tokenizer.json.gz")

	bad := write("bad.json.gz", "not gzip")
	_, err = Load(bad)
	require.ErrorContains(t, err, "bad.json.gz")

	malformed := write("malformed/tokenizer.json", "{]")
	_, err = Load(filepath.Dir(malformed))
	require.ErrorContains(t, err, malformed)

	good := string(marshal(t, syntheticConfig()))
	for _, tc := range []struct{ config, wantErr string }{
		{`{"eos_token": "<nope>"}`, `eos_token: token "<nope>" is not in the vocabulary`},
		{`{"pad_token": 5}`, "pad_token: want a string or an object"},
		{`{`, "unexpected end of JSON input"},
	} {
		sub := filepath.Join(dir, "cfg")
		write("cfg/tokenizer.json", good)
		cfgPath := write("cfg/tokenizer_config.json", tc.config)
		_, err := Load(sub)
		require.ErrorContains(t, err, cfgPath)
		require.ErrorContains(t, err, tc.wantErr)
	}

	// Token settings may also be objects with a "content" field.
	write("obj/tokenizer.json", good)
	write("obj/tokenizer_config.json", `{"eos_token": {"content": "<x>"}, "pad_token": null, "chat_template": null}`)
	tok, err := Load(filepath.Join(dir, "obj"))
	require.NoError(t, err)
	require.Equal(t, []int{idX}, tok.EOSIDs())
	_, ok := tok.PadID() // no <|endoftext|> in the synthetic vocabulary
	require.False(t, ok)
	require.False(t, tok.HasChatTemplate())
}

// TestByteToken: every ASCII byte alone encodes, with the real Qwen2.5
// tokenizer.json, to the one token ByteToken spells; a space is GPT-2's
// "Ġ".
func TestByteToken(t *testing.T) {
	tok := qwen(t)
	for b := range 128 {
		id, ok := tok.TokenID(ByteToken(byte(b)))
		require.True(t, ok, "byte %#x", b)
		require.Equal(t, []int{id}, tok.Encode(string(rune(b))), "byte %#x", b)
	}
	require.Equal(t, "Ġ", ByteToken(' '))
}
