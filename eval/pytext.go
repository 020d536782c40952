package eval

import (
	"strings"
	"unicode"
	"unicode/utf8"
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

// pyLower lowercases s like Python's str.lower(), the one lowercasing of
// every metric whose reference tool lowercases (rouge_score's tokenizer,
// sacrebleu's lowercase option, the SQuAD normalization, the citation
// metric): the simple Unicode mapping of each code point except İ
// (U+0130), which becomes "i̇" (i + U+0307, SpecialCasing's only
// unconditional lowercase mapping), and Σ (U+03A3), which becomes ς after
// a cased letter unless a cased letter follows (Final_Sigma, case-ignorable
// code points skipped both ways, as CPython's handle_capital_sigma does).
// golang.org/x/text/cases differs on the sigma context (it treats a
// modifier letter such as ʰ, both cased and case-ignorable, as a word
// start). TestPyLowerMatchesPython checks every code point against
// Python's own output.
func pyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i, r := range s {
		switch r {
		case 'İ':
			b.WriteString("i\u0307")
		case 'Σ':
			if finalSigma(s, i) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma reports whether the Σ at byte i of s is in the Final_Sigma
// context: a cased code point before it and none after it, skipping
// case-ignorable ones.
func finalSigma(s string, i int) bool {
	before := false
	for j := i; j > 0; {
		r, n := utf8.DecodeLastRuneInString(s[:j])
		if !caseIgnorable(r) {
			before = cased(r)
			break
		}
		j -= n
	}
	if !before {
		return false
	}
	for j := i + len("Σ"); j < len(s); {
		r, n := utf8.DecodeRuneInString(s[j:])
		if !caseIgnorable(r) {
			return !cased(r)
		}
		j += n
	}
	return true
}

// cased is Unicode's Cased property: Lu, Ll, Lt, Other_Lowercase and
// Other_Uppercase.
func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// caseIgnorable is Unicode's Case_Ignorable property: Mn, Me, Cf, Lm and Sk,
// plus the Word_Break classes MidLetter, MidNumLet and Single_Quote, which
// Go's unicode package does not carry (listed from WordBreakProperty.txt).
func caseIgnorable(r rune) bool {
	switch r {
	case ':', '\u00b7', '\u0387', '\u055f', '\u05f4', '\u2027', '\ufe13', '\ufe55', '\uff1a', // MidLetter
		'.', '\u2018', '\u2019', '\u2024', '\ufe52', '\uff07', '\uff0e', // MidNumLet
		'\'': // Single_Quote
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
