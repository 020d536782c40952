package contract

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const cuadDir = "../testdata/cuad"

func loadCUAD(t *testing.T) ([]*Contract, map[string]*Contract) {
	t.Helper()
	cs := mustParse(t, filepath.Join(cuadDir, "contracts"))
	byID := map[string]*Contract{}
	for _, c := range cs {
		byID[CUADContractID(c.Source)] = c
	}
	require.Len(t, byID, 14)
	return cs, byID
}

func TestCUADQuality(t *testing.T) {
	cs, byID := loadCUAD(t)
	gold, err := LoadCUADQA(filepath.Join(cuadDir, "cuad_qa.jsonl"))
	require.NoError(t, err)
	scores := EvaluateCUAD(byID, Generate(cs, DefaultGenOptions()).All, gold)
	t.Logf("CUAD quality on %d contracts:\n%s", len(cs), FormatCUADScores(scores))
	// Floors sit just below the values measured with seed 42 and the
	// default options (BENCHMARKS.md, "Q&A generation quality on CUAD"),
	// so that a rule change that loses a found gold row or adds a wrong
	// citation fails. Issue 12's targets are citation precision >= 0.85 in
	// every answered category and recall >= 0.80 in claimed ones; the
	// floors are at least those. Recall of unclaimed categories is no
	// promise and has no floor.
	floors := map[string][2]float64{ // category: {recall, citation precision}
		"Document Name":                      {0.92, 0.99},
		"Parties":                            {0.85, 0.99},
		"Agreement Date":                     {0.84, 0.99},
		"Effective Date":                     {0.84, 0.99},
		"Expiration Date":                    {0, 0.99},
		"Renewal Term":                       {0.91, 0.99},
		"Notice Period To Terminate Renewal": {0.88, 0.99},
		"Governing Law":                      {0.99, 0.99},
		"Termination For Convenience":        {0.99, 0.99},
		"Anti-Assignment":                    {0.91, 0.99},
		"Audit Rights":                       {0.87, 0.99},
		"Cap On Liability":                   {0.84, 0.93},
		"Liquidated Damages":                 {0, 0.99},
		"Warranty Duration":                  {0.80, 0.99},
		"Insurance":                          {0.88, 0.99},
		"Non-Compete":                        {0, 0.99},
		"Exclusivity":                        {0.83, 0.99},
		"No-Solicit Of Employees":            {0.99, 0.99},
	}
	require.Len(t, scores, len(floors))
	for _, s := range scores {
		f, ok := floors[s.Category]
		require.True(t, ok, s.Category)
		if s.Claimed {
			assert.GreaterOrEqual(t, f[0], 0.80, "%s: a claimed category promises recall >= 0.80", s.Category)
			assert.GreaterOrEqual(t, s.Recall, f[0], "%s recall", s.Category)
		}
		assert.Positive(t, s.Answers, "%s: no answers", s.Category)
		assert.GreaterOrEqual(t, f[1], 0.85, "%s: answered categories promise citation precision >= 0.85", s.Category)
		assert.GreaterOrEqual(t, s.Precision, f[1], "%s citation precision", s.Category)
	}
	wrong, answers := WrongRate(scores)
	assert.LessOrEqual(t, wrong, 2, "wrong answers of %d", answers)
}
