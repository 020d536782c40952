package eval

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// pyIsSpace reports whether r is whitespace for Python's str.split() and
// str.strip(): Go's unicode.IsSpace plus the ASCII information separators
// U+001C..U+001F, which Python also treats as whitespace.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyFields splits s like Python's str.split() with no arguments.
func pyFields(s string) []string {
	return strings.FieldsFunc(s, pyIsSpace)
}

// pyLower lowercases s like Python's str.lower(): full Unicode case mapping,
// so "İ" becomes "i̇" and a word-final "Σ" becomes "ς".
func pyLower(s string) string {
	// A Caser is stateful and not safe for concurrent use: make one per call.
	return cases.Lower(language.Und).String(s)
}
