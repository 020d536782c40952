package eval

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Expected stems come from two places:
//   - the worked examples in M. F. Porter, "An algorithm for suffix
//     stripping", Program 14(3), 1980 (steps 1a-5b), where NLTK agrees;
//   - the behaviours NLTK 3.8's PorterStemmer documents for its
//     NLTK_EXTENSIONS mode in its source comments (irregular forms table,
//     "ies"/"ied" on four-letter words, y -> i only after a consonant,
//     "logi" keeping the "l" for the measure, no stemming of 1-2 letter
//     words).
func TestPorterStem(t *testing.T) {
	tests := []struct{ word, want string }{
		// Porter 1980, step 1a.
		{"caresses", "caress"}, {"ponies", "poni"}, {"caress", "caress"}, {"cats", "cat"},
		// Step 1b.
		{"feed", "feed"}, {"agreed", "agre"}, {"plastered", "plaster"}, {"bled", "bled"},
		{"motoring", "motor"}, {"sing", "sing"}, {"conflated", "conflat"}, {"troubled", "troubl"},
		{"sized", "size"}, {"hopping", "hop"}, {"tanned", "tan"}, {"falling", "fall"},
		{"hissing", "hiss"}, {"fizzed", "fizz"}, {"failing", "fail"}, {"filing", "file"},
		// Step 1c.
		{"happy", "happi"},
		// Step 2.
		{"relational", "relat"}, {"conditional", "condit"}, {"rational", "ration"},
		{"valenci", "valenc"}, {"hesitanci", "hesit"}, {"digitizer", "digit"},
		{"conformabli", "conform"}, {"radicalli", "radic"}, {"differentli", "differ"},
		{"vileli", "vile"}, {"analogousli", "analog"}, {"vietnamization", "vietnam"},
		{"predication", "predic"}, {"operator", "oper"}, {"feudalism", "feudal"},
		{"decisiveness", "decis"}, {"hopefulness", "hope"}, {"callousness", "callous"},
		{"formaliti", "formal"}, {"sensitiviti", "sensit"}, {"sensibiliti", "sensibl"},
		// Step 3.
		{"triplicate", "triplic"}, {"formative", "form"}, {"formalize", "formal"},
		{"electriciti", "electr"}, {"electrical", "electr"}, {"hopeful", "hope"}, {"goodness", "good"},
		// Step 4.
		{"revival", "reviv"}, {"allowance", "allow"}, {"inference", "infer"}, {"airliner", "airlin"},
		{"gyroscopic", "gyroscop"}, {"adjustable", "adjust"}, {"defensible", "defens"},
		{"irritant", "irrit"}, {"replacement", "replac"}, {"adjustment", "adjust"},
		{"dependent", "depend"}, {"adoption", "adopt"}, {"homologou", "homolog"},
		{"communism", "commun"}, {"activate", "activ"}, {"angulariti", "angular"},
		{"homologous", "homolog"}, {"effective", "effect"}, {"bowdlerize", "bowdler"},
		// Step 5.
		{"probate", "probat"}, {"rate", "rate"}, {"cease", "ceas"}, {"controll", "control"}, {"roll", "roll"},
		// NLTK_EXTENSIONS.
		{"flies", "fli"}, {"dies", "die"}, {"ties", "tie"}, {"spied", "spi"}, {"died", "die"},
		{"enjoy", "enjoy"}, {"spy", "spi"}, {"fly", "fli"}, {"try", "tri"},
		{"sky", "sky"}, {"skies", "sky"}, {"dying", "die"}, {"lying", "lie"}, {"tying", "tie"},
		{"news", "news"}, {"innings", "inning"}, {"outings", "outing"}, {"cannings", "canning"},
		{"howe", "howe"}, {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"},
		{"geology", "geolog"}, {"is", "is"}, {"as", "as"},
		// Contract vocabulary (stems as NLTK gives them).
		{"termination", "termin"}, {"terminated", "termin"}, {"agreement", "agreement"},
		{"indemnification", "indemnif"}, {"Warranties", "warranti"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, PorterStem(tt.word), "PorterStem(%q)", tt.word)
	}
}

func TestRougeTokenize(t *testing.T) {
	assert.Equal(t, []string{"the", "licensee", "s", "rights", "12", "3"},
		RougeTokenize("The Licensee's rights (§12.3)!", false))
	// Tokens of three characters or fewer are not stemmed ("ties" is).
	assert.Equal(t, []string{"the", "tie", "was", "termin"},
		RougeTokenize("The ties was terminated", true))
	assert.Empty(t, RougeTokenize(" — “” ", true))
}
