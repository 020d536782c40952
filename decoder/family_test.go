package decoder_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/golden"
)

// TestLoadConfigFamily: config.json's model_type, else its architectures,
// picks the family; an unknown one, and what a family refuses, are errors
// naming the file and the field.
func TestLoadConfigFamily(t *testing.T) {
	base, err := os.ReadFile(filepath.Join(golden.Dir("llama3-tiny"), "base_model", "config.json"))
	require.NoError(t, err)
	load := func(edit func(string) string) (*decoder.Config, string, error) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(edit(string(base))), 0o644))
		c, err := decoder.LoadConfig(dir)
		return c, filepath.Join(dir, "config.json"), err
	}
	c, _, err := load(func(s string) string { return s })
	require.NoError(t, err)
	require.Equal(t, "llama", c.Family().ModelType)
	require.False(t, c.Family().QKVBias)

	c, _, err = load(func(s string) string { return strings.Replace(s, `"model_type": "llama",`, "", 1) })
	require.NoError(t, err)
	require.Equal(t, "llama", c.ModelType, "found by its architectures")

	for _, bad := range []struct{ from, to, err string }{
		{`"model_type": "llama"`, `"model_type": "mistral"`, `model_type "mistral" (architectures [LlamaForCausalLM]) is not a supported family (supported: llama (LlamaForCausalLM), qwen2 (Qwen2ForCausalLM))`},
		{`"attention_bias": false`, `"attention_bias": true`, "attention_bias is true"},
		{`"mlp_bias": false`, `"mlp_bias": true`, "mlp_bias is true"},
		{`"rope_type": "llama3"`, `"rope_type": "yarn"`, `rope_scaling type "yarn" is not supported`},
		{`"factor": 8.0`, `"factor": 0`, "rope_scaling llama3 needs factor > 0"},
		{`"model_type": "llama"`, `"model_type": "qwen2"`, "rope_scaling"},
	} {
		_, path, err := load(func(s string) string {
			out := strings.Replace(s, bad.from, bad.to, 1)
			require.NotEqual(t, s, out, bad.from)
			return out
		})
		require.ErrorContains(t, err, bad.err)
		require.ErrorContains(t, err, path)
	}
	_, _, err = load(func(s string) string {
		return strings.Replace(strings.Replace(s, `"model_type": "llama",`, "", 1), "LlamaForCausalLM", "MistralForCausalLM", 1)
	})
	require.ErrorContains(t, err, "no model_type, and architectures [MistralForCausalLM] name no supported family")
}
