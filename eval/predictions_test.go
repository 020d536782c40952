package eval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWritePredictionsRoundTrip writes predictions and reads them back
// with ReadPredictions: one and several references, text that JSON could
// escape, and an empty prediction.
func TestWritePredictionsRoundTrip(t *testing.T) {
	examples := []Example{
		{Prediction: "Under § 14.3, <New York> & Delaware law.", References: []string{"Section 14.3: New York."}},
		{Prediction: "", References: []string{"Two (2) years.", "Two years."}},
	}
	path := filepath.Join(t.TempDir(), "test_predictions.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("old content\n"), 0o644))
	require.NoError(t, WritePredictions(path, examples))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"prediction":"Under § 14.3, <New York> & Delaware law.","reference":"Section 14.3: New York."}`+"\n"+
		`{"prediction":"","references":["Two (2) years.","Two years."]}`+"\n", string(data))
	got, err := ReadPredictions(path)
	require.NoError(t, err)
	assert.Equal(t, examples, got)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	err = WritePredictions(filepath.Join(t.TempDir(), "missing", "p.jsonl"), examples)
	require.ErrorContains(t, err, "p.jsonl")
}

func TestHeadline(t *testing.T) {
	r := Report{N: 3, BLEU: 12.3456, ExactMatch: 1.0 / 3, F1: 0.5}
	r.Rouge.RougeL = 0.25
	r.LegalMetrics.CitationF1 = 0.75
	assert.Equal(t, "3 examples: BLEU 12.35, ROUGE-L 0.2500, exact match 0.3333, F1 0.5000, citation F1 0.7500", r.Headline())
	assert.False(t, strings.Contains(r.Headline(), "\n"))
}
