package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "predictions.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestReadPredictions(t *testing.T) {
	path := writeFile(t, `{"prediction": "thirty days", "reference": "thirty (30) days", "id": 7}

{"prediction": "", "references": ["Section 2", "Article II"]}
{"references": ["x"], "prediction": "y"}`) // no final newline
	got, err := ReadPredictions(path)
	require.NoError(t, err)
	assert.Equal(t, []Example{
		{Prediction: "thirty days", References: []string{"thirty (30) days"}},
		{Prediction: "", References: []string{"Section 2", "Article II"}},
		{Prediction: "y", References: []string{"x"}},
	}, got)
}

func TestReadPredictionsErrors(t *testing.T) {
	good := `{"prediction": "a", "reference": "b"}` + "\n"
	tests := []struct {
		name    string
		content string
		line    int
		missing bool // wraps ErrMissingField
		msg     string
	}{
		{"malformed JSON", good + `{"prediction": "a", "reference": ` + "\n", 2, false, "invalid JSON"},
		{"not an object", good + good + "[1, 2]\n", 3, false, "invalid JSON"},
		{"trailing garbage", `{"prediction": "a", "reference": "b"} x` + "\n", 1, false, "invalid JSON"},
		{"wrong type", good + `{"prediction": 3, "reference": "b"}` + "\n", 2, false, "invalid JSON"},
		{"missing prediction", good + "\n" + `{"reference": "b"}` + "\n", 3, true, `"prediction"`},
		{"null prediction", `{"prediction": null, "reference": "b"}`, 1, true, `"prediction"`},
		{"missing reference", good + `{"prediction": "a"}` + "\n", 2, true, `"reference" or "references"`},
		{"empty references", `{"prediction": "a", "references": []}`, 1, false, `"references" is empty`},
		{"both", `{"prediction": "a", "reference": "b", "references": ["c"]}`, 1, false, "both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content)
			_, err := ReadPredictions(path)
			require.Error(t, err)
			var le *LineError
			require.True(t, errors.As(err, &le), "%v is not a *LineError", err)
			assert.Equal(t, path, le.Path)
			assert.Equal(t, tt.line, le.Line)
			assert.Contains(t, err.Error(), fmt.Sprintf("%s:%d: ", path, tt.line))
			assert.Contains(t, err.Error(), tt.msg)
			assert.Equal(t, tt.missing, errors.Is(err, ErrMissingField))
		})
	}

	_, err := ReadPredictions(writeFile(t, "\n  \n"))
	assert.ErrorContains(t, err, "no prediction records")
	_, err = ReadPredictions(filepath.Join(t.TempDir(), "absent.jsonl"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// objectKeys returns the keys of the JSON object in data, in order.
func objectKeys(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

func TestExampleScoresJSON(t *testing.T) {
	s := ScoreExample(Example{Prediction: "Thirty (30) days.", References: []string{"thirty (30) days"}})
	data, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Equal(t, []string{"bleu", "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match", "f1"}, objectKeys(t, data))
	assert.Equal(t, 1, s.ExactMatch)
	assert.InDelta(t, 1, s.F1, 1e-12)
	assert.InDelta(t, 1, s.ROUGE1, 1e-12) // case and punctuation are ignored
	assert.InDelta(t, 1, s.ROUGELsum, 1e-12)
	// 13a keeps case and splits the final period: "Thirty" and "." miss.
	want := SentenceBLEU("Thirty (30) days.", []string{"thirty (30) days"}, BLEUOptions{EffectiveOrder: true})
	assert.InDelta(t, want.Score, s.BLEU, 1e-12)
	assert.Less(t, s.BLEU, 100.0)
}

func TestEvaluateAndWriteReport(t *testing.T) {
	var examples []Example
	for i := range 25 {
		ref := fmt.Sprintf("Under Section %d.1 the indemnification obligations survive termination.", i+1)
		examples = append(examples, Example{Prediction: ref, References: []string{ref, "other"}})
	}
	rep := Evaluate(examples)
	assert.Equal(t, 25, rep.N)
	assert.Len(t, rep.Samples, 20)
	assert.Len(t, rep.PerExample, 25)
	assert.InDelta(t, 100, rep.BLEU, 1e-9)
	for _, v := range []float64{
		rep.Rouge.Rouge1, rep.Rouge.Rouge2, rep.Rouge.RougeL, rep.Rouge.RougeLsum, rep.ExactMatch, rep.F1,
		rep.LegalMetrics.CitationPrecision, rep.LegalMetrics.CitationRecall, rep.LegalMetrics.CitationF1,
		rep.LegalMetrics.TerminologyOverlap,
	} {
		assert.InDelta(t, 1, v, 1e-12)
	}
	assert.Equal(t, examples[3].Prediction, rep.Samples[3].Prediction)
	assert.Equal(t, examples[3].References, rep.Samples[3].References)
	assert.Equal(t, rep.PerExample[3], rep.Samples[3].Scores)

	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	require.NoError(t, WriteReport(path, rep))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "temporary file left behind")

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"bleu", "rouge", "exact_match", "f1", "legal_metrics", "n", "samples"}, objectKeys(t, data))
	var shape struct {
		Rouge        json.RawMessage   `json:"rouge"`
		LegalMetrics json.RawMessage   `json:"legal_metrics"`
		N            int               `json:"n"`
		Samples      []json.RawMessage `json:"samples"`
	}
	require.NoError(t, json.Unmarshal(data, &shape))
	assert.Equal(t, []string{"rouge1", "rouge2", "rougeL", "rougeLsum"}, objectKeys(t, shape.Rouge))
	assert.Equal(t, []string{"citation_precision", "citation_recall", "citation_f1", "terminology_overlap"},
		objectKeys(t, shape.LegalMetrics))
	assert.Equal(t, 25, shape.N)
	require.Len(t, shape.Samples, 20)
	assert.Equal(t, []string{"prediction", "references", "scores"}, objectKeys(t, shape.Samples[0]))

	require.Error(t, WriteReport(filepath.Join(dir, "missing", "report.json"), rep))
}

func TestEvaluateEmpty(t *testing.T) {
	rep := Evaluate(nil)
	assert.Equal(t, 0, rep.N)
	assert.Zero(t, rep.BLEU)
	assert.Zero(t, rep.F1)
	data, err := json.Marshal(rep)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"samples":[]`)
}
