package tokenizer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// preTokens splits s with the Qwen2 pattern scanner.
func preTokens(s string) []string { return preTokensN(s, 1) }

// preTokensN splits s with the scanner, runs of up to digits digits in one
// pre-token.
func preTokensN(s string, digits int) []string {
	var out []string
	for i := 0; i < len(s); {
		j := nextPreToken(s, i, digits)
		out = append(out, s[i:j])
		i = j
	}
	return out
}

func TestPreTokens(t *testing.T) {
	// Expected splits worked out by hand from the regex: at each position the
	// first alternative that matches wins, each one greedy:
	//   A1 (?i:'s|'t|'re|'ve|'m|'ll|'d)   A2 [^\r\n\p{L}\p{N}]?\p{L}+   A3 \p{N}
	//   A4  ?[^\s\p{L}\p{N}]+[\r\n]*   A5 \s*[\r\n]+   A6 \s+(?!\S)   A7 \s+
	tests := []struct {
		name, text string
		want       []string
	}{
		{"words take their leading space (A2)", "Hello world", []string{"Hello", " world"}},
		{"space run before a word leaves one space for the word (A6)", "a   b", []string{"a", "  ", " b"}},
		{"two spaces before a word", "  hello", []string{" ", " hello"}},
		{"trailing spaces at the end stay whole (A6)", "x   ", []string{"x", "   "}},
		{"lone space before a digit (A7)", " 1", []string{" ", "1"}},
		{"tab before a word (A2)", "\tfmt", []string{"\tfmt"}},
		{"NBSP before a word", "x\u00a0\u00a0y", []string{"x", "\u00a0", "\u00a0y"}},
		{"ideographic space is whitespace", "\u3000full width", []string{"\u3000full", " width"}},
		{"newline alone (A5)", "\n", []string{"\n"}},
		{"newlines together (A5)", "\n\n\n", []string{"\n\n\n"}},
		{"spaces then newline (A5)", "   \n", []string{"   \n"}},
		{"whitespace up to the last newline (A5)", " \n ", []string{" \n", " "}},
		{"newlines then indentation", "a\n\n  b", []string{"a", "\n\n", " ", " b"}},
		{"CRLF", "a\r\nb", []string{"a", "\r\n", "b"}},
		{"newline and tab", "{\n\tfmt", []string{"{\n", "\tfmt"}},
		{"digits one by one (A3)", "12345", []string{"1", "2", "3", "4", "5"}},
		{"letters then digits", "abc123", []string{"abc", "1", "2", "3"}},
		{"roman numeral is a number (Nl)", "Ⅻ roman", []string{"Ⅻ", " roman"}},
		{"superscript is a number (No)", "x²", []string{"x", "²"}},
		{"currency then digits", "$100", []string{"$", "1", "0", "0"}},
		{"contraction (A1)", "I'm", []string{"I", "'m"}},
		{"contractions", "don't they've we'll", []string{"don", "'t", " they", "'ve", " we", "'ll"}},
		{"upper-case contractions", "I'M SHE'LL HE'D", []string{"I", "'M", " SHE", "'LL", " HE", "'D"}},
		{"contraction without a word", "'s 't", []string{"'s", " '", "t"}},
		{"contraction prefix of a word", "'said", []string{"'s", "aid"}},
		{"long s folds to s", "'ſ", []string{"'ſ"}},
		{"apostrophe then other letters (A2)", "'x", []string{"'x"}},
		{"punctuation run (A4)", "!!!???", []string{"!!!???"}},
		{"punctuation with a space (A4)", "a ...", []string{"a", " ..."}},
		{"punctuation run takes newlines (A4)", "end.\n\nNext", []string{"end", ".\n\n", "Next"}},
		{"punctuation run takes CRLF (A4)", "x;\r\n", []string{"x", ";\r\n"}},
		{"punctuation before a letter (A2)", "(i) (ii)", []string{"(i", ")", " (", "ii", ")"}},
		{"hyphenated", "Article-1", []string{"Article", "-", "1"}},
		{"CJK", "mixed 中文 and 并且", []string{"mixed", " 中文", " and", " 并且"}},
		{"emoji are punctuation-like (A4)", "hi 😀😀 x", []string{"hi", " 😀😀", " x"}},
		{"emoji then newline", "😀\n", []string{"😀\n"}},
		{"combining mark is not a letter", "e\u0301", []string{"e", "\u0301"}},
		{"Cyrillic", "Русский текст", []string{"Русский", " текст"}},
		{"invalid UTF-8 byte is other", "a\xffb", []string{"a", "\xffb"}},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := preTokens(tc.text)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.text, strings.Join(got, ""))
		})
	}
}

// TestLlama3PreTokens checks the Llama 3 pattern's \p{N}{1,3} against
// Python's regex module (2026.5.9) running Llama3SplitPattern, whose
// findall gave these splits.
func TestLlama3PreTokens(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"$1,234,567.89 due", []string{"$", "1", ",", "234", ",", "567", ".", "89", " due"}},
		{"Section 12345", []string{"Section", " ", "123", "45"}},
		{"year 2024a", []string{"year", " ", "202", "4", "a"}},
		{"\u0663\u0664\u0665\u0666 x", []string{"\u0663\u0664\u0665", "\u0666", " x"}},
		{"1 22 333 4444", []string{"1", " ", "22", " ", "333", " ", "444", "4"}},
	} {
		require.Equal(t, c.want, preTokensN(c.text, 3), c.text)
	}
}
