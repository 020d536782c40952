package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/eval"
	"github.com/tune-dev/tune/lora"
)

// The end-of-training report: after the last step the trained adapter
// answers the test records greedily, and evaluation_report.json (the
// scores of tune eval) and test_predictions.jsonl (the answers) are written
// to the output folder, each atomically, the predictions first.

// testReport is evaluation_report.json of a training run: the scores, and
// what they were computed on, so that a resumed run with nothing left to
// train can tell whether its report is already there.
type testReport struct {
	eval.Report
	TestFile     string `json:"test_file"`
	TestRecords  int    `json:"test_records"`
	GlobalStep   int    `json:"global_step"`
	MaxNewTokens int    `json:"max_new_tokens"`
	SystemPrompt string `json:"system_prompt"`
}

// testMaxNewTokens is the cap on each test answer.
func (c *Config) testMaxNewTokens() int {
	if c.TestMaxNewTokens > 0 {
		return c.TestMaxNewTokens
	}
	return decoder.DefaultGenerationConfig().MaxNewTokens
}

// loadTest reads the test set of the end-of-training report before any
// training, so that a record it cannot answer stops the run at once.
// Records without a system turn get the run's recorded system prompt, as
// inference with the adapter does.
func (t *trainer) loadTest(path string, system *lora.SystemPrompt, mc *decoder.Config) error {
	c := t.cfg
	switch {
	case c.SkipTestEval || c.EvalOnly:
		return nil
	case path == "":
		fmt.Fprintln(t.out, "no test.jsonl in the data folder and no --test_file: no end-of-training report")
		return nil
	}
	prompt := c.Tokenizer.ChatTemplate().DefaultSystemPrompt()
	if system != nil {
		prompt = system.Prompt
	}
	q, err := LoadQA(path, c.Tokenizer, prompt, c.TestMaxExamples)
	if err == nil {
		err = q.Check(mc, c.testMaxNewTokens())
	}
	if err != nil {
		return fmt.Errorf("train: test set: %w (--skip_test_eval trains without the end-of-training report)", err)
	}
	if q.Records == 0 {
		fmt.Fprintf(t.out, "test data %s has no records: no end-of-training report\n", path)
		return nil
	}
	fmt.Fprintf(t.out, "test data %s: %d records, %d answered after training\n", path, q.Records, len(q.Prompts))
	t.test = q
	return nil
}

// testReport answers the test set with the trained adapter, scores the
// answers and writes the report, unless the output folder already holds
// the report of this very adapter and test set (a resumed run that had
// finished). Over several ranks each answers its share of the batches and
// rank 0 gathers, scores and writes: generation is most of a report's
// time, and the shares divide it by the number of ranks.
func (t *trainer) testReport(ctx context.Context, res *Result) error {
	if t.test == nil {
		return nil
	}
	c := t.cfg
	rep := testReport{TestFile: t.test.Path, TestRecords: t.test.Records, GlobalStep: t.state.GlobalStep,
		MaxNewTokens: c.testMaxNewTokens(), SystemPrompt: t.test.System}
	path := filepath.Join(c.OutputDir, reportFile)
	done, ok := t.writtenReport(path, rep)
	written := []byte{0} // rank 0 tells the others whether the report is there
	if ok {
		written[0] = 1
	}
	if err := t.comm.Broadcast(written, 0); err != nil {
		return fmt.Errorf("train: test set: %w", err)
	}
	if written[0] == 1 {
		if !t.lead() {
			return nil
		}
		res.Test = &done.Report
		fmt.Fprintf(t.out, "test set %s: %s; the report of step %d is already in %s\n", t.test.Path, done.Headline(), rep.GlobalStep, path)
		return nil
	}
	g, err := GreedyGeneration(c.BaseModel, t.m.Config, c.Tokenizer, rep.MaxNewTokens)
	if err != nil {
		return fmt.Errorf("train: test set: %w", err)
	}
	fmt.Fprintf(t.out, "answering %d test records with the trained adapter (greedy, at most %d new tokens each)\n", len(t.test.Prompts), rep.MaxNewTokens)
	log := c.Progress
	if log == nil {
		log = io.Discard
	}
	examples, err := t.answerTest(c.BatchSize, func(q *QA) ([]eval.Example, error) {
		return q.Answer(ctx, t.m, c.Tokenizer, g, c.BatchSize, log)
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("train: %w while answering the test set; the adapter is saved in %s, and --resume_from_checkpoint latest writes the report", ErrInterrupted, c.OutputDir)
	}
	if err != nil {
		return fmt.Errorf("train: test set: %w", err)
	}
	if !t.lead() {
		return nil
	}
	rep.Report = eval.Evaluate(examples)
	if err := eval.WritePredictions(filepath.Join(c.OutputDir, predictionsFile), examples); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := writeJSON(path, rep); err != nil {
		return err
	}
	res.Test = &rep.Report
	fmt.Fprintf(t.out, "test set %s: %s; report in %s\n", t.test.Path, rep.Headline(), path)
	return nil
}

// writtenReport returns the report at path when it was made for want's
// adapter step, test set and settings and its predictions are there too.
func (t *trainer) writtenReport(path string, want testReport) (*testReport, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	var got testReport
	if json.Unmarshal(data, &got) != nil {
		return nil, false
	}
	if _, err := os.Stat(filepath.Join(t.cfg.OutputDir, predictionsFile)); err != nil {
		return nil, false
	}
	same := got.TestFile == want.TestFile && got.TestRecords == want.TestRecords && got.GlobalStep == want.GlobalStep &&
		got.MaxNewTokens == want.MaxNewTokens && got.SystemPrompt == want.SystemPrompt && got.N == len(t.test.Prompts)
	return &got, same
}
