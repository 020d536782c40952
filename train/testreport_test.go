package train_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/eval"
	"github.com/tune-dev/tune/internal/testmodel"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/train"
)

// The instructions of chatData's training records: most have the first.
const (
	mainInstruction  = "Answer from the contract and cite the clause."
	otherInstruction = "Answer in one word."
)

// chatData writes a folder of chat records for testmodel's model:
// train.jsonl (six records with mainInstruction, two with
// otherInstruction), validation.jsonl and test.jsonl (five records, the
// third without an instruction, so it gets the run's system prompt).
func chatData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, n int, instr func(i int) string) {
		var sb strings.Builder
		for i := range n {
			rec := map[string]any{"input": fmt.Sprintf("What does Section %d say?", i+1),
				"output": fmt.Sprintf("Section %d sets the term.", i+1)}
			if s := instr(i); s != "" {
				rec["instruction"] = s
			}
			line, err := json.Marshal(rec)
			require.NoError(t, err)
			sb.Write(append(line, '\n'))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(sb.String()), 0o644))
	}
	write("train.jsonl", 8, func(i int) string {
		if i%4 == 1 {
			return otherInstruction
		}
		return mainInstruction
	})
	write("validation.jsonl", 2, func(int) string { return mainInstruction })
	write("test.jsonl", 5, func(i int) string {
		if i == 2 {
			return ""
		}
		return mainInstruction
	})
	return dir
}

// chatConfig trains testmodel's model for two steps on data.
func chatConfig(t *testing.T, data, out string) train.Config {
	t.Helper()
	model := filepath.Join(t.TempDir(), "model")
	require.NoError(t, testmodel.Write(model, 3))
	tok, err := tokenizer.Load(model)
	require.NoError(t, err)
	return train.Config{
		DataPath: data, OutputDir: out, BaseModel: model, Tokenizer: tok,
		LoRA:      lora.Config{R: 4, LoraAlpha: 8, LoraDropout: 0.1, TargetModules: []string{"q_proj", "v_proj"}},
		BatchSize: 2, GradAccum: 1, MaxSteps: 2, MaxLength: 256, Seed: 5, LR: 1e-2, Scheduler: "linear",
		AdamW:        train.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1},
		LoggingSteps: 1, EvalSteps: 2, SaveSteps: 1,
		TestMaxExamples: 4, TestMaxNewTokens: 5,
	}
}

// TestEndOfTrainingReport trains on chat records with a test set: the run
// records the most common system prompt with every adapter it writes and
// answers the first four test records with the trained adapter; reloading
// the saved adapter into a fresh model gives the same answers and scores.
func TestEndOfTrainingReport(t *testing.T) {
	data, out := chatData(t), filepath.Join(t.TempDir(), "run")
	cfg := chatConfig(t, data, out)
	var log bytes.Buffer
	cfg.Out = &log
	res, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Contains(t, log.String(), "2 distinct system prompts; the most common, of 6 of the 8 chat records")

	want := &lora.SystemPrompt{Prompt: mainInstruction, Records: 6, ChatRecords: 8, Distinct: 2}
	for _, dir := range []string{out, filepath.Join(out, "checkpoint-2"), filepath.Join(out, "best_model")} {
		got, err := lora.ReadSystemPrompt(dir)
		require.NoError(t, err)
		require.Equal(t, want, got, dir)
	}

	// The report and the predictions, read back.
	require.NotNil(t, res.Test)
	require.Equal(t, 4, res.Test.N)
	preds, err := eval.ReadPredictions(filepath.Join(out, "test_predictions.jsonl"))
	require.NoError(t, err)
	require.Len(t, preds, 4)
	var rep struct {
		N            int    `json:"n"`
		TestFile     string `json:"test_file"`
		TestRecords  int    `json:"test_records"`
		GlobalStep   int    `json:"global_step"`
		MaxNewTokens int    `json:"max_new_tokens"`
		SystemPrompt string `json:"system_prompt"`
	}
	data2, err := os.ReadFile(filepath.Join(out, "evaluation_report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data2, &rep))
	require.Equal(t, 4, rep.N)
	require.Equal(t, filepath.Join(data, "test.jsonl"), rep.TestFile)
	require.Equal(t, 5, rep.TestRecords)
	require.Equal(t, 2, rep.GlobalStep)
	require.Equal(t, 5, rep.MaxNewTokens)
	require.Equal(t, mainInstruction, rep.SystemPrompt)
	require.Contains(t, log.String(), "test set "+rep.TestFile+": 4 examples: BLEU")

	// The same answers from the saved adapter in a freshly loaded model.
	m, err := decoder.Load(cfg.BaseModel, cpu.New(0))
	require.NoError(t, err)
	defer m.Free()
	a, err := lora.Load(out, "reloaded", m.Config.NumHiddenLayers, m.Config.ModuleShape)
	require.NoError(t, err)
	m.SetAdapter(a)
	q, err := train.LoadQA(filepath.Join(data, "test.jsonl"), cfg.Tokenizer, a.System.Prompt, 4)
	require.NoError(t, err)
	g, err := train.GreedyGeneration(cfg.BaseModel, m.Config, cfg.Tokenizer, 5)
	require.NoError(t, err)
	again, err := q.Answer(context.Background(), m, cfg.Tokenizer, g, 3, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, preds, again)
	require.Equal(t, eval.Evaluate(again).Samples, res.Test.Samples)
	m.SetAdapter(nil)
	base, err := q.Answer(context.Background(), m, cfg.Tokenizer, g, 3, &bytes.Buffer{})
	require.NoError(t, err)
	require.NotEqual(t, preds, base, "the base model answers otherwise, so the comparison above sees the adapter")
}

// TestLoadQA renders each record's prompt as the chat template does: a
// record's own instruction is its system turn, and a record without one
// gets the system prompt given; the limit tokenizes only the first records
// but counts them all.
func TestLoadQA(t *testing.T) {
	data := chatData(t)
	model := filepath.Join(t.TempDir(), "model")
	require.NoError(t, testmodel.Write(model, 1))
	tok, err := tokenizer.Load(model)
	require.NoError(t, err)
	path := filepath.Join(data, "test.jsonl")
	q, err := train.LoadQA(path, tok, "Recorded prompt.", 0)
	require.NoError(t, err)
	require.Equal(t, 5, q.Records)
	require.Equal(t, []int{1, 2, 3, 4, 5}, q.Lines)
	require.Equal(t, "Section 3 sets the term.", q.Refs[2])
	text := func(i int) string {
		ids := make([]int, len(q.Prompts[i]))
		for j, id := range q.Prompts[i] {
			ids[j] = int(id)
		}
		return tok.Decode(ids, false)
	}
	user := "<|im_start|>user\nWhat does Section %d say?<|im_end|>\n<|im_start|>assistant\n"
	require.Equal(t, "<|im_start|>system\n"+mainInstruction+"<|im_end|>\n"+fmt.Sprintf(user, 1), text(0))
	require.Equal(t, "<|im_start|>system\nRecorded prompt.<|im_end|>\n"+fmt.Sprintf(user, 3), text(2))

	// With the template's default, the prompt is the template's own.
	q, err = train.LoadQA(path, tok, tokenizer.QwenSystemPrompt, 3)
	require.NoError(t, err)
	require.Len(t, q.Prompts, 3)
	require.Equal(t, 5, q.Records)
	want := tok.ApplyChatTemplate([]tokenizer.Message{{Role: "user", Content: "What does Section 3 say?"}}, true)
	require.Equal(t, want, text(2))

	_, err = train.LoadQA(path, nil, "", 0)
	require.ErrorContains(t, err, "needs a tokenizer")
}

// TestEndOfTrainingReportResume interrupts the report while it answers:
// neither report file is left, half written or at all; resuming the
// finished run writes the report, and resuming once more finds it there
// and does not answer again.
func TestEndOfTrainingReportResume(t *testing.T) {
	data, out := chatData(t), filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := chatConfig(t, data, out)
	cfg.Progress = cancelOn{"generating answers", cancel}
	_, err := train.Run(ctx, cfg, cpu.New(0))
	require.ErrorIs(t, err, train.ErrInterrupted)
	require.ErrorContains(t, err, "--resume_from_checkpoint latest writes the report")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, []string{"evaluation_report.json", "test_predictions.jsonl"}, e.Name())
		require.False(t, strings.HasPrefix(e.Name(), "."), "temporary %s left behind", e.Name())
	}
	require.FileExists(t, filepath.Join(out, "adapter_model.safetensors"))

	var log bytes.Buffer
	cfg = chatConfig(t, data, out)
	cfg.Resume, cfg.Out = "latest", &log
	res, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Equal(t, 4, res.Test.N)
	require.Contains(t, log.String(), "answering 4 test records")
	report := filepath.Join(out, "evaluation_report.json")
	before, err := os.Stat(report)
	require.NoError(t, err)

	log.Reset()
	cfg.Progress = cancelOn{"generating answers", func() { t.Error("the report was made again") }}
	res2, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Contains(t, log.String(), "the report of step 2 is already in "+report)
	require.Equal(t, res.Test.Samples, res2.Test.Samples)
	after, err := os.Stat(report)
	require.NoError(t, err)
	require.Equal(t, before.ModTime(), after.ModTime())

	// Other settings make another report.
	cfg.Progress = nil
	cfg.TestMaxExamples = 2
	res3, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Equal(t, 2, res3.Test.N)
}

// cancelOn calls fn when a write holds text.
type cancelOn struct {
	text string
	fn   func()
}

func (c cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(c.text)) {
		c.fn()
	}
	return len(p), nil
}

// TestEndOfTrainingReportInputs checks the rules of the test set before
// any training: its file, its records, and turning the report off.
func TestEndOfTrainingReportInputs(t *testing.T) {
	data := chatData(t)
	run := func(edit func(c *train.Config)) (*train.Result, string, error) {
		out := filepath.Join(t.TempDir(), "run")
		cfg := chatConfig(t, data, out)
		var log bytes.Buffer
		cfg.Out = &log
		edit(&cfg)
		res, err := train.Run(context.Background(), cfg, cpu.New(0))
		if err != nil {
			require.NoDirExists(t, out, "a refused run writes nothing")
		}
		return res, log.String(), err
	}

	res, _, err := run(func(c *train.Config) { c.SkipTestEval = true })
	require.NoError(t, err)
	require.Nil(t, res.Test)
	require.NoFileExists(t, filepath.Join(res.OutputDir, "evaluation_report.json"))

	// --test_file, with --data_path a single file: the report uses it.
	res, _, err = run(func(c *train.Config) {
		c.DataPath = filepath.Join(data, "train.jsonl")
		c.TestFile = filepath.Join(data, "validation.jsonl")
		c.TestMaxExamples = 0
	})
	require.NoError(t, err)
	require.Equal(t, 2, res.Test.N)
	res, log, err := run(func(c *train.Config) { c.DataPath = filepath.Join(data, "train.jsonl") })
	require.NoError(t, err)
	require.Nil(t, res.Test)
	require.Contains(t, log, "no end-of-training report")

	_, _, err = run(func(c *train.Config) { c.TestFile = filepath.Join(data, "missing.jsonl") })
	require.ErrorContains(t, err, "--test_file")

	bad := filepath.Join(t.TempDir(), "test.jsonl")
	for _, c := range []struct{ record, want string }{
		{`{"input_ids": [1, 2, 3]}`, bad + ":2: a pre-tokenized record has no answer text"},
		{`{"messages": [{"role": "user", "content": "Q?"}]}`, bad + ":2: record has no assistant answer"},
		{`{"instruction": "` + strings.Repeat("x", 1100) + `", "input": "Q", "output": "A"}`, bad + ":2: a prompt of"},
	} {
		require.NoError(t, os.WriteFile(bad, []byte(`{"input": "Q", "output": "A"}`+"\n"+c.record+"\n"), 0o644))
		_, _, err = run(func(cfg *train.Config) { cfg.TestFile = bad })
		require.ErrorContains(t, err, c.want)
		require.ErrorContains(t, err, "--skip_test_eval")
	}
	_, _, err = run(func(c *train.Config) { c.TestMaxExamples = -1 })
	require.ErrorContains(t, err, "--eval_max_examples")
}

// TestSystemPromptOfPretokenizedRun: a run on pre-tokenized records has no
// system prompt to record, and an output folder keeps none from before.
func TestSystemPromptOfPretokenizedRun(t *testing.T) {
	data, out := dataDir(t), filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.MkdirAll(out, 0o755))
	stale := &lora.SystemPrompt{Prompt: "old", Records: 1, ChatRecords: 1, Distinct: 1}
	require.NoError(t, stale.Write(out))
	cfg := baseConfig(data, out)
	cfg.MaxSteps, cfg.Overwrite = 1, true
	_, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	got, err := lora.ReadSystemPrompt(out)
	require.NoError(t, err)
	require.Nil(t, got)
}
