package llama

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"

	"github.com/tune-dev/tune/qwen/tokenizer"
)

// Chat is the Llama 3.1 Instruct chat template (tokenizer_config.json's
// chat_template of meta-llama/Llama-3.1-8B-Instruct, as transformers
// 4.44.2 renders it) called without tools, custom tools or date_string:
//
//   - <|begin_of_text|> and a system turn first:
//     <|start_header_id|>system<|end_header_id|>\n\n, then
//     "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n",
//     then the first message's content, trimmed, if it is a system
//     message (nothing otherwise), then <|eot_id|>;
//   - for every other message but tool ones,
//     <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> with
//     CONTENT trimmed;
//   - for a tool (or ipython) message, the same under the role ipython,
//     with the content as a JSON string (the template's tojson);
//   - with addGenerationPrompt,
//     <|start_header_id|>assistant<|end_header_id|>\n\n at the end.
//
// So the default system prompt is empty: a conversation without a system
// message renders as one whose first message is an empty system message.
// An assistant answer and its <|eot_id|> are the trained segment.
type Chat struct{}

// knowledge is the fixed head of the system turn (date_string defaults to
// 26 Jul 2024 in the template).
const knowledge = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

// DefaultSystemPrompt implements tokenizer.ChatTemplate: none.
func (Chat) DefaultSystemPrompt() string { return "" }

// Segments implements tokenizer.ChatTemplate.
func (Chat) Segments(messages []tokenizer.Message, addGenerationPrompt bool) []tokenizer.Segment {
	var segs []tokenizer.Segment
	text := func(s string) { segs = append(segs, tokenizer.Segment{Text: s}) }
	header := func(role string) string { return "<|start_header_id|>" + role + "<|end_header_id|>\n\n" }
	system := ""
	if len(messages) > 0 && messages[0].Role == "system" {
		system, messages = trim(messages[0].Content), messages[1:]
	}
	text("<|begin_of_text|>" + header("system") + knowledge + system + "<|eot_id|>")
	for _, m := range messages {
		switch m.Role {
		case "assistant":
			text(header("assistant"))
			segs = append(segs, tokenizer.Segment{Text: trim(m.Content) + "<|eot_id|>", Train: true})
		case "tool", "ipython":
			text(header("ipython") + jsonString(m.Content) + "<|eot_id|>")
		default:
			text(header(m.Role) + trim(m.Content) + "<|eot_id|>")
		}
	}
	if addGenerationPrompt {
		text(header("assistant"))
	}
	return segs
}

// trim is Jinja's trim filter, Python's str.strip(): it also strips the
// separators U+001C..U+001F, which Python counts as whitespace.
func trim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })
}

// jsonString is the template's tojson of a string: Python's
// json.dumps(s, ensure_ascii=False).
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSuffix(b.String(), "\n")
	// Go escapes U+2028 and U+2029 even without HTML escaping; Python does not.
	return strings.NewReplacer(`\u2028`, "\u2028", `\u2029`, "\u2029").Replace(out)
}
