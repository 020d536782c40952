package eval

import (
	"fmt"
	"regexp"
	"strings"
)

// BLEUTokenizer names one of sacrebleu's tokenizers.
type BLEUTokenizer string

// The sacrebleu tokenizers this package implements.
const (
	// Tokenize13a is sacrebleu's default "13a" tokenizer (mteval-v13a.pl).
	Tokenize13a BLEUTokenizer = "13a"
	// TokenizeIntl is sacrebleu's "intl" tokenizer (mteval-v14.pl
	// --international-normalization): splits Unicode punctuation and symbols.
	TokenizeIntl BLEUTokenizer = "intl"
	// TokenizeNone splits on whitespace only.
	TokenizeNone BLEUTokenizer = "none"
)

var (
	// sacrebleu TokenizerRegexp, applied in order with non-overlapping,
	// leftmost matches (Go's ReplaceAllString has the same semantics as
	// Python's re.sub for these fixed-width patterns).
	re13aPunct    = regexp.MustCompile(`([\x7b-\x7e\x5b-\x60\x20-\x26\x28-\x2b\x3a-\x40/])`)
	re13aPeriodL  = regexp.MustCompile(`([^0-9])([.,])`)
	re13aPeriodR  = regexp.MustCompile(`([.,])([^0-9])`)
	re13aDash     = regexp.MustCompile(`([0-9])(-)`)
	reIntlPunctL  = regexp.MustCompile(`(\PN)(\pP)`)
	reIntlPunctR  = regexp.MustCompile(`(\pP)(\PN)`)
	reIntlSymbols = regexp.MustCompile(`(\pS)`)
)

// tokenize applies the tokenizer to one (already lowercased, right-stripped)
// segment and returns sacrebleu's tokenized string: tokens joined by single
// spaces.
func (t BLEUTokenizer) tokenize(line string) string {
	switch t {
	case Tokenize13a, "":
		return tokenize13a(line)
	case TokenizeIntl:
		line = reIntlPunctL.ReplaceAllString(line, "${1} ${2} ")
		line = reIntlPunctR.ReplaceAllString(line, " ${1} ${2}")
		line = reIntlSymbols.ReplaceAllString(line, " ${1} ")
		return strings.Join(pyFields(line), " ")
	case TokenizeNone:
		return line
	}
	panic(fmt.Sprintf("eval: unknown BLEU tokenizer %q", string(t)))
}

func tokenize13a(line string) string {
	line = strings.ReplaceAll(line, "<skipped>", "")
	line = strings.ReplaceAll(line, "-\n", "")
	line = strings.ReplaceAll(line, "\n", " ")
	if strings.Contains(line, "&") {
		line = strings.ReplaceAll(line, "&quot;", `"`)
		line = strings.ReplaceAll(line, "&amp;", "&")
		line = strings.ReplaceAll(line, "&lt;", "<")
		line = strings.ReplaceAll(line, "&gt;", ">")
	}
	line = " " + line + " "
	line = re13aPunct.ReplaceAllString(line, " ${1} ")
	line = re13aPeriodL.ReplaceAllString(line, "${1} ${2} ")
	line = re13aPeriodR.ReplaceAllString(line, " ${1} ${2}")
	line = re13aDash.ReplaceAllString(line, "${1} ${2} ")
	return strings.Join(pyFields(line), " ")
}
