package contract

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFactsOnFixtures(t *testing.T) {
	cases := []struct {
		file, typ, clause, answerHas string
	}{
		{"reducto_flat.json", FactTerm, "1", "three (3) years"},
		{"reducto_flat.json", FactPaymentTerms, "2", "thirty (30) days"},
		{"reducto_flat.json", FactGoverningLaw, "3", "Based on Section 3, this Agreement is governed by the laws of the State of Delaware."},
		{"reducto_flat.json", FactAgreementDate, "Preamble", "March 1, 2021"},
		{"reducto_nested.json", FactWarrantyPeriod, "1.1", "twelve (12) months"},
		{"reducto_nested.json", FactConsequential, "1.2", "Based on Section 1.2, in no event"},
		{"structured.json", FactRenewalTerm, "2.2", "successive terms of one (1) year"},
		{"structured.json", FactRenewalNotice, "2.2", "sixty (60) days"},
		{"structured.json", FactLiabilityCap, "3", "$500,000"},
		{"headings.txt", FactGoverningLaw, "3.1", "Based on Section 3.1, this Agreement is governed by the laws of the State of Ohio."},
		{"headings.txt", FactRenewalNotice, "2.2(a)", "ninety (90) days"},
		{"headings.txt", FactAssignment, "3.2", "Based on Section 3.2, neither party may assign"},
		{"headings.txt", FactParties, "Preamble", "Omega Parts Inc. and Sigma Motors LLC"},
		{"no_structure.txt", FactGoverningLaw, "¶3", "Based on Paragraph 3, this Agreement is governed by the laws of the State of Kansas."},
	}
	for _, tc := range cases {
		t.Run(tc.file+"/"+tc.typ, func(t *testing.T) {
			c, err := ParseFile(filepath.Join(fixtures, tc.file))
			require.NoError(t, err)
			var got []string
			for _, f := range ExtractFacts(c) {
				if f.Type == tc.typ {
					got = append(got, f.Clause.ID+": "+f.Answer)
					if f.Clause.ID == tc.clause && strings.Contains(f.Answer, tc.answerHas) {
						return
					}
				}
			}
			t.Fatalf("no %s fact citing %s containing %q; got %q", tc.typ, tc.clause, tc.answerHas, got)
		})
	}
}

func TestFindDurationsAndDates(t *testing.T) {
	durs := []struct{ in, want string }{
		{"a period of two (2) years", "2 years"},
		{"ninety (\"90\") days written notice", "90 days"},
		{"within 30 days", "30 days"},
		{"successive one-year terms", "1 year"},
		{"one hundred eighty (180) days", "180 days"},
		{"one (I) year", "1 year"},
	}
	for _, tc := range durs {
		d := FindDurations(tc.in)
		require.NotEmpty(t, d, tc.in)
		assert.Equal(t, tc.want, d[0].Normal(), tc.in)
	}
	dates := []struct{ in, want string }{
		{"this 7th day of September, 1999", "September 7, 1999"},
		{"dated as of January 1, 2013", "January 1, 2013"},
		{"this 20t h day of December 2018", "December 20, 2018"},
		{"effective as of the 1.4.2011", "April 1, 2011"},
		{"signed 3/14/18", "March 14, 2018"},
	}
	for _, tc := range dates {
		d := FindDates(tc.in)
		require.NotEmpty(t, d, tc.in)
		assert.Equal(t, tc.want, d[0].String(), tc.in)
	}
}

func TestGenerateRecords(t *testing.T) {
	cs := mustParse(t, fixtures)
	opts := DefaultGenOptions()
	opts.UnanswerableRatio = 1
	ds := Generate(cs, opts)
	recs := ds.All
	require.NotEmpty(t, recs)
	require.Equal(t, len(recs), len(ds.Train)+len(ds.Validation)+len(ds.Test))
	seen := map[string]bool{}
	kinds := map[string]int{}
	for _, r := range recs {
		assert.Equal(t, Instruction, r.Instruction)
		assert.True(t, strings.HasPrefix(r.Input, "Contract Context: "), r.Input)
		assert.Contains(t, r.Input, "\n\nQuestion: ")
		kinds[r.Kind]++
		switch r.Kind {
		case KindUnanswerable:
			assert.True(t, r.Unanswerable)
			assert.True(t, strings.HasPrefix(r.Output, "The contract does not specify "), r.Output)
		case KindFact:
			assert.True(t, strings.HasPrefix(r.Output, "Based on "), r.Output)
		case KindSummary:
			assert.Contains(t, r.Output, " provides: ")
		default:
			t.Fatalf("kind %q", r.Kind)
		}
		k := normalize(r.Input) + "|" + normalize(r.Output)
		assert.False(t, seen[k], "duplicate record")
		seen[k] = true
	}
	assert.Positive(t, kinds[KindFact])
	assert.Positive(t, kinds[KindSummary])
	assert.Positive(t, kinds[KindUnanswerable])
	assert.Equal(t, kinds[KindUnanswerable], ds.Stats.ByKind[KindUnanswerable].All)

	// augmentation: same answer, other questions or context windows
	var variants []Record
	for _, r := range recs {
		if r.FactType == FactGoverningLaw && r.ClauseID == "3.1" {
			variants = append(variants, r)
		}
	}
	require.Len(t, variants, 1+opts.NumAugmentations)
	inputs := map[string]bool{}
	for _, v := range variants {
		assert.Equal(t, variants[0].Output, v.Output)
		inputs[v.Input] = true
	}
	assert.Len(t, inputs, len(variants))
	assert.Equal(t, "clause/q0", variants[0].Variant, "the first record is the base question on the clause alone")

	// summary question for a clause
	found := false
	for _, r := range recs {
		if r.FactType == FactSummary && r.ClauseID == "3.1" && strings.HasSuffix(r.Input, "What does Section 3.1 specify?") {
			found = true
			assert.Equal(t, "Section 3.1 (Governing Law) provides: This Agreement shall be governed by the laws of the State of Ohio.", r.Output)
		}
	}
	assert.True(t, found)

	// no augmentation: one record per question
	opts.Augment = false
	plain := Generate(cs, opts)
	assert.Less(t, len(plain.All), len(recs))
}

// TestAugmentationBound: every question has MaxAugmentations distinct
// variants besides its base record; asking for all of them gives each
// question at most 1+MaxAugmentations records, and Check refuses more.
func TestAugmentationBound(t *testing.T) {
	cs := mustParse(t, fixtures)
	opts := DefaultGenOptions()
	opts.NumAugmentations = MaxAugmentations
	ds := Generate(cs, opts)
	per := map[string]int{}
	for _, r := range ds.All {
		per[r.Source+"|"+r.ClauseID+"|"+r.FactType+"|"+r.Output]++
	}
	most := 0
	for _, n := range per {
		most = max(most, n)
	}
	assert.LessOrEqual(t, most, 1+MaxAugmentations)
	assert.Greater(t, most, 3)
	for _, q := range questions {
		assert.Len(t, q, paraphrases)
	}
	for _, bad := range []GenOptions{
		{NumAugmentations: MaxAugmentations + 1, Split: opts.Split},
		{NumAugmentations: -1, Split: opts.Split},
		{UnanswerableRatio: -1, Split: opts.Split},
		{UnanswerableRatio: math.NaN(), Split: opts.Split},
		{UnanswerableRatio: 2, Split: opts.Split},
		{Split: [3]float64{0.8, 0.3, 0.1}},
	} {
		assert.Error(t, bad.Check(), "%+v", bad)
	}
	assert.NoError(t, opts.Check())
}

// TestUnanswerableOnlyWhenAbsent: a contract that gives notices, force
// majeure and a title in words the fact rules do not take is never said
// to lack them (issue 12 saw three such false "not specified" answers);
// a fact type with no trace in the text is.
func TestUnanswerableOnlyWhenAbsent(t *testing.T) {
	text := `MAINTENANCE AND SUPPORT CONTRACT

This contract is made on 1 June 2021 between Gamma Systems Ltd. and Delta Foods Inc.

1. Services. Gamma Systems Ltd. shall maintain the Delta Foods point-of-sale terminals.

2. Fees. Delta Foods Inc. shall pay the fees listed in the Schedule.

3. Communications. A party may send a notice to the other by e-mail to its usual address.

4. Events Outside Control. Neither party is responsible for delays caused by acts of God.
`
	c := ParseText("support.txt", text)
	facts := ExtractFacts(c)
	absent := Absent(c, facts)
	for _, t2 := range []string{FactNotices, FactForceMajeure, FactPaymentTerms} {
		assert.NotContains(t, absent, t2)
	}
	assert.NotContains(t, absent, FactTitle, "a title is never claimed absent")
	assert.Contains(t, absent, FactGoverningLaw)
	assert.Contains(t, absent, FactInsurance)

	opts := DefaultGenOptions()
	opts.UnanswerableRatio = 1
	for _, r := range Generate([]*Contract{c}, opts).All {
		if r.Unanswerable {
			assert.Contains(t, absent, r.FactType, r.Output)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	cs := mustParse(t, fixtures)
	opts := DefaultGenOptions()
	opts.UnanswerableRatio = 0.5
	a := Generate(cs, opts)
	b := Generate(cs, opts)
	assert.Equal(t, a, b)
	opts.Seed = 99
	c := Generate(cs, opts)
	assert.NotEqual(t, a.All, c.All, "another seed picks other paraphrases")
}

func TestParseSplit(t *testing.T) {
	cases := []struct {
		in      string
		want    [3]float64
		wantErr bool
	}{
		{"0.8,0.1,0.1", [3]float64{0.8, 0.1, 0.1}, false},
		{" 0.7, 0.15 ,0.15", [3]float64{0.7, 0.15, 0.15}, false},
		{"1,0,0", [3]float64{1, 0, 0}, false},
		{"0.8,0.1", [3]float64{}, true},
		{"0.8,0.1,0.2", [3]float64{}, true},
		{"a,b,c", [3]float64{}, true},
		{"1.2,-0.1,-0.1", [3]float64{}, true},
		{"NaN,0.5,0.5", [3]float64{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSplit(tc.in)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.InDeltaSlice(t, tc.want[:], got[:], 1e-12)
		})
	}
}
