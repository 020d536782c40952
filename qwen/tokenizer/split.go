package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Character classes of the Qwen2 split pattern. \s is Unicode White_Space,
// \p{L} the letter categories and \p{N} the number categories, as the
// Oniguruma and Rust regex engines used by Hugging Face tokenizers define
// them.
type charClass uint8

const (
	classOther   charClass = iota // none of the below
	classLetter                   // \p{L}
	classNumber                   // \p{N}
	classSpace                    // \s other than \r and \n
	classNewline                  // \r or \n
)

// asciiClass holds the classes of the ASCII characters.
var asciiClass = func() (t [utf8.RuneSelf]charClass) {
	for r := range rune(utf8.RuneSelf) {
		t[r] = classOfRune(r)
	}
	return t
}()

func classOfRune(r rune) charClass {
	switch {
	case r == '\r' || r == '\n':
		return classNewline
	case unicode.IsSpace(r): // exactly White_Space
		return classSpace
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	}
	return classOther
}

// classAt returns the class and byte length of the character at s[i].
// Invalid UTF-8 bytes count as one classOther character each.
func classAt(s string, i int) (charClass, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return classOfRune(r), n
}

func isSpaceClass(c charClass) bool { return c == classSpace || c == classNewline }

// nextPreToken returns the end of the pre-token that starts at s[i] (i <
// len(s)), following the alternatives of the Qwen2 pattern (digits 1) or
// the Llama 3 pattern (digits 3: \p{N}{1,3}) in order, as a backtracking
// regex engine does:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)
//	[^\r\n\p{L}\p{N}]?\p{L}+
//	\p{N}{1,digits}
//	 ?[^\s\p{L}\p{N}]+[\r\n]*
//	\s*[\r\n]+
//	\s+(?!\S)
//	\s+
//
// Every character is matched by some alternative, so consecutive pre-tokens
// cover s.
func nextPreToken(s string, i, digits int) int {
	c0, n0 := classAt(s, i)

	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if s[i] == '\'' {
		if n := contraction(s[i+1:]); n > 0 {
			return i + 1 + n
		}
	}

	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c0 == classLetter {
		return skipClass(s, i, classLetter)
	}
	if (c0 == classOther || c0 == classSpace) && i+n0 < len(s) {
		if c1, _ := classAt(s, i+n0); c1 == classLetter {
			return skipClass(s, i+n0, classLetter)
		}
	}

	// \p{N}{1,digits}, greedy
	if c0 == classNumber {
		end := i + n0
		for k := 1; k < digits && end < len(s); k++ {
			c, n := classAt(s, end)
			if c != classNumber {
				break
			}
			end += n
		}
		return end
	}

	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	j := i
	if s[i] == ' ' {
		j++
	}
	if j < len(s) {
		if c, _ := classAt(s, j); c == classOther {
			return skipClass(s, skipClass(s, j, classOther), classNewline)
		}
	}

	// Only whitespace remains: c0 is classSpace or classNewline.
	// \s*[\r\n]+ backtracks \s* to the last \r or \n of the whitespace run.
	end, afterNewline, lastSize := i, -1, 0
	for end < len(s) {
		c, n := classAt(s, end)
		if !isSpaceClass(c) {
			break
		}
		end += n
		lastSize = n
		if c == classNewline {
			afterNewline = end
		}
	}
	if afterNewline > 0 {
		return afterNewline
	}
	// \s+(?!\S): at the end of the text the whole run; before a non-space
	// character the run without its last character, if that leaves any.
	if end == len(s) || end-lastSize == i {
		return end // the whole run, also what \s+ matches
	}
	return end - lastSize
}

// skipClass returns the end of the run of characters of class c starting at
// s[i].
func skipClass(s string, i int, c charClass) int {
	for i < len(s) {
		if b := s[i]; b < utf8.RuneSelf { // fast path for ASCII
			if asciiClass[b] != c {
				break
			}
			i++
			continue
		}
		ci, n := classAt(s, i)
		if ci != c {
			break
		}
		i += n
	}
	return i
}

// contraction returns the length of the case-insensitive contraction suffix
// (s, t, re, ve, m, ll or d) at the start of s, or 0. Under Unicode simple
// case folding 's' also matches U+017F (long s).
func contraction(s string) int {
	if len(s) == 0 {
		return 0
	}
	switch lower(s[0]) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if len(s) > 1 && lower(s[1]) == 'e' {
			return 2
		}
	case 'l':
		if len(s) > 1 && lower(s[1]) == 'l' {
			return 2
		}
	}
	if len(s) >= 2 && s[:2] == "\u017f" {
		return 2
	}
	return 0
}

// lower folds an ASCII upper-case letter to lower case.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
