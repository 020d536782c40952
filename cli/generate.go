package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/train"
)

func (e *env) generateCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:  "generate",
		Usage: "answer a prompt with a model (and adapter), streaming the answer",
		Flags: append(modelFlags(),
			strFlag("prompt", "the user message (or the raw text with --raw)", ""),
			systemFlag("system prompt"),
			boolFlag("raw", "feed --prompt to the model as is, without the chat template"),
			intFlag("max_new_tokens", "most tokens to generate", 256),
			altsrc.NewBoolFlag(&ucli.BoolFlag{Name: "do_sample", Usage: "sample instead of greedy decoding", DefaultText: "generation_config.json's, else false"}),
			boolFlag("greedy", "greedy decoding even if generation_config.json samples"),
			unsetFloat("temperature", "sampling temperature", "generation_config.json's, else 1"),
			unsetFloat("top_p", "nucleus sampling: keep the most likely tokens up to this mass", "generation_config.json's, else 1"),
			unsetInt("top_k", "sample among the k most likely tokens (0: all)", "generation_config.json's, else 50"),
			unsetFloat("repetition_penalty", "divide positive (multiply negative) logits of tokens already present", "generation_config.json's, else 1"),
			intFlag("seed", "sampling seed", 42),
		),
		Action: func(c *ucli.Context) error {
			if c.String("prompt") == "" {
				return fmt.Errorf("--prompt is required")
			}
			m, err := e.openModel(c)
			if err != nil {
				return err
			}
			tok, err := e.modelTokenizer(c, m)
			if err != nil {
				return err
			}
			g, err := e.generationConfig(c, m, tok)
			if err != nil {
				return err
			}
			text, status := c.String("prompt"), "raw prompt"
			if !c.Bool("raw") {
				system, source, err := e.systemPrompt(c, m)
				if err != nil {
					return err
				}
				text = tok.ApplyChatTemplate([]tokenizer.Message{{Role: "system", Content: system}, {Role: "user", Content: text}}, true)
				status = "system prompt: " + source
			}
			var prompt []int32
			for _, id := range tok.Encode(text) {
				prompt = append(prompt, int32(id))
			}
			fmt.Fprintf(e.stderr, "tune: %s, %d prompt tokens, %s\n", m.Backend.Name(), len(prompt), status)
			stream := tok.NewStreamDecoder(true)
			_, err = m.Generate(prompt, g, func(id int32) bool {
				fmt.Fprint(e.stdout, stream.Add(int(id)))
				return true
			})
			fmt.Fprintln(e.stdout, stream.Flush())
			return err
		},
	})
}

// generationConfig starts from the model folder's generation_config.json
// and applies the decoding flags that were set.
func (e *env) generationConfig(c *ucli.Context, m *decoder.Model, tok *tokenizer.Tokenizer) (decoder.GenerationConfig, error) {
	g, err := train.ModelGeneration(e.modelDir, m.Config, tok)
	if err != nil {
		return g, err
	}
	g.MaxNewTokens = c.Int("max_new_tokens")
	g.Seed = uint64(c.Int("seed"))
	if c.IsSet("do_sample") {
		g.DoSample = c.Bool("do_sample")
	}
	if c.Bool("greedy") {
		g.DoSample = false
	}
	if c.IsSet("temperature") {
		g.Temperature = c.Float64("temperature")
	}
	if c.IsSet("top_p") {
		g.TopP = c.Float64("top_p")
	}
	if c.IsSet("top_k") {
		g.TopK = c.Int("top_k")
	}
	if c.IsSet("repetition_penalty") {
		g.RepetitionPenalty = c.Float64("repetition_penalty")
	}
	return g, g.Validate()
}
