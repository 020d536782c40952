package eval

import (
	"fmt"
	"math"
	"strings"
)

// bleuMaxOrder is sacrebleu's default max_ngram_order.
const bleuMaxOrder = 4

// BLEUSmooth names one of sacrebleu's smoothing methods.
type BLEUSmooth string

// The sacrebleu smoothing methods.
const (
	// SmoothExp is sacrebleu's default "exp" smoothing (NIST geometric
	// sequence smoothing): the k-th order with no match gets precision
	// 100/(2^k * total).
	SmoothExp BLEUSmooth = "exp"
	// SmoothFloor replaces a zero match count by SmoothValue (default 0.1).
	SmoothFloor BLEUSmooth = "floor"
	// SmoothAddK adds SmoothValue (default 1) to the counts and totals of
	// orders 2 and up.
	SmoothAddK BLEUSmooth = "add-k"
	// SmoothNone applies no smoothing.
	SmoothNone BLEUSmooth = "none"
)

// BLEUOptions configures BLEU like sacrebleu's BLEU(...) constructor. The
// zero value is sacrebleu's BLEU()/corpus_bleu defaults: 13a tokenizer, exp
// smoothing, case-sensitive, no effective order. sacrebleu.sentence_bleu
// additionally uses the effective order: see DefaultSentenceBLEUOptions.
type BLEUOptions struct {
	// Tokenize is the tokenizer; "" means Tokenize13a.
	Tokenize BLEUTokenizer
	// Smooth is the smoothing method; "" means SmoothExp.
	Smooth BLEUSmooth
	// SmoothValue is the value for floor and add-k; 0 means sacrebleu's
	// default for the method (floor 0.1, add-k 1). Ignored by exp and none.
	SmoothValue float64
	// Lowercase lowercases hypotheses and references before tokenizing.
	Lowercase bool
	// EffectiveOrder averages only over the n-gram orders for which the
	// hypothesis has n-grams (sacrebleu's use_effective_order / eff:yes).
	EffectiveOrder bool
}

// DefaultSentenceBLEUOptions returns the defaults of sacrebleu.sentence_bleu:
// 13a, exp smoothing, use_effective_order=True.
func DefaultSentenceBLEUOptions() BLEUOptions {
	return BLEUOptions{Tokenize: Tokenize13a, Smooth: SmoothExp, EffectiveOrder: true}
}

// BLEUResult is sacrebleu's BLEUScore. Score and Precisions are on
// sacrebleu's 0-100 scale; BP is in [0, 1].
type BLEUResult struct {
	Score float64 `json:"score"`
	// Counts[n-1] and Totals[n-1] are the clipped matches and the hypothesis
	// n-grams of order n. As in sacrebleu, under add-k smoothing the values
	// of orders >= 2 include the added k (so they can be fractional).
	Counts     []float64 `json:"counts"`
	Totals     []float64 `json:"totals"`
	Precisions []float64 `json:"precisions"`
	BP         float64   `json:"bp"`
	SysLen     int       `json:"sys_len"`
	RefLen     int       `json:"ref_len"`
}

// ngramCounts maps an n-gram (its tokens joined by single spaces; tokens
// never contain whitespace) to its count.
type ngramCounts map[string]int

// add counts the n-grams of order n in tokens.
func (c ngramCounts) add(tokens []string, n int) {
	for i := 0; i+n <= len(tokens); i++ {
		c[strings.Join(tokens[i:i+n], " ")]++
	}
}

// extractNgrams is sacrebleu's extract_all_word_ngrams(line, 1, 4).
func extractNgrams(line string) (ngramCounts, int) {
	tokens := pyFields(line)
	counts := ngramCounts{}
	for n := 1; n <= bleuMaxOrder; n++ {
		counts.add(tokens, n)
	}
	return counts, len(tokens)
}

// bleuStats are the sufficient statistics of one or more segments.
type bleuStats struct {
	sysLen, refLen  int
	correct, totals [bleuMaxOrder]int
}

func (s *bleuStats) add(o bleuStats) {
	s.sysLen += o.sysLen
	s.refLen += o.refLen
	for i := range s.correct {
		s.correct[i] += o.correct[i]
		s.totals[i] += o.totals[i]
	}
}

func (o BLEUOptions) preprocess(seg string) string {
	if o.Lowercase {
		seg = pyLower(seg)
	}
	return o.Tokenize.tokenize(strings.TrimRightFunc(seg, pyIsSpace))
}

// segmentStats computes one segment's statistics against its references.
func (o BLEUOptions) segmentStats(hyp string, refs []string) bleuStats {
	var refNgrams ngramCounts
	refLens := make([]int, 0, len(refs))
	for _, ref := range refs {
		ngrams, n := extractNgrams(o.preprocess(ref))
		refLens = append(refLens, n)
		if refNgrams == nil {
			refNgrams = ngrams
			continue
		}
		for g, c := range ngrams {
			refNgrams[g] = max(refNgrams[g], c)
		}
	}
	hypNgrams, hypLen := extractNgrams(o.preprocess(hyp))
	st := bleuStats{sysLen: hypLen, refLen: closestRefLen(hypLen, refLens)}
	for g, c := range hypNgrams {
		n := strings.Count(g, " ")
		st.totals[n] += c
		st.correct[n] += min(c, refNgrams[g])
	}
	return st
}

// closestRefLen is sacrebleu's _get_closest_ref_len: the reference length
// closest to the hypothesis length, the shorter one on ties.
func closestRefLen(hypLen int, refLens []int) int {
	closestDiff, closestLen := -1, -1
	for _, l := range refLens {
		diff := hypLen - l
		if diff < 0 {
			diff = -diff
		}
		if closestDiff == -1 || diff < closestDiff {
			closestDiff, closestLen = diff, l
		} else if diff == closestDiff && l < closestLen {
			closestLen = l
		}
	}
	return closestLen
}

// score is sacrebleu's BLEU.compute_bleu.
func (o BLEUOptions) score(st bleuStats) BLEUResult {
	smooth := o.Smooth
	if smooth == "" {
		smooth = SmoothExp
	}
	smoothValue := o.SmoothValue
	switch smooth {
	case SmoothFloor:
		if smoothValue == 0 {
			smoothValue = 0.1
		}
	case SmoothAddK:
		if smoothValue == 0 {
			smoothValue = 1
		}
	case SmoothExp, SmoothNone:
	default:
		panic(fmt.Sprintf("eval: unknown BLEU smoothing method %q", string(smooth)))
	}

	res := BLEUResult{
		Counts:     make([]float64, bleuMaxOrder),
		Totals:     make([]float64, bleuMaxOrder),
		Precisions: make([]float64, bleuMaxOrder),
		BP:         1,
		SysLen:     st.sysLen,
		RefLen:     st.refLen,
	}
	anyCorrect := false
	for i := range bleuMaxOrder {
		res.Counts[i] = float64(st.correct[i])
		res.Totals[i] = float64(st.totals[i])
		anyCorrect = anyCorrect || st.correct[i] != 0
	}
	if st.sysLen < st.refLen {
		res.BP = 0
		if st.sysLen > 0 {
			res.BP = math.Exp(1 - float64(st.refLen)/float64(st.sysLen))
		}
	}
	if !anyCorrect {
		return res
	}

	smoothMteval := 1.0
	effOrder := bleuMaxOrder
	for n := 1; n <= bleuMaxOrder; n++ {
		i := n - 1
		if smooth == SmoothAddK && n > 1 {
			res.Counts[i] += smoothValue
			res.Totals[i] += smoothValue
		}
		if res.Totals[i] == 0 {
			break
		}
		if o.EffectiveOrder {
			effOrder = n
		}
		switch {
		case res.Counts[i] != 0:
			res.Precisions[i] = 100 * res.Counts[i] / res.Totals[i]
		case smooth == SmoothExp:
			smoothMteval *= 2
			res.Precisions[i] = 100 / (smoothMteval * res.Totals[i])
		case smooth == SmoothFloor:
			res.Precisions[i] = 100 * smoothValue / res.Totals[i]
		}
	}
	sum := 0.0
	for _, p := range res.Precisions[:effOrder] {
		if p == 0 {
			sum += -9999999999 // sacrebleu's my_log(0)
		} else {
			sum += math.Log(p)
		}
	}
	res.Score = res.BP * math.Exp(sum/float64(effOrder))
	return res
}

// SentenceBLEU scores one hypothesis against its references like
// sacrebleu's BLEU(**opts).sentence_score(hyp, refs). Use
// DefaultSentenceBLEUOptions() for sacrebleu.sentence_bleu's defaults.
// It panics if refs is empty or opts names an unknown tokenizer or smoothing
// method.
func SentenceBLEU(hyp string, refs []string, opts BLEUOptions) BLEUResult {
	if len(refs) == 0 {
		panic("eval: SentenceBLEU needs at least one reference")
	}
	return opts.score(opts.segmentStats(hyp, refs))
}

// CorpusBLEU scores a corpus like sacrebleu's BLEU(**opts).corpus_score.
// refs[i] holds the references of hyps[i] (one slice per segment, which may
// differ in length; sacrebleu's reference streams transposed, with its None
// padding dropped). It panics if the lengths differ or a segment has no
// reference.
func CorpusBLEU(hyps []string, refs [][]string, opts BLEUOptions) BLEUResult {
	if len(hyps) != len(refs) {
		panic(fmt.Sprintf("eval: CorpusBLEU got %d hypotheses and %d reference sets", len(hyps), len(refs)))
	}
	var total bleuStats
	for i, hyp := range hyps {
		if len(refs[i]) == 0 {
			panic(fmt.Sprintf("eval: CorpusBLEU segment %d has no reference", i))
		}
		total.add(opts.segmentStats(hyp, refs[i]))
	}
	return opts.score(total)
}
