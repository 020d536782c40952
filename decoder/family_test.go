package decoder_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/golden"
	"github.com/tune-dev/tune/qwen/tokenizer"
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

	_, _, err = load(func(s string) string {
		return strings.Replace(s, `"hidden_size": 64,`, `"hidden_size": 64, "head_dim": 16,`, 1)
	})
	require.NoError(t, err, "head_dim equal to hidden_size / num_attention_heads")
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
		{`"hidden_size": 64,`, `"hidden_size": 64, "head_dim": 32,`, "head_dim 32 is not hidden_size / num_attention_heads = 16"},
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

// TestChatTemplatesMatchJinja renders, with each family's Chat, the
// conversations of testdata/chat/<template>.json, which jinja2 rendered
// from that family's Jinja template as transformers 4.44.2 does (see
// testdata/chat/SOURCE.md), and checks that the trained segments are the
// assistant answers, each with the end-of-turn token after it.
func TestChatTemplatesMatchJinja(t *testing.T) {
	for _, f := range []struct{ modelType, file, end string }{
		{"qwen2", "qwen2.5-instruct.json", "<|im_end|>"},
		{"llama", "llama3.1-instruct.json", "<|eot_id|>"},
	} {
		chat := (&decoder.Config{ModelType: f.modelType}).Family().Chat
		data, err := os.ReadFile(filepath.Join("..", "testdata", "chat", f.file))
		require.NoError(t, err)
		var cases []struct {
			Name     string
			Messages []tokenizer.Message
			Gen      bool `json:"add_generation_prompt"`
			Text     string
		}
		require.NoError(t, json.Unmarshal(data, &cases))
		require.NotEmpty(t, cases)
		for _, c := range cases {
			t.Run(f.modelType+"/"+c.Name, func(t *testing.T) {
				require.Equal(t, c.Text, tokenizer.Render(chat, c.Messages, c.Gen))
				var answers, trained []string
				for _, m := range c.Messages {
					if m.Role == "assistant" {
						answers = append(answers, strings.TrimSpace(m.Content))
					}
				}
				for _, s := range chat.Segments(c.Messages, c.Gen) {
					if s.Train {
						require.True(t, strings.HasSuffix(s.Text, f.end), s.Text)
						trained = append(trained, strings.TrimSpace(strings.TrimSuffix(s.Text, f.end)))
					}
				}
				require.Equal(t, answers, trained)
			})
		}
		// No system message renders as the default one.
		user := []tokenizer.Message{{Role: "user", Content: "Hi"}}
		withDefault := append([]tokenizer.Message{{Role: "system", Content: chat.DefaultSystemPrompt()}}, user...)
		require.Equal(t, tokenizer.Render(chat, user, true), tokenizer.Render(chat, withDefault, true), f.modelType)
	}
}
