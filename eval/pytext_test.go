package eval

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pyLowerGolden is testdata/pylower/lower.json (see its SOURCE.md):
// Python 3.11's str.lower() on every assigned code point and on strings
// around capital sigma.
type pyLowerGolden struct {
	Unicode    string            `json:"unicode"`
	Lower      map[string]string `json:"lower"`
	Unassigned [][2]rune         `json:"unassigned"`
	// SigmaCased and SigmaIgnorable are the code points str.lower() treats
	// as cased (and not case-ignorable), and as case-ignorable, around Σ.
	SigmaCased     [][2]rune   `json:"sigma_cased"`
	SigmaIgnorable [][2]rune   `json:"sigma_ignorable"`
	Contexts       [][2]string `json:"contexts"`
}

func readPyLowerGolden(t *testing.T) pyLowerGolden {
	data, err := os.ReadFile("../testdata/pylower/lower.json")
	require.NoError(t, err)
	var g pyLowerGolden
	require.NoError(t, json.Unmarshal(data, &g))
	return g
}

// TestPyLowerMatchesPython compares pyLower with Python's str.lower() on
// every code point Python's Unicode version assigns (code points it leaves
// unassigned may have gained a case mapping since, which a newer Python
// applies too): alone, and as a neighbour of Σ ("A"+X+"Σ" and X+"Σ", which
// tell how the Final_Sigma rule sees X); then on 600 sigma contexts.
func TestPyLowerMatchesPython(t *testing.T) {
	g := readPyLowerGolden(t)
	want := map[rune]string{}
	for k, v := range g.Lower {
		cp, err := strconv.ParseUint(k, 16, 32)
		require.NoError(t, err)
		var s strings.Builder
		for _, h := range strings.Fields(v) {
			r, err := strconv.ParseUint(h, 16, 32)
			require.NoError(t, err)
			s.WriteRune(rune(r))
		}
		want[rune(cp)] = s.String()
	}
	var bad []string
	checked, u := 0, 0
	for r := rune(0); r <= 0x10FFFF; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		for u < len(g.Unassigned) && g.Unassigned[u][1] < r {
			u++
		}
		if u < len(g.Unassigned) && g.Unassigned[u][0] <= r {
			continue
		}
		w, ok := want[r]
		if !ok {
			w = string(r)
		}
		if got := pyLower(string(r)); got != w {
			bad = append(bad, fmt.Sprintf("U+%04X: %+q, Python %+q", r, got, w))
		}
		afterA, alone := "σ", "σ"
		switch {
		case inRanges(g.SigmaCased, r):
			afterA, alone = "ς", "ς"
		case inRanges(g.SigmaIgnorable, r):
			afterA = "ς"
		}
		if got := pyLower("A" + string(r) + "Σ"); !strings.HasSuffix(got, afterA) {
			bad = append(bad, fmt.Sprintf("A U+%04X Σ: %+q, Python ends in %s", r, got, afterA))
		}
		if got := pyLower(string(r) + "Σ"); !strings.HasSuffix(got, alone) {
			bad = append(bad, fmt.Sprintf("U+%04X Σ: %+q, Python ends in %s", r, got, alone))
		}
		checked++
	}
	require.Empty(t, bad, "%d of %d code points differ from Python (Unicode %s)", len(bad), checked, g.Unicode)
	require.Greater(t, checked, 280000)
	for _, c := range g.Contexts {
		require.Equal(t, c[1], pyLower(c[0]), "%+q", c[0])
	}
}

// inRanges reports whether r is in one of the sorted [first, last] ranges.
func inRanges(ranges [][2]rune, r rune) bool {
	i := sort.Search(len(ranges), func(i int) bool { return ranges[i][1] >= r })
	return i < len(ranges) && ranges[i][0] <= r
}

// TestMetricsLowercaseLikePython: the metrics whose reference tools call
// str.lower() see the same text Python does.
func TestMetricsLowercaseLikePython(t *testing.T) {
	// rouge_score: "İstanbul".lower() is "i̇stanbul", and U+0307 is outside
	// [a-z0-9], so the word splits; the Kelvin sign lowercases to "k".
	require.Equal(t, []string{"i", "stanbul", "k"}, RougeTokenize("İstanbul K", false))
	require.Zero(t, Rouge("İstanbul", "istanbul", false).Rouge1.FMeasure)
	require.Equal(t, 1.0, Rouge("İstanbul", "i stanbul", false).Rouge1.FMeasure)
	// SQuAD: a final capital sigma lowercases to ς.
	require.Equal(t, "οδος", SQuADNormalize("ΟΔΟΣ"))
	require.Equal(t, 1, ExactMatch("ΟΔΟΣ", []string{"οδος"}))
	// sacrebleu lowercase=True.
	o := DefaultSentenceBLEUOptions()
	o.Lowercase = true
	require.InDelta(t, 100, SentenceBLEU("ΟΔΟΣ ΑΘΗΝΑΣ", []string{"οδος αθηνας"}, o).Score, caseTol)
	// Citations: "(İ)" is not the sub-clause "(i)".
	require.Equal(t, []string{"7"}, Citations("Clause 7(İ)"))
	require.Equal(t, []string{"7(i)"}, Citations("Clause 7(I)"))
}
