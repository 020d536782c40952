package tokenizer

import "strings"

// QwenSystemPrompt is the system prompt the Qwen2.5-Instruct chat template
// uses when the conversation does not start with a system message.
const QwenSystemPrompt = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

// Message is one chat turn. Role is "system", "user", "assistant" or "tool".
type Message struct {
	Role    string
	Content string
}

// Segment is a piece of a rendered conversation. Train marks what a
// fine-tune learns to write: an assistant answer with the token that ends
// its turn.
type Segment struct {
	Text  string
	Train bool
}

// ChatTemplate is a model family's instruct chat template, rendered
// exactly as its Jinja template in tokenizer_config.json renders it
// without tools.
type ChatTemplate interface {
	// Segments renders msgs, with the generation prompt (the header of
	// an assistant turn) at the end when addGenerationPrompt.
	Segments(msgs []Message, addGenerationPrompt bool) []Segment
	// DefaultSystemPrompt is the system prompt the template renders when
	// the conversation has none; rendering it as a first system message
	// gives the same text.
	DefaultSystemPrompt() string
}

// Render is the text of t's rendering of msgs.
func Render(t ChatTemplate, msgs []Message, addGenerationPrompt bool) string {
	var b strings.Builder
	for _, s := range t.Segments(msgs, addGenerationPrompt) {
		b.WriteString(s.Text)
	}
	return b.String()
}

// ChatML is the Qwen2.5-Instruct chat template, the one a Tokenizer
// renders unless its Chat is set to another family's:
//
//   - a system turn first, with the first message's content if it is a system
//     message and QwenSystemPrompt otherwise;
//   - for each user and assistant message, and each system message but the
//     first, <|im_start|>ROLE\nCONTENT<|im_end|>\n;
//   - for a run of consecutive tool messages, one user turn holding each
//     content as \n<tool_response>\nCONTENT\n</tool_response>;
//   - messages with other roles are left out;
//   - with addGenerationPrompt, <|im_start|>assistant\n at the end.
//
// For an empty conversation it renders the default system turn (the Jinja
// template fails there). An assistant answer and its <|im_end|> are the
// trained segment.
type ChatML struct{}

// DefaultSystemPrompt implements ChatTemplate.
func (ChatML) DefaultSystemPrompt() string { return QwenSystemPrompt }

// Segments implements ChatTemplate.
func (ChatML) Segments(messages []Message, addGenerationPrompt bool) []Segment {
	var segs []Segment
	text := func(s string) { segs = append(segs, Segment{Text: s}) }
	system := QwenSystemPrompt
	if len(messages) > 0 && messages[0].Role == "system" {
		system = messages[0].Content
	}
	text("<|im_start|>system\n" + system + "<|im_end|>\n")
	for i, m := range messages {
		switch {
		case m.Role == "assistant":
			text("<|im_start|>assistant\n")
			segs = append(segs, Segment{Text: m.Content + "<|im_end|>", Train: true})
			text("\n")
		case m.Role == "user" || (m.Role == "system" && i > 0):
			text("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
		case m.Role == "tool":
			var b strings.Builder
			if i == 0 || messages[i-1].Role != "tool" {
				b.WriteString("<|im_start|>user")
			}
			b.WriteString("\n<tool_response>\n" + m.Content + "\n</tool_response>")
			if i == len(messages)-1 || messages[i+1].Role != "tool" {
				b.WriteString("<|im_end|>\n")
			}
			text(b.String())
		}
	}
	if addGenerationPrompt {
		text("<|im_start|>assistant\n")
	}
	return segs
}

// ApplyChatTemplate renders messages with the tokenizer's chat template
// (Chat, ChatML when unset).
func (t *Tokenizer) ApplyChatTemplate(messages []Message, addGenerationPrompt bool) string {
	return Render(t.ChatTemplate(), messages, addGenerationPrompt)
}

// ChatTemplate is the template the tokenizer renders: Chat, or ChatML
// when unset or t is nil (pre-tokenized data has no tokenizer).
func (t *Tokenizer) ChatTemplate() ChatTemplate {
	if t == nil || t.Chat == nil {
		return ChatML{}
	}
	return t.Chat
}
