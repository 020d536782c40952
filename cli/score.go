package cli

import (
	"bufio"
	"fmt"
	"math"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/train/data"
)

// scoreLine is one record's result; Loss is null when nothing was scored.
type scoreLine struct {
	Loss   *float64 `json:"loss"`
	Tokens int      `json:"tokens"`
}

type scoreSummary struct {
	MeanLoss   *float64 `json:"mean_loss"`
	Perplexity *float64 `json:"perplexity"`
	Tokens     int      `json:"tokens"`
}

func (e *env) scoreCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:  "score",
		Usage: "causal-LM loss of each JSONL record, then the mean loss and perplexity",
		Flags: append(modelFlags(),
			strFlag("data", "JSONL of {\"input_ids\", \"labels\"} or instruction/input/output or messages records", ""),
		),
		Action: func(c *ucli.Context) error {
			path := c.String("data")
			if path == "" {
				return fmt.Errorf("--data is required")
			}
			m, err := e.openModel(c)
			if err != nil {
				return err
			}
			var tok *tokenizer.Tokenizer
			out := bufio.NewWriter(e.stdout)
			defer out.Flush() // the lines scored before an error
			var sum float64
			var total, records int
			err = data.ReadJSONL(path, func(line int, r data.Record) error {
				records++
				if !r.Pretokenized() && tok == nil {
					if tok, err = e.modelTokenizer(c, m); err != nil {
						return err
					}
				}
				res, err := recordLoss(m, tok, r)
				if err != nil {
					return err
				}
				if !isFinite(res.Sum) {
					return fmt.Errorf("the loss is %v: the model's outputs are not finite numbers (weights too large, or an adapter that diverged)", res.Sum)
				}
				l := scoreLine{Tokens: res.Tokens}
				if res.Tokens > 0 {
					l.Loss = &res.Mean
					sum += res.Sum
					total += res.Tokens
				}
				return printJSON(out, l)
			})
			if err != nil {
				return err
			}
			if records == 0 {
				return fmt.Errorf("--data %s holds no records", path)
			}
			s := scoreSummary{Tokens: total}
			if total > 0 {
				mean := sum / float64(total)
				ppl := math.Exp(mean)
				s.MeanLoss, s.Perplexity = &mean, &ppl
			}
			if err := printJSON(out, s); err != nil {
				return err
			}
			return out.Flush()
		},
	})
}

// isFinite reports whether x is neither NaN nor infinite.
func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// recordLoss is the causal-LM loss of one record, scored alone.
func recordLoss(m *decoder.Model, tok *tokenizer.Tokenizer, r data.Record) (*decoder.LossResult, error) {
	ids, labels, err := r.Tokenize(tok)
	if err != nil {
		return nil, err
	}
	return m.Loss(&decoder.Batch{IDs: ids, Labels: labels, Rows: 1, T: len(ids)})
}
