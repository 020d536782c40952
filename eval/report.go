package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tune-dev/tune/internal/atomicfile"
	"github.com/tune-dev/tune/internal/utf8text"
)

// Example is one prediction with its reference answers (at least one).
type Example struct {
	Prediction string
	References []string
}

// ExampleScores are the per-example scores. BLEU is on sacrebleu's 0-100
// scale; the ROUGE values are F-measures in [0, 1]; F1 is in [0, 1].
type ExampleScores struct {
	// BLEU is sacrebleu.sentence_bleu with its defaults (13a, exp
	// smoothing, effective order) against all references.
	BLEU float64 `json:"bleu"`
	// ROUGE1 .. ROUGELsum are rouge_score F-measures with the Porter
	// stemmer; with several references each is the best over them
	// (RougeMulti, rouge_score's score_multi).
	ROUGE1    float64 `json:"rouge1"`
	ROUGE2    float64 `json:"rouge2"`
	ROUGEL    float64 `json:"rougeL"`
	ROUGELsum float64 `json:"rougeLsum"`
	// ExactMatch and F1 are SQuAD's, maximised over the references.
	ExactMatch int     `json:"exact_match"`
	F1         float64 `json:"f1"`
}

// RougeReport holds mean ROUGE F-measures (with stemming), in [0, 1].
type RougeReport struct {
	Rouge1    float64 `json:"rouge1"`
	Rouge2    float64 `json:"rouge2"`
	RougeL    float64 `json:"rougeL"`
	RougeLsum float64 `json:"rougeLsum"`
}

// LegalReport holds mean legal metrics, each in [0, 1]. With several
// references an example's citation scores are those against the reference
// with the best citation F1, and its terminology overlap the best over the
// references (the rule of rouge_score's score_multi).
type LegalReport struct {
	CitationPrecision  float64 `json:"citation_precision"`
	CitationRecall     float64 `json:"citation_recall"`
	CitationF1         float64 `json:"citation_f1"`
	TerminologyOverlap float64 `json:"terminology_overlap"`
}

// Sample is one example of the report with its scores.
type Sample struct {
	Prediction string        `json:"prediction"`
	References []string      `json:"references"`
	Scores     ExampleScores `json:"scores"`
}

// maxSamples is how many examples a Report shows.
const maxSamples = 20

// Report is the result of an evaluation run, written by WriteReport.
type Report struct {
	// BLEU is sacrebleu corpus BLEU (defaults: 13a, exp smoothing, no
	// effective order) over all examples, 0-100.
	BLEU  float64     `json:"bleu"`
	Rouge RougeReport `json:"rouge"`
	// ExactMatch is the fraction of exact matches; F1 the mean token F1.
	ExactMatch   float64     `json:"exact_match"`
	F1           float64     `json:"f1"`
	LegalMetrics LegalReport `json:"legal_metrics"`
	N            int         `json:"n"`
	// Samples are the first (up to 20) examples with their scores.
	Samples []Sample `json:"samples"`
	// PerExample holds every example's scores in input order, for callers
	// that write them out separately; it is not part of the report JSON.
	PerExample []ExampleScores `json:"-"`
}

// ScoreExample computes the per-example scores of ex, which must have at
// least one reference (it panics otherwise).
func ScoreExample(ex Example) ExampleScores {
	if len(ex.References) == 0 {
		panic("eval: ScoreExample needs at least one reference")
	}
	bleu := SentenceBLEU(ex.Prediction, ex.References, DefaultSentenceBLEUOptions())
	r := RougeMulti(ex.References, ex.Prediction, true)
	return ExampleScores{
		BLEU:       bleu.Score,
		ROUGE1:     r.Rouge1.FMeasure,
		ROUGE2:     r.Rouge2.FMeasure,
		ROUGEL:     r.RougeL.FMeasure,
		ROUGELsum:  r.RougeLsum.FMeasure,
		ExactMatch: ExactMatch(ex.Prediction, ex.References),
		F1:         TokenF1(ex.Prediction, ex.References),
	}
}

// Evaluate scores every example and aggregates the report. Means over zero
// examples are 0. Every example must have at least one reference.
func Evaluate(examples []Example) Report {
	rep := Report{
		N:          len(examples),
		Samples:    []Sample{},
		PerExample: make([]ExampleScores, 0, len(examples)),
	}
	hyps := make([]string, len(examples))
	refs := make([][]string, len(examples))
	for i, ex := range examples {
		s := ScoreExample(ex)
		rep.PerExample = append(rep.PerExample, s)
		hyps[i], refs[i] = ex.Prediction, ex.References
		rep.Rouge.Rouge1 += s.ROUGE1
		rep.Rouge.Rouge2 += s.ROUGE2
		rep.Rouge.RougeL += s.ROUGEL
		rep.Rouge.RougeLsum += s.ROUGELsum
		rep.ExactMatch += float64(s.ExactMatch)
		rep.F1 += s.F1
		c := BestCitationScores(ex.Prediction, ex.References)
		rep.LegalMetrics.CitationPrecision += c.Precision
		rep.LegalMetrics.CitationRecall += c.Recall
		rep.LegalMetrics.CitationF1 += c.F1
		rep.LegalMetrics.TerminologyOverlap += BestTerminologyOverlap(ex.Prediction, ex.References)
		if i < maxSamples {
			rep.Samples = append(rep.Samples, Sample{Prediction: ex.Prediction, References: ex.References, Scores: s})
		}
	}
	rep.BLEU = CorpusBLEU(hyps, refs, BLEUOptions{}).Score
	if n := float64(len(examples)); n > 0 {
		for _, v := range []*float64{
			&rep.Rouge.Rouge1, &rep.Rouge.Rouge2, &rep.Rouge.RougeL, &rep.Rouge.RougeLsum,
			&rep.ExactMatch, &rep.F1,
			&rep.LegalMetrics.CitationPrecision, &rep.LegalMetrics.CitationRecall,
			&rep.LegalMetrics.CitationF1, &rep.LegalMetrics.TerminologyOverlap,
		} {
			*v /= n
		}
	}
	return rep
}

// Headline gives the report's main numbers on one line, as the commands
// print them.
func (r *Report) Headline() string {
	return fmt.Sprintf("%d examples: BLEU %.2f, ROUGE-L %.4f, exact match %.4f, F1 %.4f, citation F1 %.4f",
		r.N, r.BLEU, r.Rouge.RougeL, r.ExactMatch, r.F1, r.LegalMetrics.CitationF1)
}

// LineError is an error about one line of a predictions file.
type LineError struct {
	Path string
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// ErrMissingField is wrapped by the LineError of a record that lacks its
// prediction or its reference(s).
var ErrMissingField = errors.New("missing field")

// predictionRecord is one JSON line; pointers tell absent from empty.
type predictionRecord struct {
	Prediction *string   `json:"prediction"`
	Reference  *string   `json:"reference,omitempty"`
	References *[]string `json:"references,omitempty"`
}

// ReadPredictions reads a JSONL predictions file: one object a line,
// {"prediction": ..., "reference": ...} or {"prediction": ...,
// "references": [...]}; other fields are ignored and blank lines skipped.
// A malformed line, a record missing its prediction or reference, a record
// with both "reference" and "references", or an empty "references" list is
// a *LineError naming the file and line, and so is a line that is not
// UTF-8 (rather than scoring replacement characters). A file with no
// records is an error too.
func ReadPredictions(path string) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var examples []Example
	r := bufio.NewReader(f)
	for line := 1; ; line++ {
		data, err := r.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 {
			if err := utf8text.Check(data); err != nil {
				return nil, &LineError{Path: path, Line: line, Err: err}
			}
			ex, perr := parsePredictionLine(trimmed)
			if perr != nil {
				return nil, &LineError{Path: path, Line: line, Err: perr}
			}
			examples = append(examples, ex)
		}
		if err == io.EOF {
			break
		}
	}
	if len(examples) == 0 {
		return nil, fmt.Errorf("%s: no prediction records", path)
	}
	return examples, nil
}

func parsePredictionLine(data []byte) (Example, error) {
	var rec predictionRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return Example{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if rec.Prediction == nil {
		return Example{}, fmt.Errorf(`%w "prediction"`, ErrMissingField)
	}
	ex := Example{Prediction: *rec.Prediction}
	switch {
	case rec.Reference != nil && rec.References != nil:
		return Example{}, errors.New(`record has both "reference" and "references"`)
	case rec.Reference != nil:
		ex.References = []string{*rec.Reference}
	case rec.References != nil && len(*rec.References) > 0:
		ex.References = *rec.References
	case rec.References != nil:
		return Example{}, errors.New(`"references" is empty`)
	default:
		return Example{}, fmt.Errorf(`%w "reference" or "references"`, ErrMissingField)
	}
	return ex, nil
}

// WriteReport writes r as indented JSON to path (mode 0644) atomically: to a
// temporary file in the same directory, synced, then renamed over path, so
// readers never see a partial report.
func WriteReport(path string, r Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return atomicfile.WriteFile(path, data, 0o644)
}
