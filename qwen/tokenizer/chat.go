package tokenizer

import "strings"

// DefaultSystemPrompt is the system prompt the Qwen2.5-Instruct chat template
// uses when the conversation does not start with a system message.
const DefaultSystemPrompt = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

// Message is one chat turn. Role is "system", "user", "assistant" or "tool".
type Message struct {
	Role    string
	Content string
}

// ApplyChatTemplate renders messages as the Qwen2.5-Instruct chat template
// (tokenizer_config.json's chat_template, called without tools) does:
//
//   - a system turn first, with the first message's content if it is a system
//     message and DefaultSystemPrompt otherwise;
//   - for each user and assistant message, and each system message but the
//     first, <|im_start|>ROLE\nCONTENT<|im_end|>\n;
//   - for a run of consecutive tool messages, one user turn holding each
//     content as \n<tool_response>\nCONTENT\n</tool_response>;
//   - messages with other roles are left out;
//   - with addGenerationPrompt, <|im_start|>assistant\n at the end.
//
// For an empty conversation it renders the default system turn (the Jinja
// template fails there).
func ApplyChatTemplate(messages []Message, addGenerationPrompt bool) string {
	var b strings.Builder
	b.WriteString("<|im_start|>system\n")
	if len(messages) > 0 && messages[0].Role == "system" {
		b.WriteString(messages[0].Content)
	} else {
		b.WriteString(DefaultSystemPrompt)
	}
	b.WriteString("<|im_end|>\n")
	for i, m := range messages {
		switch {
		case m.Role == "user" || m.Role == "assistant" || (m.Role == "system" && i > 0):
			b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		case m.Role == "tool":
			if i == 0 || messages[i-1].Role != "tool" {
				b.WriteString("<|im_start|>user")
			}
			b.WriteString("\n<tool_response>\n" + m.Content + "\n</tool_response>")
			if i == len(messages)-1 || messages[i+1].Role != "tool" {
				b.WriteString("<|im_end|>\n")
			}
		}
	}
	if addGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String()
}
