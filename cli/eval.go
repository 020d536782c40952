package cli

import (
	"bufio"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/eval"
	"github.com/tune-dev/tune/qwen"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/train"
)

func (e *env) evalCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:  "eval",
		Usage: "score predictions (BLEU, ROUGE, exact match, F1, legal citation metrics), or generate them first with a model",
		Flags: append(modelFlags(),
			strFlag("predictions", "JSONL of {\"prediction\", \"reference\"} or {\"prediction\", \"references\": [...]} records to score offline", ""),
			strFlag("data", "with --base_model: JSONL of instruction/input/output or messages records whose answers are generated and scored", ""),
			boolFlag("per_example", "also print one JSON line of scores per record on stdout"),
			strFlag("report", "where to write the JSON report", "evaluation_report.json"),
			intFlag("batch_size", "prompts generated at once with --base_model", 8),
			intFlag("max_new_tokens", "most tokens per generated answer", 256),
		),
		Action: func(c *ucli.Context) error {
			err := checkOutput(flagPath{"report", c.String("report")}, flagPath{"predictions", c.String("predictions")},
				flagPath{"data", c.String("data")}, flagPath{"base_model", c.String("base_model")},
				flagPath{"adapter", c.String("adapter")}, flagPath{"tokenizer", c.String("tokenizer")})
			if err != nil {
				return err
			}
			var examples []eval.Example
			switch {
			case c.String("predictions") != "" && c.String("base_model") != "":
				return fmt.Errorf("give either --predictions or --base_model with --data, not both")
			case c.String("predictions") != "":
				examples, err = eval.ReadPredictions(c.String("predictions"))
			case c.String("base_model") != "" && c.String("data") != "":
				examples, err = e.generateExamples(c)
			default:
				return fmt.Errorf("need --predictions FILE, or --base_model DIR with --data FILE")
			}
			if err != nil {
				return err
			}
			if len(examples) == 0 {
				return fmt.Errorf("no records to evaluate")
			}
			r := eval.Evaluate(examples)
			if c.Bool("per_example") {
				out := bufio.NewWriter(e.stdout)
				for _, s := range r.PerExample {
					if err := printJSON(out, s); err != nil {
						return err
					}
				}
				if err := out.Flush(); err != nil {
					return err
				}
			}
			if err := eval.WriteReport(c.String("report"), r); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "tune: %d examples: BLEU %.2f, ROUGE-L %.4f, exact match %.4f, F1 %.4f, citation F1 %.4f; report in %s\n",
				r.N, r.BLEU, r.Rouge.RougeL, r.ExactMatch, r.F1, r.LegalMetrics.CitationF1, c.String("report"))
			return nil
		},
	})
}

// generateExamples answers every chat record of --data greedily with the
// model, in batches, and pairs each answer with the record's reference.
func (e *env) generateExamples(c *ucli.Context) ([]eval.Example, error) {
	m, err := e.openModel(c)
	if err != nil {
		return nil, err
	}
	tok, err := e.modelTokenizer(c, m)
	if err != nil {
		return nil, err
	}
	var prompts [][]int32
	var refs []string
	err = train.ReadJSONL(c.String("data"), func(line int, r train.Record) error {
		msgs := r.ChatMessages()
		if r.Pretokenized() || len(msgs) == 0 || msgs[len(msgs)-1].Role != "assistant" {
			return fmt.Errorf("record has no assistant answer to use as the reference")
		}
		prompts = append(prompts, encode(tok, tokenizer.ApplyChatTemplate(msgs[:len(msgs)-1], true)))
		refs = append(refs, msgs[len(msgs)-1].Content)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Greedy whatever the model folder says, so scores are deterministic;
	// the folder still decides where answers stop.
	gc, err := modelGenerationConfig(c, m, tok)
	if err != nil {
		return nil, err
	}
	g := qwen.DefaultGenerationConfig()
	g.MaxNewTokens = c.Int("max_new_tokens")
	g.EOSTokenIDs = gc.EOSTokenIDs
	return answer(m, tok, prompts, refs, g, max(c.Int("batch_size"), 1), e.stderr)
}
