package eval

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// citationKeyword finds the words that introduce clause numbers. § needs no
// word boundary; the others must start a word.
var citationKeyword = regexp.MustCompile(`(?i)§§?|\b(?:sub)?sections?\b|\bsec\.|\barticles?\b|\bart\.|\bclauses?\b|\bparagraphs?\b|\bpara\.`)

// citationCleaner drops zero-width characters (CUAD text has "Section
// \u200b12.04"); other Unicode spaces count as spaces.
var citationCleaner = strings.NewReplacer(
	"\u200b", "", "\u200c", "", "\u200d", "", "\u2060", "", "\ufeff", "",
)

// romanNumeral matches a well-formed Roman numeral (in one case).
var romanNumeral = regexp.MustCompile(`^(?:M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})|m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3}))$`)

// Citations extracts the clause numbers cited in text, as canonical ids in
// order of first appearance, without duplicates:
//
//	"Section 14.3"                -> 14.3
//	"Sections 4.1 and 4.2"        -> 4.1, 4.2
//	"Article V", "ARTICLE 5"      -> 5 (Roman numerals become Arabic)
//	"§ 3.1", "§§ 3.1-3.4"         -> 3.1 (, 3.4)
//	"Clause 7(b)", "Clause 7 (B)" -> 7(b)
//	"paragraph 2(a)(iii)"         -> 2(a)(iii)
//
// Keywords (case-insensitive): section, subsection, sec., article, art.,
// clause, paragraph, para., § and §§. A number is digits with optional
// ".digits" parts, or an upper-case Roman numeral, followed by optional
// sub-clauses in parentheses (a letter, a doubled letter, a Roman numeral or
// up to three digits; lowercased). Only plural keywords (and §§) take lists,
// joined by commas, semicolons, "and", "or", "and/or", "&", "through", "to"
// or a dash; a range contributes its two ends. A keyword with no number
// after it ("this Section") cites nothing.
func Citations(text string) []string {
	text = citationCleaner.Replace(text)
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, loc := range citationKeyword.FindAllStringIndex(text, -1) {
		kw := pyLower(text[loc[0]:loc[1]])
		plural := kw == "§§" || strings.HasSuffix(kw, "s")
		rest := text[loc[1]:]
		id, rest, ok := parseCitationItem(rest)
		if !ok {
			continue
		}
		add(id)
		for plural {
			r, ok := skipCitationSeparator(rest)
			if !ok {
				break
			}
			if id, r, ok = parseCitationItem(r); !ok {
				break
			}
			add(id)
			rest = r
		}
	}
	return ids
}

func skipSpaces(s string) string {
	return strings.TrimLeftFunc(s, unicode.IsSpace)
}

// citationConnectors join list items; the alphabetic ones must end at a
// word boundary ("order" does not start with "or").
var citationConnectors = []string{"and/or", "and", "or", "through", "to", "&", "-", "–", "—"}

// skipCitationSeparator consumes a list separator (a comma or semicolon
// and/or a connector); ok is false when s does not start with one.
func skipCitationSeparator(s string) (string, bool) {
	s = skipSpaces(s)
	found := false
	if strings.HasPrefix(s, ",") || strings.HasPrefix(s, ";") {
		s, found = skipSpaces(s[1:]), true
	}
	for _, c := range citationConnectors {
		if len(s) < len(c) || !strings.EqualFold(s[:len(c)], c) {
			continue
		}
		after := s[len(c):]
		if isASCIILetter(c[0]) && after != "" && (isASCIILetter(after[0]) || isASCIIDigit(after[0])) {
			continue
		}
		return skipSpaces(after), true
	}
	return s, found
}

func isASCIILetter(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }

func isASCIIDigit(b byte) bool { return b >= '0' && b <= '9' }

// parseCitationItem parses one clause number at the start of s (after
// optional spaces): Arabic "14.3" or Roman "V", then sub-clauses "(b)(iii)".
func parseCitationItem(s string) (id, rest string, ok bool) {
	s = skipSpaces(s)
	i := 0
	switch {
	case i < len(s) && isASCIIDigit(s[i]):
		for i < len(s) && isASCIIDigit(s[i]) {
			i++
			// A dot continues the number only when a digit follows it.
			if i+1 < len(s) && s[i] == '.' && isASCIIDigit(s[i+1]) {
				i++
			}
		}
		id = s[:i]
	case i < len(s) && isASCIILetter(s[i]):
		for i < len(s) && isASCIILetter(s[i]) {
			i++
		}
		// Only upper-case Roman numerals: lower-case words such as "mix"
		// are too likely to be prose.
		if (i < len(s) && isASCIIDigit(s[i])) || strings.ToUpper(s[:i]) != s[:i] {
			return "", s, false
		}
		n, ok := romanValue(s[:i])
		if !ok {
			return "", s, false
		}
		id = strconv.Itoa(n)
	default:
		return "", s, false
	}
	s = s[i:]
	for {
		sub, r, ok := parseSubclause(s, id)
		if !ok {
			return id, s, true
		}
		id += sub
		s = r
	}
}

// parseSubclause parses "(b)" at the start of s; one space before the first
// sub-clause is allowed ("Clause 7 (b)"), none between sub-clauses.
func parseSubclause(s, id string) (sub, rest string, ok bool) {
	if !strings.Contains(id, "(") && strings.HasPrefix(s, " (") {
		s = s[1:]
	}
	if !strings.HasPrefix(s, "(") {
		return "", s, false
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return "", s, false
	}
	inner := pyLower(s[1:end])
	if !validSubclause(inner) {
		return "", s, false
	}
	return "(" + inner + ")", s[end+1:], true
}

// validSubclause accepts a letter, a doubled letter ("aa"), a lowercase
// Roman numeral or up to three digits.
func validSubclause(s string) bool {
	switch {
	case s == "":
		return false
	case len(s) <= 3 && strings.Trim(s, "0123456789") == "":
		return true
	case len(s) == 1 && isASCIILetter(s[0]):
		return true
	case len(s) == 2 && s[0] == s[1] && isASCIILetter(s[0]):
		return true
	}
	_, ok := romanValue(s)
	return ok
}

// romanValue converts a well-formed Roman numeral, all upper or all lower
// case, to its value.
func romanValue(s string) (int, bool) {
	if s == "" || !romanNumeral.MatchString(s) {
		return 0, false
	}
	values := map[byte]int{'i': 1, 'v': 5, 'x': 10, 'l': 50, 'c': 100, 'd': 500, 'm': 1000}
	s = pyLower(s)
	total := 0
	for i := range len(s) {
		v := values[s[i]]
		if i+1 < len(s) && values[s[i+1]] > v {
			total -= v
		} else {
			total += v
		}
	}
	return total, true
}

// CitationResult compares the clause numbers cited by a prediction and a
// reference. Each value is in [0, 1].
type CitationResult struct {
	Precision float64 `json:"citation_precision"`
	Recall    float64 `json:"citation_recall"`
	F1        float64 `json:"citation_f1"`
}

// CitationScores compares Citations(prediction) with Citations(reference) as
// sets: precision = |both| / |prediction's|, recall = |both| / |reference's|,
// F1 their harmonic mean (0 when both are 0). Edge cases:
//
//   - neither text cites anything: precision = recall = F1 = 1 (nothing to
//     cite and nothing cited is correct);
//   - only the reference cites: precision = recall = F1 = 0 (the answer
//     missed the clauses it should name);
//   - only the prediction cites: precision = recall = F1 = 0 (every citation
//     is spurious).
func CitationScores(prediction, reference string) CitationResult {
	pred, ref := Citations(prediction), Citations(reference)
	switch {
	case len(pred) == 0 && len(ref) == 0:
		return CitationResult{Precision: 1, Recall: 1, F1: 1}
	case len(pred) == 0 || len(ref) == 0:
		return CitationResult{}
	}
	inRef := map[string]bool{}
	for _, id := range ref {
		inRef[id] = true
	}
	both := 0
	for _, id := range pred {
		if inRef[id] {
			both++
		}
	}
	p := float64(both) / float64(len(pred))
	r := float64(both) / float64(len(ref))
	return CitationResult{Precision: p, Recall: r, F1: harmonicMean(p, r)}
}

// BestCitationScores compares the prediction with each reference
// (CitationScores) and keeps the comparison with the highest F1, the first
// on ties: the rule rouge_score's score_multi applies to ROUGE. It panics
// when references is empty.
func BestCitationScores(prediction string, references []string) CitationResult {
	if len(references) == 0 {
		panic("eval: BestCitationScores needs at least one reference")
	}
	best := CitationScores(prediction, references[0])
	for _, r := range references[1:] {
		if c := CitationScores(prediction, r); c.F1 > best.F1 {
			best = c
		}
	}
	return best
}

// harmonicMean is the F1 of a precision and a recall: 0 when both are 0
// (rouge_score's scoring.fmeasure).
func harmonicMean(a, b float64) float64 {
	if a+b == 0 {
		return 0
	}
	return 2 * a * b / (a + b)
}
