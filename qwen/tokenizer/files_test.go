package tokenizer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/qwen/tokenizer"
)

// TestFilesRoundTrip: the tokenizer of a folder holding a gzipped
// tokenizer.json and a tokenizer_config.json, written into a model folder,
// is tokenizer.json inflated and the same config, and loads as the same
// tokenizer with the config's eos token.
func TestFilesRoundTrip(t *testing.T) {
	src := t.TempDir()
	gz, err := os.ReadFile("../../testdata/tokenizer/tokenizer.json.gz")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(src, tokenizer.GzFile), gz, 0o644))
	config := []byte(`{"eos_token": "<|endoftext|>"}`)
	require.NoError(t, os.WriteFile(filepath.Join(src, tokenizer.ConfigFile), config, 0o644))

	f, err := tokenizer.ReadFiles(src)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(src, tokenizer.GzFile), f.JSONPath)
	require.Equal(t, config, f.Config)
	dir := t.TempDir()
	require.NoError(t, f.Write(dir))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	written, err := os.ReadFile(filepath.Join(dir, tokenizer.JSONFile))
	require.NoError(t, err)
	require.Equal(t, f.JSON, written)

	want, err := tokenizer.Load(src)
	require.NoError(t, err)
	got, err := tokenizer.Load(dir)
	require.NoError(t, err)
	require.Equal(t, want.EOSIDs(), got.EOSIDs())
	eot, ok := got.TokenID("<|endoftext|>")
	require.True(t, ok)
	require.Equal(t, []int{eot}, got.EOSIDs())
	text := "Clause 4.2: the Supplier shall indemnify the Customer."
	require.Equal(t, want.Encode(text), got.Encode(text))

	_, err = tokenizer.ReadFiles(t.TempDir())
	require.ErrorContains(t, err, tokenizer.GzFile)
}
