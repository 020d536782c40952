// Package eval scores model answers to contract questions: the metrics the
// `tune eval` command reports, each written to match a reference
// implementation exactly (to 1e-4 on the reference cases in
// testdata/metrics).
//
// # BLEU
//
// SentenceBLEU and CorpusBLEU reproduce sacrebleu 2.6.0: the 13a (default),
// intl and none tokenizers, optional lowercasing, smoothing exp (default),
// floor (default 0.1), add-k (default 1) and none, effective order, several
// references per segment (n-gram counts clipped by the maximum count over
// the references; the brevity penalty uses the reference length closest to
// the hypothesis length, the shorter on ties). BLEUResult exposes the score
// and precisions on sacrebleu's 0-100 scale, the brevity penalty (0-1), the
// n-gram counts and totals and the system and reference lengths.
// DefaultSentenceBLEUOptions gives sacrebleu.sentence_bleu's defaults; the
// zero BLEUOptions gives corpus_bleu's.
//
// # ROUGE
//
// Rouge reproduces google-research rouge_score's RougeScorer: ROUGE-1,
// ROUGE-2, ROUGE-L (longest common subsequence) and ROUGE-Lsum
// (summary-level union LCS over sentences split on newlines), each as
// precision, recall and F-measure in [0, 1]. Tokens are rouge_score's:
// lowercase as Python's str.lower() does (full case mapping: "İ" becomes
// "i" + U+0307, a final "Σ" becomes "ς"; the same lowercasing serves
// sacrebleu's lowercase option, SQuAD normalization and the citation
// metric), every character outside [a-z0-9] becomes a space, split; with
// stemming, tokens longer than three characters go through PorterStem, the
// Porter stemmer as NLTK 3.8 implements it in NLTK_EXTENSIONS mode
// (including its table of irregular forms). RougeMulti scores several
// references like rouge_score's score_multi: per ROUGE type, the reference
// with the best F-measure (the first on ties); the reports use it.
//
// # SQuAD exact match and F1
//
// ExactMatch and TokenF1 follow the SQuAD evaluation script:
// SQuADNormalize lowercases, drops ASCII punctuation, removes the articles
// a/an/the and collapses whitespace; F1 is the token-overlap F1. Both take
// the best score over the references. Exact match is 0 or 1, F1 is in
// [0, 1]; as in the SQuAD 2.0 script, two answers that both normalize to
// nothing have F1 1.
//
// # Legal metrics
//
// Citations extracts the clause numbers an answer cites ("Section 14.3",
// "Sections 4.1 and 4.2", "Article V" = "ARTICLE 5", "§ 3.1", "Clause 7(b)",
// "paragraph 2(a)") as canonical ids ("14.3", "4.1", "4.2", "5", "3.1",
// "7(b)", "2(a)"). CitationScores compares the prediction's set with the
// reference's: precision, recall and F1 in [0, 1]; when neither cites
// anything all three are 1, when only one side cites they are all 0.
//
// TerminologyOverlap measures whether an answer uses the same legal
// vocabulary as the reference: LegalTerms lists about 140 legal terms and
// phrases (indemnification, governing law, force majeure, liquidated
// damages, ...), matched on stemmed rouge_score tokens; the score is the
// Jaccard overlap |terms in both| / |terms in either| in [0, 1], and 1 when
// neither text contains a term.
//
// # Reports
//
// ReadPredictions reads the JSONL file given to `tune eval --predictions`
// ({"prediction": ..., "reference": ...} or {"prediction": ...,
// "references": [...]} per line); errors name the file and line.
// ScoreExample gives an example's sentence BLEU (0-100), ROUGE F-measures
// with stemming, exact match and F1. Evaluate aggregates a Report: corpus
// BLEU (0-100), mean ROUGE F-measures, exact-match rate, mean F1, mean
// legal metrics (each example's best over its references, as for ROUGE),
// the example count and the first 20 examples with their scores.
// WriteReport writes it as JSON, atomically, and Report.Headline gives its
// main numbers on one line. WritePredictions writes answers in the format
// ReadPredictions reads.
//
// With several references every metric follows its reference tool:
// sacrebleu's BLEU takes all of them natively, SQuAD's exact match and F1
// and rouge_score's score_multi the best one, and the legal metrics, which
// have no reference tool, the best one too (BestCitationScores,
// BestTerminologyOverlap).
package eval
