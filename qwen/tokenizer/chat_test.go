package tokenizer

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestApplyChatTemplate(t *testing.T) {
	// Expected strings written by hand from the Qwen2.5-Instruct Jinja
	// template (testdata/tokenizer/tokenizer_config.json, chat_template) with
	// tools undefined: the "else" branch emits
	// '<|im_start|>system\n' + (messages[0].content if messages[0].role ==
	// 'system' else the default prompt) + '<|im_end|>\n'; the loop emits
	// '<|im_start|>' + role + '\n' + content + '<|im_end|>\n' for user,
	// assistant (no tool_calls) and system messages that are not first; tool
	// messages are grouped into one user turn of
	// '\n<tool_response>\n' + content + '\n</tool_response>'; and
	// add_generation_prompt appends '<|im_start|>assistant\n'. The {%- and
	// {{- markers strip all template whitespace, so nothing else appears.
	// (Python's jinja2 was not installed, so no rendering was generated.)
	const def = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
	tests := []struct {
		name      string
		messages  []Message
		genPrompt bool
		want      string
	}{
		{
			name:     "user only: default system prompt",
			messages: []Message{{"user", "Hi"}},
			want:     def + "<|im_start|>user\nHi<|im_end|>\n",
		},
		{
			name:      "generation prompt",
			messages:  []Message{{"user", "Hi"}},
			genPrompt: true,
			want:      def + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
		},
		{
			name:     "first system message rendered once",
			messages: []Message{{"system", "You review contracts."}, {"user", "Term?"}, {"assistant", "Two years."}},
			want: "<|im_start|>system\nYou review contracts.<|im_end|>\n" +
				"<|im_start|>user\nTerm?<|im_end|>\n<|im_start|>assistant\nTwo years.<|im_end|>\n",
		},
		{
			name:     "later system message is a normal turn",
			messages: []Message{{"user", "a"}, {"system", "b"}, {"assistant", "c"}},
			want: def + "<|im_start|>user\na<|im_end|>\n<|im_start|>system\nb<|im_end|>\n" +
				"<|im_start|>assistant\nc<|im_end|>\n",
		},
		{
			name:      "empty system content, multi-line user content",
			messages:  []Message{{"system", ""}, {"user", "line 1\nline 2\n"}},
			genPrompt: true,
			want: "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nline 1\nline 2\n<|im_end|>\n" +
				"<|im_start|>assistant\n",
		},
		{
			name:     "tool results grouped in one user turn",
			messages: []Message{{"user", "q"}, {"tool", "r1"}, {"tool", "r2"}, {"assistant", "a"}, {"tool", "r3"}},
			want: def + "<|im_start|>user\nq<|im_end|>\n" +
				"<|im_start|>user\n<tool_response>\nr1\n</tool_response>\n<tool_response>\nr2\n</tool_response><|im_end|>\n" +
				"<|im_start|>assistant\na<|im_end|>\n" +
				"<|im_start|>user\n<tool_response>\nr3\n</tool_response><|im_end|>\n",
		},
		{
			name:     "unknown role rendered as nothing",
			messages: []Message{{"user", "x"}, {"narrator", "y"}},
			want:     def + "<|im_start|>user\nx<|im_end|>\n",
		},
		{
			name:      "no messages: default system turn",
			genPrompt: true,
			want:      def + "<|im_start|>assistant\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Render(ChatML{}, tc.messages, tc.genPrompt))
		})
	}
}

func TestChatTemplateEncoding(t *testing.T) {
	tok := qwen(t)
	text := Render(ChatML{}, []Message{{"user", "Hi"}}, true)
	ids := tok.Encode(text)
	// The turn markers are single special tokens.
	require.Equal(t, qwenIMStart, ids[0])
	require.Equal(t, qwenIMStart, ids[len(ids)-3])
	require.Equal(t, text, tok.Decode(ids, false))
	require.Equal(t, "system\n"+QwenSystemPrompt+"\nuser\nHi\nassistant\n", tok.Decode(ids, true))
}
