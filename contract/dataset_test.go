package contract

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// kindShareTolerance is issue 12's target: validation and test hold each
// record kind (facts above all) within 5 points of its share of the whole
// set.
const kindShareTolerance = 0.05

// TestSplits checks, on the 14 CUAD contracts with augmentation and four
// seeds, that the splits are leak-free (no clause in two splits, no
// validation or test clause or answer in a train input), near the asked
// ratios, and stratified: every kind's share of validation and of test is
// within kindShareTolerance of its share of the whole set.
func TestSplits(t *testing.T) {
	cs, _ := loadCUAD(t)
	for _, seed := range []int64{1, 2, 3, 42} {
		opts := DefaultGenOptions()
		opts.Seed = seed
		ds := Generate(cs, opts)
		n := len(ds.All)
		require.Equal(t, n, len(ds.Train)+len(ds.Validation)+len(ds.Test))
		assert.Equal(t, Leaks{}, ds.Stats.Leaks, "seed %d", seed)
		assert.Equal(t, Leaks{}, CheckLeaks(ds.Train, append(append([]Record{}, ds.Validation...), ds.Test...)), "seed %d", seed)
		where := map[string]int{}
		for i, part := range [][]Record{ds.Train, ds.Validation, ds.Test} {
			for _, r := range part {
				k := r.Source + "|" + r.ClauseID
				if s, ok := where[k]; ok {
					require.Equal(t, s, i, "seed %d: clause %s in splits %d and %d", seed, k, s, i)
				}
				where[k] = i
			}
		}
		for i, part := range [][]Record{ds.Train, ds.Validation, ds.Test} {
			want := opts.Split[i]
			got := float64(len(part)) / float64(n)
			assert.True(t, got >= want-0.03 && got <= want+0.03, "seed %d: %s holds %.3f of the records, want %.2f", seed, SplitNames[i], got, want)
		}
		for _, kind := range []string{KindFact, KindSummary, KindUnanswerable} {
			c := ds.Stats.ByKind[kind]
			require.NotNil(t, c, kind)
			all := share(c.All, n)
			for i, part := range [][]Record{ds.Validation, ds.Test} {
				got := share([]int{c.Validation, c.Test}[i], len(part))
				assert.True(t, got >= all-kindShareTolerance && got <= all+kindShareTolerance,
					"seed %d: %s share of %s is %.3f, of the whole set %.3f", seed, kind, SplitNames[i+1], got, all)
			}
		}
		if seed == 42 {
			t.Logf("seed 42:\n%s", FormatStats(ds))
		}
	}
}

// TestCheckLeaksSeesLeaks: the leak check is not vacuous. Splitting the
// records of one clause across train and test, or showing a test clause in
// a train context, is reported.
func TestCheckLeaksSeesLeaks(t *testing.T) {
	mk := func(clause, ctx, out string) Record {
		return Record{Source: "a.txt", ClauseID: clause, Variant: "clause/q0", Input: "Contract Context: " + ctx + "\n\nQuestion: What?", Output: out}
	}
	law := "Section 9: This Agreement shall be governed by the laws of the State of Ohio without regard to conflicts."
	answer := "Based on Section 9, this Agreement shall be governed by the laws of the State of Ohio without regard to conflicts."
	test := []Record{mk("9", law, answer)}
	assert.Equal(t, Leaks{}, CheckLeaks([]Record{mk("8", "Section 8: Notices are given in writing to the addresses above.", "x")}, test))
	assert.Equal(t, Leaks{SharedClauses: 1, ClausesInTrainInputs: 1, AnswersInTrainInputs: 1}, CheckLeaks([]Record{mk("9", law, "y")}, test))
	neighbours := mk("8", "Section 8: Notices are given in writing to the addresses above.\n\n"+law, "x")
	assert.Equal(t, Leaks{ClausesInTrainInputs: 1, AnswersInTrainInputs: 1}, CheckLeaks([]Record{neighbours}, test))
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err, path)
	s := strings.TrimSpace(string(data))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestWriteDataset(t *testing.T) {
	dir := t.TempDir()
	cs := mustParse(t, fixtures)
	opts := DefaultGenOptions()
	opts.Split = [3]float64{0.6, 0.2, 0.2}
	ds := Generate(cs, opts)
	require.NoError(t, WriteDataset(filepath.Join(dir, "qa.jsonl"), ds))
	cases := []struct {
		name string
		n    int
	}{
		{"qa.jsonl", len(ds.All)}, {"qa_train.jsonl", len(ds.Train)}, {"qa_val.jsonl", len(ds.Validation)}, {"qa_test.jsonl", len(ds.Test)},
		{"train.jsonl", len(ds.Train)}, {"validation.jsonl", len(ds.Validation)}, {"test.jsonl", len(ds.Test)},
	}
	for _, tc := range cases {
		lines := readLines(t, filepath.Join(dir, tc.name))
		assert.Len(t, lines, tc.n, tc.name)
		if tc.n == 0 {
			continue
		}
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(lines[0]), &r))
		for _, k := range []string{"instruction", "input", "output", "kind"} {
			assert.Contains(t, r, k)
		}
	}
	var sum Summary
	data, err := os.ReadFile(filepath.Join(dir, "qa_summary.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &sum))
	assert.Equal(t, len(ds.All), sum.Records["all"])
	assert.Equal(t, len(ds.Validation), sum.Records["validation"])
	assert.Equal(t, opts.Split, sum.Options.Split)
	assert.Equal(t, "qa_val.jsonl", sum.Files["validation"])
	assert.Equal(t, ds.Stats.ByKind[KindFact].Test, sum.ByKind[KindFact].Test)
	assert.InDelta(t, share(ds.Stats.ByKind[KindSummary].Train, len(ds.Train)), sum.Share["train/summary"], 1e-4)
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 8, "no temporary files left")
	table := FormatStats(ds)
	for _, want := range []string{"records", "fact", "summary", "unanswerable", "leakage"} {
		assert.Contains(t, table, want)
	}
}

// TestWriteDatasetRefusesCollisions: an output path named like a split
// file would have the split overwrite the all-records file (issue 13); it
// is refused before anything is written.
func TestWriteDatasetRefusesCollisions(t *testing.T) {
	dir := t.TempDir()
	ds := &Dataset{All: []Record{{Output: "x"}}}
	for _, name := range []string{"train.jsonl", "validation.jsonl", "test.jsonl", "data.json", "data"} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte("mine\n"), 0o644))
		err := WriteDataset(path, ds)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), name)
		got, _ := os.ReadFile(path)
		assert.Equal(t, "mine\n", string(got), "%s is untouched", name)
	}
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 5, "nothing else written")
}

// TestWriteDatasetFullDisk injects a write failure into one file of the
// set (as a full disk would): every file of the earlier data set keeps its
// content and no temporary file is left.
func TestWriteDatasetFullDisk(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "qa.jsonl")
	cs := mustParse(t, fixtures)
	old := Generate(cs, DefaultGenOptions())
	require.NoError(t, WriteDataset(out, old))
	before := map[string]string{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		before[e.Name()] = string(data)
	}

	real := writeSet
	t.Cleanup(func() { writeSet = real })
	writeSet = func(files []atomicfile.File) error {
		full := files[5] // validation.jsonl, after four complete files
		inner := full.Write
		files[5].Write = func(w io.Writer) error {
			if err := inner(w); err != nil {
				return err
			}
			return errors.New("no space left on device")
		}
		return real(files)
	}
	opts := DefaultGenOptions()
	opts.Seed = 7
	err := WriteDataset(out, Generate(cs, opts))
	require.ErrorContains(t, err, "no space left on device")
	require.ErrorContains(t, err, "validation.jsonl")
	entries, _ = os.ReadDir(dir)
	require.Len(t, entries, len(before), "no temporary left")
	for name, want := range before {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, want, string(data), "%s keeps the earlier data set", name)
	}
}
