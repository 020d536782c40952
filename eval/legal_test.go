package eval

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCitations(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"See Section 14.3.", []string{"14.3"}},
		{"Sections 4.1 and 4.2 apply", []string{"4.1", "4.2"}},
		{"Sections 4.1, 4.2, and 4.3", []string{"4.1", "4.2", "4.3"}},
		{"sections 2 through 5", []string{"2", "5"}},
		{"Sections 7.1 and/or 7.2", []string{"7.1", "7.2"}},
		{"Article V", []string{"5"}},
		{"ARTICLE 5", []string{"5"}},
		{"Article V and ARTICLE 5", []string{"5"}},
		{"Articles IV and XII", []string{"4", "12"}},
		{"§ 3.1", []string{"3.1"}},
		{"§3.1 and §§ 3.2-3.4", []string{"3.1", "3.2", "3.4"}},
		{"Clause 7(b)", []string{"7(b)"}},
		{"clause 7 (B)", []string{"7(b)"}},
		{"paragraph 2(a)", []string{"2(a)"}},
		{"Paragraph 2(a)(iii) and Subsection 9.1(c)", []string{"2(a)(iii)", "9.1(c)"}},
		{"Sec. 12 and Art. 3", []string{"12", "3"}},
		{"as set forth in \u200bSection \u200b\u200b12.04", []string{"12.04"}},
		{"Based on Section 3.4, HDI's General Manager", []string{"3.4"}},
		{"Section 5 (the \"Term\")", []string{"5"}},
		{"Section 3 and 30 days", []string{"3"}}, // singular keywords take no list
		{"Sections 3 or order 4", []string{"3"}},
		{"this Section shall survive", nil},
		{"the Article mix", nil}, // only upper-case Roman numerals
		{"Section", nil},
		{"no citations here", nil},
		{"Section 2 and Section 2", []string{"2"}},
		{"Section 10 and Section 2", []string{"10", "2"}},
		{"Intersection 5", nil},
	}
	for _, tt := range tests {
		got := Citations(tt.text)
		if len(tt.want) == 0 {
			assert.Empty(t, got, "Citations(%q)", tt.text)
			continue
		}
		assert.Equal(t, tt.want, got, "Citations(%q)", tt.text)
	}
}

func TestCitationScores(t *testing.T) {
	tests := []struct {
		name      string
		pred, ref string
		p, r, f1  float64
	}{
		{"neither cites", "thirty days", "thirty (30) days", 1, 1, 1},
		{"same", "Per Section 14.3", "Section 14.3 says", 1, 1, 1},
		{"roman equals arabic", "Article V", "ARTICLE 5", 1, 1, 1},
		{"reference only", "thirty days", "Section 14.3", 0, 0, 0},
		{"prediction only", "Section 14.3", "thirty days", 0, 0, 0},
		{"partial", "Sections 4.1 and 4.2", "Section 4.1", 0.5, 1, 2.0 / 3},
		{"disjoint", "Section 1", "Section 2", 0, 0, 0},
	}
	for _, tt := range tests {
		got := CitationScores(tt.pred, tt.ref)
		assert.InDelta(t, tt.p, got.Precision, 1e-12, tt.name)
		assert.InDelta(t, tt.r, got.Recall, 1e-12, tt.name)
		assert.InDelta(t, tt.f1, got.F1, 1e-12, tt.name)
	}
}

func TestLegalTermsList(t *testing.T) {
	require.GreaterOrEqual(t, len(LegalTerms), 80)
	require.LessOrEqual(t, len(LegalTerms), 150)
	names := map[string]bool{}
	for _, entry := range LegalTerms {
		name, _, _ := strings.Cut(entry, "|")
		assert.False(t, names[name], "duplicate term %q", name)
		names[name] = true
		for _, phrase := range strings.Split(entry, "|") {
			assert.NotEmpty(t, RougeTokenize(phrase, true), "phrase %q of %q", phrase, entry)
		}
	}
}

func TestLegalTermsIn(t *testing.T) {
	assert.Equal(t, []string{"indemnification", "governing law", "force majeure", "termination", "warranty"},
		LegalTermsIn("Governing Law; Force-Majeure. The party shall indemnify and hold... upon terminating warranties"))
	assert.Equal(t, []string{"liquidated damages", "damages", "notice period", "renewal term", "renewal"},
		LegalTermsIn("LIQUIDATED DAMAGES apply; a notice period before the Renewal Term"))
	assert.Empty(t, LegalTermsIn("The cat sat on the mat."))
}

func TestTerminologyOverlap(t *testing.T) {
	tests := []struct {
		name      string
		pred, ref string
		want      float64
	}{
		{"neither has terms", "thirty days", "the cat", 1},
		{"same terms, other forms", "Either party may terminate; indemnified losses", "Termination and indemnification", 1},
		{"half", "governing law and arbitration", "governing law", 0.5},
		{"prediction has none", "thirty days", "force majeure", 0},
		{"reference has none", "force majeure", "thirty days", 0},
		{"one of three", "confidentiality and jurisdiction", "confidentiality; effective date", 1.0 / 3},
	}
	for _, tt := range tests {
		assert.InDelta(t, tt.want, TerminologyOverlap(tt.pred, tt.ref), 1e-12, tt.name)
	}
}
