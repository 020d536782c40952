package eval

import (
	"slices"
	"strings"
)

// RougeScore is one ROUGE measure, each value in [0, 1].
type RougeScore struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	FMeasure  float64 `json:"fmeasure"`
}

// RougeScores holds the four ROUGE variants rouge_score computes.
type RougeScores struct {
	Rouge1    RougeScore `json:"rouge1"`
	Rouge2    RougeScore `json:"rouge2"`
	RougeL    RougeScore `json:"rougeL"`
	RougeLsum RougeScore `json:"rougeLsum"`
}

// RougeTokenize is rouge_score's default tokenizer: lowercase (pyLower,
// Python's str.lower()), replace every run of characters outside [a-z0-9]
// by a space, split, and (when stem is true) Porter-stem the tokens longer
// than three characters. So "İstanbul" gives "i", "stanbul", as in Python,
// where "İ" lowercases to "i" + U+0307.
func RougeTokenize(text string, stem bool) []string {
	lower := pyLower(text)
	var b strings.Builder
	b.Grow(len(lower))
	// Every byte of a multi-byte character is outside [a-z0-9].
	for i := 0; i < len(lower); i++ {
		if c := lower[i]; c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			b.WriteByte(' ')
		}
	}
	tokens := strings.Fields(b.String())
	if stem {
		for i, t := range tokens {
			if len(t) > 3 {
				tokens[i] = PorterStem(t)
			}
		}
	}
	return tokens
}

// Rouge scores prediction against target like rouge_score's
// RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"],
// use_stemmer=stem).score(target, prediction). For rougeLsum, sentences are
// separated by "\n" (rouge_score's default, split_summaries=False).
func Rouge(target, prediction string, stem bool) RougeScores {
	t := RougeTokenize(target, stem)
	p := RougeTokenize(prediction, stem)
	return RougeScores{
		Rouge1:    scoreNgrams(t, p, 1),
		Rouge2:    scoreNgrams(t, p, 2),
		RougeL:    scoreLCS(t, p),
		RougeLsum: scoreSummaryLCS(rougeSentences(target, stem), rougeSentences(prediction, stem)),
	}
}

// RougeMulti scores prediction against several targets like rouge_score's
// RougeScorer.score_multi: for each ROUGE type separately, the score
// against the target with the highest F-measure (the first such target on
// ties, as numpy's argmax). It panics when targets is empty.
func RougeMulti(targets []string, prediction string, stem bool) RougeScores {
	if len(targets) == 0 {
		panic("eval: RougeMulti needs at least one target")
	}
	best := Rouge(targets[0], prediction, stem)
	for _, t := range targets[1:] {
		s := Rouge(t, prediction, stem)
		for _, p := range []struct{ best, s *RougeScore }{
			{&best.Rouge1, &s.Rouge1}, {&best.Rouge2, &s.Rouge2}, {&best.RougeL, &s.RougeL}, {&best.RougeLsum, &s.RougeLsum},
		} {
			if p.s.FMeasure > p.best.FMeasure {
				*p.best = *p.s
			}
		}
	}
	return best
}

func newRougeScore(precision, recall float64) RougeScore {
	return RougeScore{Precision: precision, Recall: recall, FMeasure: harmonicMean(precision, recall)}
}

// scoreNgrams is rouge_score's _score_ngrams.
func scoreNgrams(target, prediction []string, n int) RougeScore {
	tg, pg := ngramCounts{}, ngramCounts{}
	tg.add(target, n)
	pg.add(prediction, n)
	inter, tn, pn := 0, 0, 0
	for g, c := range tg {
		inter += min(c, pg[g])
		tn += c
	}
	for _, c := range pg {
		pn += c
	}
	return newRougeScore(float64(inter)/float64(max(pn, 1)), float64(inter)/float64(max(tn, 1)))
}

// lcsTable is rouge_score's _lcs_table: t[i][j] is the LCS length of
// ref[:i] and can[:j].
func lcsTable(ref, can []string) [][]int {
	t := make([][]int, len(ref)+1)
	for i := range t {
		t[i] = make([]int, len(can)+1)
	}
	for i := 1; i <= len(ref); i++ {
		for j := 1; j <= len(can); j++ {
			if ref[i-1] == can[j-1] {
				t[i][j] = t[i-1][j-1] + 1
			} else {
				t[i][j] = max(t[i-1][j], t[i][j-1])
			}
		}
	}
	return t
}

// scoreLCS is rouge_score's _score_lcs (ROUGE-L).
func scoreLCS(target, prediction []string) RougeScore {
	if len(target) == 0 || len(prediction) == 0 {
		return RougeScore{}
	}
	l := float64(lcsTable(target, prediction)[len(target)][len(prediction)])
	return newRougeScore(l/float64(len(prediction)), l/float64(len(target)))
}

// rougeSentences splits text on "\n", drops empty pieces and tokenizes each.
func rougeSentences(text string, stem bool) [][]string {
	var sents [][]string
	for _, s := range strings.Split(text, "\n") {
		if s != "" {
			sents = append(sents, RougeTokenize(s, stem))
		}
	}
	return sents
}

// lcsIndices is rouge_score's lcs_ind with _backtrack_norec: the indices
// into ref of one LCS of ref and can, ascending.
func lcsIndices(ref, can []string) []int {
	t := lcsTable(ref, can)
	var idx []int
	i, j := len(ref), len(can)
	for i > 0 && j > 0 {
		switch {
		case ref[i-1] == can[j-1]:
			idx = append(idx, i-1)
			i--
			j--
		case t[i][j-1] > t[i-1][j]:
			j--
		default:
			i--
		}
	}
	slices.Reverse(idx)
	return idx
}

// scoreSummaryLCS is rouge_score's _summary_level_lcs (ROUGE-Lsum): for each
// reference sentence, the union of its LCS with every candidate sentence,
// counting each token at most as often as it occurs on both sides.
func scoreSummaryLCS(refSents, canSents [][]string) RougeScore {
	if len(refSents) == 0 || len(canSents) == 0 {
		return RougeScore{}
	}
	m, n := 0, 0
	refCounts, canCounts := map[string]int{}, map[string]int{}
	for _, s := range refSents {
		m += len(s)
		for _, t := range s {
			refCounts[t]++
		}
	}
	for _, s := range canSents {
		n += len(s)
		for _, t := range s {
			canCounts[t]++
		}
	}
	if m == 0 || n == 0 {
		return RougeScore{}
	}
	hits := 0
	for _, r := range refSents {
		union := map[int]bool{}
		for _, c := range canSents {
			for _, i := range lcsIndices(r, c) {
				union[i] = true
			}
		}
		// The union is visited in ascending index order, as rouge_score's
		// sorted(set().union(...)) does.
		for i := range r {
			if !union[i] {
				continue
			}
			tok := r[i]
			if canCounts[tok] > 0 && refCounts[tok] > 0 {
				hits++
				canCounts[tok]--
				refCounts[tok]--
			}
		}
	}
	return newRougeScore(float64(hits)/float64(n), float64(hits)/float64(m))
}
