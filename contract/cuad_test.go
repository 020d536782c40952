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
	cs, err := ParsePath(filepath.Join(cuadDir, "contracts"))
	require.NoError(t, err)
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
	recs, st := Generate(cs, DefaultGenOptions())
	scores := EvaluateCUAD(byID, recs, gold)
	t.Logf("CUAD quality on %d contracts:\n%s", len(cs), FormatCUADScores(scores))
	// Floors sit 5-15 points below the measured values (seed 42, default
	// options) so that rule tweaks which lose real answers fail the test.
	// With 4-14 gold rows per category one row is 7-25 points, so the
	// floors leave about one row of slack.
	floors := map[string][2]float64{ // category: {recall, citation precision}
		"Document Name":  {0.85, 0.90},
		"Parties":        {0.75, 0.90},
		"Agreement Date": {0.60, 0.80}, // cuad_01's gold "7/7/99" contradicts its text (September 7)
		"Effective Date": {0.65, 0.50}, // the agreement date answers this too but its gold span is often elsewhere
		// Gold expiration dates are computed (start + term) and never appear
		// in the text; only rows with an empty answer can be found, by span.
		"Expiration Date":                    {0.15, 0.35},
		"Renewal Term":                       {0.80, 0.80},
		"Notice Period To Terminate Renewal": {0.75, 0.70},
		"Governing Law":                      {0.85, 0.90},
		"Termination For Convenience":        {0.65, 0.30},
		"Anti-Assignment":                    {0.90, 0.75},
		"Audit Rights":                       {0.75, 0.80},
		"Cap On Liability":                   {0.75, 0.45},
		"Liquidated Damages":                 {0.40, 0.25},
		"Warranty Duration":                  {0.60, 0.45},
		"Insurance":                          {0.90, 0.80},
		// Measured 0.80 / 0.40: 4 of 5 gold covenants found; the rule also
		// takes term-bounded sales restrictions that CUAD files elsewhere.
		"Non-Compete":             {0.60, 0.30},
		"Exclusivity":             {0.50, 0.30}, // measured 0.67 / 0.44
		"No-Solicit Of Employees": {0.50, 0.80},
	}
	require.Len(t, scores, len(floors))
	for _, s := range scores {
		f, ok := floors[s.Category]
		require.True(t, ok, s.Category)
		assert.GreaterOrEqual(t, s.Recall, f[0], "%s recall", s.Category)
		assert.GreaterOrEqual(t, s.Precision, f[1], "%s citation precision", s.Category)
	}
	train, val, test := SplitRecords(recs, DefaultGenOptions().Split, DefaultGenOptions().Seed)
	st.CountSplits(train, val, test)
	t.Logf("records:\n%s", FormatStats(st))
}
