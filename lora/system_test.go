package lora_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/lora"
)

// TestSystemPromptRoundTrip saves an adapter with a recorded system prompt
// and loads it back; the adapter's two PEFT files are the same bytes as
// without one (PEFT never sees the prompt), and saving an adapter without
// a prompt over the folder removes the stale file.
func TestSystemPromptRoundTrip(t *testing.T) {
	c := goldenCases[0]
	src := filepath.Join("../testdata/golden", c.name, "adapter")
	a, err := lora.Load(src, c.name, c.layers, c.shape)
	require.NoError(t, err)
	require.Nil(t, a.System, "PEFT's folder records no system prompt")

	plain := t.TempDir()
	require.NoError(t, a.Save(plain))
	p := &lora.SystemPrompt{Prompt: "Cite the clause.\nBe brief.", Records: 3, ChatRecords: 4, Distinct: 2}
	a.System = p
	dir := t.TempDir()
	require.NoError(t, a.Save(dir))
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		want, err := os.ReadFile(filepath.Join(plain, f))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Equal(t, want, got, f)
	}
	b, err := lora.Load(dir, c.name, c.layers, c.shape)
	require.NoError(t, err)
	require.Equal(t, p, b.System)
	got, err := lora.ReadSystemPrompt(dir)
	require.NoError(t, err)
	require.Equal(t, p, got)

	a.System = nil
	require.NoError(t, a.Save(dir))
	_, err = os.Stat(filepath.Join(dir, lora.SystemPromptFile))
	require.ErrorIs(t, err, os.ErrNotExist)
	got, err = lora.ReadSystemPrompt(dir)
	require.NoError(t, err)
	require.Nil(t, got)

	require.NoError(t, os.WriteFile(filepath.Join(dir, lora.SystemPromptFile), []byte("{"), 0o644))
	_, err = lora.Load(dir, c.name, c.layers, c.shape)
	require.ErrorContains(t, err, lora.SystemPromptFile)
}
