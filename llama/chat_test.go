package llama_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/llama"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// TestChatMatchesJinja renders the conversations of
// testdata/chat/llama3.1-instruct.json (rendered by jinja2 from the Llama
// 3.1 Instruct template, see SOURCE.md) and checks that the trained
// segments are exactly the assistant answers with their <|eot_id|>.
func TestChatMatchesJinja(t *testing.T) {
	data, err := os.ReadFile("../testdata/chat/llama3.1-instruct.json")
	require.NoError(t, err)
	var cases []struct {
		Name     string
		Messages []struct{ Role, Content string }
		Gen      bool `json:"add_generation_prompt"`
		Text     string
	}
	require.NoError(t, json.Unmarshal(data, &cases))
	require.NotEmpty(t, cases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var msgs []tokenizer.Message
			var answers []string
			for _, m := range c.Messages {
				msgs = append(msgs, tokenizer.Message{Role: m.Role, Content: m.Content})
				if m.Role == "assistant" {
					answers = append(answers, strings.TrimSpace(m.Content)+"<|eot_id|>")
				}
			}
			require.Equal(t, c.Text, tokenizer.Render(llama.Chat{}, msgs, c.Gen))
			var trained []string
			for _, s := range (llama.Chat{}).Segments(msgs, c.Gen) {
				if s.Train {
					trained = append(trained, s.Text)
				}
			}
			require.Equal(t, answers, trained)
		})
	}
	// No system message renders as an empty one.
	user := []tokenizer.Message{{Role: "user", Content: "Hi"}}
	withEmpty := append([]tokenizer.Message{{Role: "system", Content: llama.Chat{}.DefaultSystemPrompt()}}, user...)
	require.Equal(t, tokenizer.Render(llama.Chat{}, user, true), tokenizer.Render(llama.Chat{}, withEmpty, true))
}
