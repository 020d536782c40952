package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fixtures = "../testdata/contracts"

// contractFolder is a scratch folder holding one contract, headings.txt.
func contractFolder(t *testing.T) string {
	t.Helper()
	in := t.TempDir()
	text, err := os.ReadFile(filepath.Join(fixtures, "headings.txt"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(in, "headings.txt"), text, 0o644))
	return in
}

// TestGenDataBadFlags: every numeric or path flag out of range ends in a
// one-line error naming the flag, before any file is read or written.
func TestGenDataBadFlags(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "qa.jsonl")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--unanswerable_ratio", "-1"}, "--unanswerable_ratio -1"},
		{[]string{"--unanswerable_ratio", "NaN"}, "--unanswerable_ratio NaN"},
		{[]string{"--unanswerable_ratio", "2"}, "--unanswerable_ratio 2"},
		{[]string{"--num_augmentations", "-3"}, "--num_augmentations -3"},
		{[]string{"--split", "0.8,0.1"}, "--split"},
		{[]string{"--split", "0.9,0.2,-0.1"}, "--split"},
		{[]string{"--output_path", filepath.Join(dir, "train.jsonl")}, "--output_path"},
		{[]string{"--output_path", filepath.Join(dir, "qa.json")}, "--output_path"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"gen-data", "--contract_path", fixtures, "--output_path", out}, tc.args...)
			_, _, err := run(t, "", args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written")
}

// TestGenDataOutputCollision: the all-records file named train.jsonl would
// be overwritten by the train split; it is refused and left as it was.
func TestGenDataOutputCollision(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "train.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("{\"keep\": 1}\n"), 0o644))
	_, _, err := run(t, "", "gen-data", "--contract_path", fixtures, "--output_path", path)
	require.ErrorContains(t, err, "--output_path")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "{\"keep\": 1}\n", string(got))
}

// TestGenDataSplitFileIsInput: the split files written beside
// --output_path are checked like it: a train.jsonl already in the contract
// folder (here a text file, which would also be read as a contract) is
// refused and left as it was, and nothing is written.
func TestGenDataSplitFileIsInput(t *testing.T) {
	in := contractFolder(t)
	train := filepath.Join(in, "train.jsonl")
	require.NoError(t, os.WriteFile(train, []byte("notes kept by hand\n"), 0o644))
	_, _, err := run(t, "", "gen-data", "--contract_path", in, "--output_path", filepath.Join(in, "qa.jsonl"))
	require.ErrorContains(t, err, train+" is a file inside the --contract_path folder")
	assert.NotContains(t, err.Error(), "\n")
	got, err := os.ReadFile(train)
	require.NoError(t, err)
	assert.Equal(t, "notes kept by hand\n", string(got))
	entries, err := os.ReadDir(in)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "nothing written")
}

// TestGenDataAugmentationCap: a huge --num_augmentations is lowered to the
// distinct variants available, with a note, and finishes at once.
func TestGenDataAugmentationCap(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "qa.jsonl")
	stdout, stderr, err := run(t, "", "gen-data", "--contract_path", fixtures, "--output_path", out, "--augment", "--num_augmentations", "1000000")
	require.NoError(t, err)
	assert.Contains(t, stderr, "--num_augmentations 1000000")
	assert.Contains(t, stderr, "using 8")
	assert.Contains(t, stdout, "leakage into validation/test: 0 shared clauses")
	var sum struct {
		Options struct {
			NumAugmentations int `json:"num_augmentations"`
		} `json:"options"`
		Records map[string]int `json:"records"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "qa_summary.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &sum))
	assert.Equal(t, 8, sum.Options.NumAugmentations)
	assert.Positive(t, sum.Records["all"])
}

// TestGenDataSkipsBinary: a binary file in the contract folder is skipped
// with a message naming it; the text contracts are used.
func TestGenDataSkipsBinary(t *testing.T) {
	in := contractFolder(t)
	require.NoError(t, os.WriteFile(filepath.Join(in, "scan.pdf"), []byte("%PDF-1.4\x00\x01\x02binary"), 0o644))
	out := filepath.Join(t.TempDir(), "qa.jsonl")
	stdout, stderr, err := run(t, "", "gen-data", "--contract_path", in, "--output_path", out)
	require.NoError(t, err)
	assert.Contains(t, stderr, "scan.pdf")
	assert.Contains(t, stderr, "not a text contract")
	assert.Contains(t, stdout, "1 contracts")

	_, _, err = run(t, "", "gen-data", "--contract_path", filepath.Join(in, "scan.pdf"), "--output_path", out)
	require.ErrorContains(t, err, "scan.pdf")
}

func TestParseOutline(t *testing.T) {
	out, _, err := run(t, "", "parse", "--format", "outline", filepath.Join(fixtures, "headings.txt"))
	require.NoError(t, err)
	assert.Contains(t, out, `"MASTER PURCHASE AGREEMENT" (text)`)
	assert.Regexp(t, `(?m)^      2\.2\(a\) +\[paragraph, bytes \d+-\d+\]$`, out)
	_, _, err = run(t, "", "parse", "--format", "yaml", filepath.Join(fixtures, "headings.txt"))
	require.ErrorContains(t, err, "--format")
}
