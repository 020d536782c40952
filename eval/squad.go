package eval

import (
	"strings"
	"unicode"
)

// SQuADNormalize is the SQuAD evaluation script's normalize_answer: lowercase,
// drop ASCII punctuation (Python's string.punctuation), remove the articles
// "a", "an" and "the" as whole words, and collapse whitespace.
func SQuADNormalize(s string) string {
	s = pyLower(s)
	s = strings.Map(func(r rune) rune {
		if r < 0x80 && unicode.IsPrint(r) && !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ' {
			return -1
		}
		return r
	}, s)
	// re.sub(r'\b(a|an|the)\b', ' ', s): a match is exactly a maximal run of
	// (Unicode) word characters equal to an article.
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexFunc(s, isPyWordChar)
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexFunc(s, func(r rune) bool { return !isPyWordChar(r) })
		if j < 0 {
			j = len(s)
		}
		switch w := s[:j]; w {
		case "a", "an", "the":
			b.WriteByte(' ')
		default:
			b.WriteString(w)
		}
		s = s[j:]
	}
	return strings.Join(pyFields(b.String()), " ")
}

// isPyWordChar reports whether r matches \w in a Python str pattern.
func isPyWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// ExactMatch is 1 when the SQuAD-normalized prediction equals the
// normalized form of any reference, else 0.
func ExactMatch(prediction string, references []string) int {
	p := SQuADNormalize(prediction)
	for _, r := range references {
		if SQuADNormalize(r) == p {
			return 1
		}
	}
	return 0
}

// TokenF1 is the SQuAD token-overlap F1 (in [0, 1]) between the normalized
// prediction and the best-matching reference. As in the SQuAD 2.0 script,
// when either side normalizes to no tokens the F1 is 1 if both do and 0
// otherwise. It is 0 when references is empty.
func TokenF1(prediction string, references []string) float64 {
	p := strings.Fields(SQuADNormalize(prediction))
	best := 0.0
	for _, r := range references {
		best = max(best, tokenF1(p, strings.Fields(SQuADNormalize(r))))
	}
	return best
}

func tokenF1(pred, ref []string) float64 {
	if len(pred) == 0 || len(ref) == 0 {
		if len(pred) == len(ref) {
			return 1
		}
		return 0
	}
	refCounts := map[string]int{}
	for _, t := range ref {
		refCounts[t]++
	}
	same := 0
	for _, t := range pred {
		if refCounts[t] > 0 {
			refCounts[t]--
			same++
		}
	}
	if same == 0 {
		return 0
	}
	return harmonicMean(float64(same)/float64(len(pred)), float64(same)/float64(len(ref)))
}
