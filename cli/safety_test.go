package cli_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/internal/filetest"
)

const tinyDir = "../testdata/golden/qwen2-tiny"

// TestOutputIsNotAnInput: a command never writes over a file it reads; the
// refusal names both flags and leaves the input as it was.
func TestOutputIsNotAnInput(t *testing.T) {
	dir := t.TempDir()
	preds := filepath.Join(dir, "preds.jsonl")
	require.NoError(t, os.WriteFile(preds, []byte(`{"prediction": "Two years.", "reference": "Two years."}`+"\n"), 0o644))
	hard := filepath.Join(dir, "hard.jsonl")
	require.NoError(t, os.Link(preds, hard))
	soft := filepath.Join(dir, "soft.jsonl")
	require.NoError(t, os.Symlink(preds, soft))
	base := filetest.CopyDir(t, tinyDir+"/base_model")
	contract := filepath.Join(dir, "contract.txt")
	require.NoError(t, os.WriteFile(contract, []byte("1. Term. This Agreement lasts two years.\n"), 0o644))

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--predictions", preds, "--report", preds}, "--report " + preds + " is the --predictions file " + preds},
		{[]string{"eval", "--predictions", preds, "--report", hard}, "--report " + hard + " is the --predictions file"},
		{[]string{"eval", "--predictions", soft, "--report", preds}, "is the --predictions file " + soft},
		{[]string{"eval", "--base_model", base, "--data", preds, "--report", preds}, "is the --data file"},
		{[]string{"eval", "--base_model", base, "--data", preds, "--report", filepath.Join(base, "config.json")}, "is a file inside the --base_model folder " + base},
		{[]string{"gen-data", "--contract_path", contract, "--output_path", contract}, "--output_path " + contract + " is the --contract_path file"},
	} {
		before := []map[string]string{filetest.Snapshot(t, dir), filetest.Snapshot(t, base)}
		_, _, err := run(t, "", c.args...)
		require.ErrorContains(t, err, c.want, c.args)
		require.Equal(t, before, []map[string]string{filetest.Snapshot(t, dir), filetest.Snapshot(t, base)}, c.args)
	}
}
