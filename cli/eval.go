package cli

import (
	"bufio"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/eval"
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
			systemFlag("with --base_model: system prompt of the --data records that have none of their own"),
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
			fmt.Fprintf(e.stderr, "tune: %s; report in %s\n", r.Headline(), c.String("report"))
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
	defer m.Free()
	tok, err := e.modelTokenizer(c, m)
	if err != nil {
		return nil, err
	}
	system, source, err := e.systemPrompt(c, m)
	if err != nil {
		return nil, err
	}
	q, err := train.LoadQA(c.String("data"), tok, system, 0)
	if err != nil {
		return nil, err
	}
	if err := q.Check(m.Config, c.Int("max_new_tokens")); err != nil {
		return nil, err
	}
	g, err := train.GreedyGeneration(e.modelDir, m.Config, tok, c.Int("max_new_tokens"))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "tune: answering %d records greedily; system prompt of records without their own: %s\n", len(q.Prompts), source)
	return q.Answer(c.Context, m, tok, g, c.Int("batch_size"), prefixed{e.stderr, "tune: "})
}
