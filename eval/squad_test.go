package eval

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSQuADNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"The Licensee", "licensee"},
		{"  a  thirty (30) day   period. ", "thirty 30 day period"},
		{"An Agreement, the Term and A Party", "agreement term and party"},
		{"Theatre anchor another", "theatre anchor another"}, // articles only as whole words
		{"HDI's General-Manager", "hdis generalmanager"},     // punctuation is removed, not spaced
		{"the_end", "theend"},                                // punctuation ("_") goes before articles
		{"éa the", "éa"},                                     // Unicode letters are word characters for \b
		{"“Warranty” — 12 months", "“warranty” — 12 months"}, // only ASCII punctuation is removed
		{"a", ""},
		{"", ""},
		{"ÉTÉ the été", "été été"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, SQuADNormalize(tt.in), "SQuADNormalize(%q)", tt.in)
	}
}

func TestExactMatchAndTokenF1(t *testing.T) {
	tests := []struct {
		pred string
		refs []string
		em   int
		f1   float64
	}{
		{"The Term.", []string{"term"}, 1, 1},
		{"thirty days", []string{"thirty (30) days"}, 0, 0.8},
		{"thirty days", []string{"no match", "Thirty days!"}, 1, 1},
		{"days days", []string{"days"}, 0, 2.0 / 3},
		{"", []string{"the"}, 1, 1}, // both normalize to nothing
		{"", []string{"term"}, 0, 0},
		{"term", []string{""}, 0, 0},
		{"foo", []string{"bar"}, 0, 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.em, ExactMatch(tt.pred, tt.refs), "ExactMatch(%q, %q)", tt.pred, tt.refs)
		assert.InDelta(t, tt.f1, TokenF1(tt.pred, tt.refs), 1e-12, "TokenF1(%q, %q)", tt.pred, tt.refs)
	}
}
