package contract

import (
	"encoding/json"
	"os"
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
	cs, err := ParsePath(fixtures)
	require.NoError(t, err)
	opts := DefaultGenOptions()
	opts.UnanswerableRatio = 0.5
	recs, st := Generate(cs, opts)
	require.NotEmpty(t, recs)
	seen := map[string]bool{}
	unanswerable := 0
	for _, r := range recs {
		assert.Equal(t, Instruction, r.Instruction)
		assert.True(t, strings.HasPrefix(r.Input, "Contract Context: "), r.Input)
		assert.Contains(t, r.Input, "\n\nQuestion: ")
		if r.Unanswerable {
			unanswerable++
			assert.True(t, strings.HasPrefix(r.Output, "The contract does not specify "), r.Output)
		} else if r.FactType != FactSummary {
			assert.True(t, strings.HasPrefix(r.Output, "Based on "), r.Output)
		}
		k := normalize(r.Input) + "|" + normalize(r.Output)
		assert.False(t, seen[k], "duplicate record")
		seen[k] = true
	}
	assert.Positive(t, unanswerable)
	assert.Equal(t, len(recs), st.ByType[FactSummary].All+sumOthers(st))

	// augmentation: same answer, different questions and contexts
	var variants []Record
	for _, r := range recs {
		if r.FactType == FactGoverningLaw && r.ClauseID == "3.1" {
			variants = append(variants, r)
		}
	}
	require.Len(t, variants, 1+opts.NumAugmentations)
	qs, ctxs := map[string]bool{}, map[string]bool{}
	for _, v := range variants {
		assert.Equal(t, variants[0].Output, v.Output)
		q := v.Input[strings.Index(v.Input, "Question: "):]
		qs[q] = true
		ctxs[v.Input[:strings.Index(v.Input, "\n\nQuestion: ")]] = true
	}
	assert.Len(t, qs, len(variants))
	assert.Len(t, ctxs, len(variants))

	// summary question for a clause
	found := false
	for _, r := range recs {
		if r.FactType == FactSummary && r.ClauseID == "3.1" && strings.HasSuffix(r.Input, "What does Section 3.1 specify?") {
			found = true
			assert.Equal(t, "Section 3.1 (Governing Law) provides: This Agreement shall be governed by the laws of the State of Ohio.", r.Output)
		}
	}
	assert.True(t, found)

	// no augmentation: one record per fact
	opts.Augment = false
	plain, _ := Generate(cs, opts)
	assert.Less(t, len(plain), len(recs))
}

func sumOthers(st Stats) int {
	n := 0
	for k, c := range st.ByType {
		if k != FactSummary {
			n += c.All
		}
	}
	return n
}

func TestGenerateDeterministic(t *testing.T) {
	cs, err := ParsePath(fixtures)
	require.NoError(t, err)
	opts := DefaultGenOptions()
	opts.UnanswerableRatio = 0.5
	a, _ := Generate(cs, opts)
	b, _ := Generate(cs, opts)
	assert.Equal(t, a, b)
	ta, va, xa := SplitRecords(a, opts.Split, 7)
	tb, vb, xb := SplitRecords(b, opts.Split, 7)
	assert.Equal(t, [][]Record{ta, va, xa}, [][]Record{tb, vb, xb})
	opts.Seed = 99
	c, _ := Generate(cs, opts)
	assert.NotEqual(t, a, c, "another seed picks other paraphrases")
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

func TestSplitNoLeakage(t *testing.T) {
	cs, _ := loadCUAD(t)
	recs, _ := Generate(cs, DefaultGenOptions())
	train, val, test := SplitRecords(recs, [3]float64{0.8, 0.1, 0.1}, 42)
	assert.Equal(t, len(recs), len(train)+len(val)+len(test))
	where := map[string]int{}
	for i, part := range [][]Record{train, val, test} {
		for _, r := range part {
			k := r.Source + "|" + r.ClauseID
			if s, ok := where[k]; ok {
				require.Equal(t, s, i, "clause %s split across %d and %d", k, s, i)
			}
			where[k] = i
		}
	}
	n := float64(len(recs))
	assert.InDelta(t, 0.8, float64(len(train))/n, 0.03)
	assert.InDelta(t, 0.1, float64(len(val))/n, 0.03)
	assert.InDelta(t, 0.1, float64(len(test))/n, 0.03)
}

func TestWriteDataset(t *testing.T) {
	dir := t.TempDir()
	cs, err := ParsePath(fixtures)
	require.NoError(t, err)
	recs, st := Generate(cs, DefaultGenOptions())
	train, val, test := SplitRecords(recs, [3]float64{0.8, 0.1, 0.1}, 1)
	require.NoError(t, WriteDataset(filepath.Join(dir, "qa.jsonl"), recs, train, val, test))
	cases := []struct {
		name string
		n    int
	}{
		{"qa.jsonl", len(recs)}, {"qa_train.jsonl", len(train)}, {"qa_val.jsonl", len(val)}, {"qa_test.jsonl", len(test)},
		{"train.jsonl", len(train)}, {"validation.jsonl", len(val)}, {"test.jsonl", len(test)},
	}
	for _, tc := range cases {
		data, err := os.ReadFile(filepath.Join(dir, tc.name))
		require.NoError(t, err, tc.name)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if tc.n == 0 {
			assert.Empty(t, strings.TrimSpace(string(data)))
			continue
		}
		assert.Len(t, lines, tc.n, tc.name)
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(lines[0]), &r))
		for _, k := range []string{"instruction", "input", "output"} {
			assert.Contains(t, r, k)
		}
	}
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 7, "no temporary files left")
	st.CountSplits(train, val, test)
	table := FormatStats(st)
	assert.Contains(t, table, "fact type")
	assert.Contains(t, table, "total")
}
