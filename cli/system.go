package cli

import (
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// systemFlag is --system of the commands that build chat prompts.
func systemFlag(usage string) ucli.Flag {
	return strFlag("system", usage+" (default: the system prompt recorded with the adapter, else the chat template's)", "")
}

// systemPrompt is the system turn for chat prompts without one of their
// own, for model m opened by openModel: --system when given, else
// recordedSystemPrompt's. source says which, for the status line.
func (e *env) systemPrompt(c *ucli.Context, m *decoder.Model) (prompt, source string, err error) {
	if c.IsSet("system") {
		return c.String("system"), "--system", nil
	}
	return recordedSystemPrompt(m.Adapter, e.modelDir, m.Config.Family().Chat)
}

// recordedSystemPrompt is the default system prompt of a model folder and
// an adapter (nil for none): the one recorded with the adapter, else the
// one recorded in the model folder (an adapter merged into it), else the
// default of the chat template chat. source says which.
func recordedSystemPrompt(a *lora.Adapter, modelDir string, chat tokenizer.ChatTemplate) (prompt, source string, err error) {
	if a != nil && a.System != nil {
		return a.System.Prompt, "the adapter's (" + lora.SystemPromptFile + ")", nil
	}
	p, err := lora.ReadSystemPrompt(modelDir)
	if err != nil {
		return "", "", err
	}
	if p != nil {
		return p.Prompt, "the model's (" + filepath.Join(modelDir, lora.SystemPromptFile) + ")", nil
	}
	return chat.DefaultSystemPrompt(), "the chat template's default", nil
}
