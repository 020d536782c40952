package eval

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRougeMulti checks rouge_score's score_multi rule on hand-computed
// values: prediction "x y z w" against A = "z x w y" and B = "x y q q q q".
//
//	rouge1: A 4/4 tokens shared, P = R = F = 1; B 2 shared, P 2/4, R 2/6,
//	        F 0.4                                  -> A
//	rouge2: A shares no bigram, F 0; B shares "x y", P 1/3, R 1/5,
//	        F 2(1/15)/(8/15) = 0.25                -> B
//	rougeL: A's LCS has 2 tokens, P = R = F = 0.5; B's LCS "x y", P 2/4,
//	        R 2/6, F 0.4                           -> A
func TestRougeMulti(t *testing.T) {
	pred, a, b := "x y z w", "z x w y", "x y q q q q"
	got := RougeMulti([]string{a, b}, pred, false)
	require.InDelta(t, 1, got.Rouge1.FMeasure, caseTol)
	require.InDelta(t, 1.0/3, got.Rouge2.Precision, caseTol)
	require.InDelta(t, 1.0/5, got.Rouge2.Recall, caseTol)
	require.InDelta(t, 0.25, got.Rouge2.FMeasure, caseTol)
	require.InDelta(t, 0.5, got.RougeL.FMeasure, caseTol)
	// Each type is the single-reference score against its best target.
	ra, rb := Rouge(a, pred, false), Rouge(b, pred, false)
	require.Equal(t, RougeScores{Rouge1: ra.Rouge1, Rouge2: rb.Rouge2, RougeL: ra.RougeL, RougeLsum: ra.RougeLsum}, got)
	require.Equal(t, RougeMulti([]string{b, a}, pred, false), got, "the order of different scores does not matter")

	// Equal F-measures: the first target wins, as numpy's argmax picks.
	// "a b" against "a b c d" is P 1, R 1/2; against "a" P 1/2, R 1;
	// both F 2/3.
	first := RougeMulti([]string{"a b c d", "a"}, "a b", false).Rouge1
	require.Equal(t, RougeScore{Precision: 1, Recall: 0.5, FMeasure: first.FMeasure}, first)
	require.Equal(t, 0.5, RougeMulti([]string{"a", "a b c d"}, "a b", false).Rouge1.Precision)
	require.Panics(t, func() { RougeMulti(nil, "x", false) })
}

// TestLegalMetricsTakeTheBestReference: the citation scores come from the
// reference with the best citation F1, the terminology overlap is the best
// over the references, and a report uses both.
func TestLegalMetricsTakeTheBestReference(t *testing.T) {
	pred := "Section 4.1 and Section 5 govern termination."
	refs := []string{"See Section 9.", "Sections 4.1 and 5.2 cover termination."}
	// Against the first: no shared citation, F1 0. Against the second:
	// {4.1, 5} vs {4.1, 5.2}, P = R = F1 = 1/2.
	require.Zero(t, CitationScores(pred, refs[0]).F1)
	require.Equal(t, CitationResult{Precision: 0.5, Recall: 0.5, F1: 0.5}, BestCitationScores(pred, refs))
	// Terminology: the first reference has no legal term (overlap 0 with
	// "termination"), the second has "termination" (overlap 1).
	require.Zero(t, TerminologyOverlap(pred, refs[0]))
	require.Equal(t, 1.0, BestTerminologyOverlap(pred, refs))

	r := Evaluate([]Example{{Prediction: pred, References: refs}})
	require.Equal(t, 0.5, r.LegalMetrics.CitationF1)
	require.Equal(t, 1.0, r.LegalMetrics.TerminologyOverlap)
	multi := RougeMulti(refs, pred, true)
	require.Equal(t, multi.Rouge1.FMeasure, r.Rouge.Rouge1)
	require.Equal(t, multi.RougeL.FMeasure, r.PerExample[0].ROUGEL)
}
