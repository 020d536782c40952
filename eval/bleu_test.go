package eval

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBLEUTokenizers(t *testing.T) {
	tests := []struct {
		tok      BLEUTokenizer
		in, want string
	}{
		{Tokenize13a, "HDI's Manager (30) days, 1,000.50 and 3-4 items.", "HDI's Manager ( 30 ) days , 1,000.50 and 3 - 4 items ."},
		{Tokenize13a, "a&amp;b &lt;c&gt; end-\nline<skipped>", "a & b < c > endline"},
		{TokenizeIntl, "“Warranty” — 12 months, see §9.1.", "“ Warranty ” — 12 months , see § 9.1."}, // a period after a digit at the end stays,
		{TokenizeNone, "as  is (x).", "as  is (x)."},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.tok.tokenize(tt.in), "%s tokenize(%q)", tt.tok, tt.in)
	}
}

func TestClosestRefLen(t *testing.T) {
	assert.Equal(t, 9, closestRefLen(10, []int{12, 9, 11}))
	assert.Equal(t, 9, closestRefLen(10, []int{11, 9})) // ties go to the shorter
	assert.Equal(t, 5, closestRefLen(0, []int{5}))
}

func TestPyText(t *testing.T) {
	assert.Equal(t, []string{"a", "b", "c"}, pyFields("a\u00a0b\x1fc\u2003"))
	assert.Equal(t, "ὀδυσσεύς", pyLower("ὈΔΥΣΣΕΎΣ")) // final sigma, as Python
	assert.Equal(t, "i\u0307", pyLower("İ"))
}

func TestCorpusBLEUMultipleReferences(t *testing.T) {
	hyps := []string{"the cat sat on the mat", "a dog"}
	refs := [][]string{{"the cat sat on the mat"}, {"one dog barked", "a dog"}}
	res := CorpusBLEU(hyps, refs, BLEUOptions{})
	assert.Equal(t, 8, res.SysLen)
	assert.Equal(t, 8, res.RefLen) // closest reference per segment: 6 + 2
	assert.Equal(t, []float64{8, 6, 4, 3}, res.Counts)
	assert.InDelta(t, 100, res.Score, 1e-9)
	assert.Panics(t, func() { CorpusBLEU(hyps, refs[:1], BLEUOptions{}) })
	assert.Panics(t, func() { SentenceBLEU("x", nil, BLEUOptions{}) })
	assert.Panics(t, func() { SentenceBLEU("x", []string{"x"}, BLEUOptions{Smooth: "bogus"}) })
}
