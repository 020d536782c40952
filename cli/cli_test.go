package cli_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/cli"
	"github.com/tune-dev/tune/eval"
	"github.com/tune-dev/tune/internal/golden"
	"github.com/tune-dev/tune/internal/testmodel"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

var assets = func() cli.Assets {
	gz, err := os.ReadFile("../testdata/tokenizer/tokenizer.json.gz")
	if err != nil {
		panic(err)
	}
	return cli.Assets{TokenizerGz: gz}
}()

// run executes tune with args and stdin, returning stdout and stderr.
func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cli.Run(append([]string{"tune"}, args...), assets, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestTokenizeMatchesReference(t *testing.T) {
	f, err := os.Open("../testdata/tokenizer/cases.jsonl")
	require.NoError(t, err)
	defer f.Close()
	var in strings.Builder
	var want []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for i := 0; sc.Scan() && i < 40; i++ {
		var c struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &c))
		line, _ := json.Marshal(map[string]string{"text": c.Text})
		in.Write(append(line, '\n'))
		ids, _ := json.Marshal(c.IDs)
		want = append(want, `{"ids":`+string(ids)+`}`)
	}
	out, _, err := run(t, in.String(), "tokenize")
	require.NoError(t, err)
	require.Equal(t, want, strings.Split(strings.TrimSpace(out), "\n"))

	_, _, err = run(t, "{\"text\": 1}\n", "tokenize")
	require.ErrorContains(t, err, "stdin line 1")
}

func TestFlagPrecedence(t *testing.T) {
	// The tokenizer path that loses or wins shows up in the load error.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tune.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("tokenizer: /from/config\n"), 0o644))
	_, _, err := run(t, "", "--config", cfg, "tokenize")
	require.ErrorContains(t, err, "/from/config", "config file over default")

	t.Setenv("TUNE_TOKENIZER", "/from/env")
	_, _, err = run(t, "", "--config", cfg, "tokenize")
	require.ErrorContains(t, err, "/from/env", "environment over config file")

	_, _, err = run(t, "", "--config", cfg, "tokenize", "--tokenizer", "/from/flag")
	require.ErrorContains(t, err, "/from/flag", "flag over environment")

	// .env in the working directory feeds the environment but never
	// overrides a variable already set.
	wd, _ := os.Getwd()
	require.NoError(t, os.Chdir(dir))
	defer os.Chdir(wd)
	require.NoError(t, os.WriteFile(".env", []byte("TUNE_TOKENIZER=/from/dotenv\nBASE_MODEL=/model/from/dotenv\n"), 0o644))
	_, _, err = run(t, "", "tokenize")
	require.ErrorContains(t, err, "/from/env")
	os.Unsetenv("BASE_MODEL")
	defer os.Unsetenv("BASE_MODEL")
	_, _, err = run(t, "", "score", "--data", "x.jsonl")
	require.ErrorContains(t, err, "/model/from/dotenv")

	_, _, err = run(t, "", "--config", filepath.Join(dir, "tune.ini"), "tokenize")
	require.ErrorContains(t, err, "unknown extension")
}

// goldenRecords writes a golden case's batch as pre-tokenized records,
// each row cut to its real tokens, and returns the file, the golden loss
// per row and of the batch, and the number of targets.
func goldenRecords(t *testing.T, name string) (string, []float32, float32, int) {
	g := golden.Open(t, name)
	ids, shape := g.Ints(t, "input_ids")
	mask, _ := g.Ints(t, "attention_mask")
	labels, _ := g.Ints(t, "labels")
	path := filepath.Join(t.TempDir(), "batch.jsonl")
	var sb strings.Builder
	targets := 0
	for r := 0; r < shape[0]; r++ {
		var rec struct {
			IDs    []int32 `json:"input_ids"`
			Labels []int32 `json:"labels"`
		}
		for c := 0; c < shape[1]; c++ {
			if mask[r*shape[1]+c] == 1 {
				rec.IDs = append(rec.IDs, ids[r*shape[1]+c])
				rec.Labels = append(rec.Labels, labels[r*shape[1]+c])
				if c > 0 && labels[r*shape[1]+c] != -100 {
					targets++
				}
			}
		}
		b, _ := json.Marshal(rec)
		sb.Write(append(b, '\n'))
	}
	require.NoError(t, os.WriteFile(path, []byte(sb.String()), 0o644))
	rowLoss, _ := g.Floats(t, "loss_per_example")
	loss, _ := g.Floats(t, "loss")
	return path, rowLoss, loss[0], targets
}

func TestScoreReproducesGoldenLoss(t *testing.T) {
	for _, name := range []string{"qwen2-tiny", "llama3-tiny"} {
		data, rowLoss, loss, targets := goldenRecords(t, name)
		base := golden.Dir(name)
		out, _, err := run(t, "", "score", "--base_model", base+"/base_model", "--adapter", base+"/adapter", "--data", data)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 3)
		for i, want := range rowLoss {
			var l struct {
				Loss   float64 `json:"loss"`
				Tokens int     `json:"tokens"`
			}
			require.NoError(t, json.Unmarshal([]byte(lines[i]), &l))
			golden.CheckScalar(t, fmt.Sprintf("%s row %d", name, i), l.Loss, float64(want), golden.Loss)
		}
		var s struct {
			MeanLoss   float64 `json:"mean_loss"`
			Perplexity float64 `json:"perplexity"`
			Tokens     int     `json:"tokens"`
		}
		require.NoError(t, json.Unmarshal([]byte(lines[2]), &s))
		golden.CheckScalar(t, name+" token-weighted mean = the batch loss", s.MeanLoss, float64(loss), golden.Loss)
		require.InDelta(t, math.Exp(float64(loss)), s.Perplexity, 1e-3)
		require.Equal(t, targets, s.Tokens)
	}
	base := tinyDir

	// Chat records need a tokenizer the model's vocabulary covers.
	chat := filepath.Join(t.TempDir(), "chat.jsonl")
	require.NoError(t, os.WriteFile(chat, []byte(`{"instruction": "Be brief.", "input": "Q?", "output": "A."}`+"\n"), 0o644))
	_, _, err := run(t, "", "score", "--base_model", base+"/base_model", "--data", chat)
	require.ErrorContains(t, err, "vocab_size is 1000")

	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(`{"input_ids": [1, 2]}`+"\n\n"+`{"input_ids": [1, 2}`+"\n"), 0o644))
	_, _, err = run(t, "", "score", "--base_model", base+"/base_model", "--data", bad)
	require.ErrorContains(t, err, bad+":3")
	require.NoError(t, os.WriteFile(bad, []byte(`{"input_ids": [1, 5000]}`+"\n"), 0o644))
	_, _, err = run(t, "", "score", "--base_model", base+"/base_model", "--data", bad)
	require.ErrorContains(t, err, bad+":1")
	require.ErrorContains(t, err, "5000")
}

// skipSlow skips the end-to-end tests that train through the command line
// under go test -short; make test (and so CI) runs them.
func skipSlow(t *testing.T) {
	if testing.Short() {
		t.Skip("slow end-to-end test; run without -short")
	}
}

// sharedDemo is one run of tune demo, shared by the tests that only read
// what it wrote (TestDemoGenerateAndEval, TestServeLoad,
// TestGenDataTeacher): its tiny model of the real vocabulary costs most of
// a run's time. TestMain removes it.
var sharedDemo struct {
	once      sync.Once
	root, out string
	err       error
}

// demoRun runs tune demo (2 steps, 4 new tokens per answer) the first time
// a test asks for it and returns its output folder and stdout. Tests must
// not write into the folder.
func demoRun(t *testing.T) (dir, stdout string) {
	t.Helper()
	skipSlow(t)
	d := &sharedDemo
	d.once.Do(func() {
		if d.root, d.err = os.MkdirTemp("", "tune-cli-demo-"); d.err != nil {
			return
		}
		var out, errOut bytes.Buffer
		args := []string{"tune", "demo", "--output_dir", filepath.Join(d.root, "demo"), "--max_new_tokens", "4", "--steps", "2"}
		d.err = cli.Run(args, assets, strings.NewReader(""), &out, &errOut)
		d.out = out.String()
		if d.err != nil {
			d.err = fmt.Errorf("tune demo: %w\n%s", d.err, errOut.String())
		}
	})
	require.NoError(t, d.err)
	return filepath.Join(d.root, "demo"), d.out
}

func TestDemoGenerateAndEval(t *testing.T) {
	dir, out := demoRun(t)
	defer func() {
		// The fine-tuned model, by environment: the adapter, then the
		// merged model; both answer the same.
		ft := filepath.Join(dir, "checkpoints", "qwen-legal-lora")
		t.Setenv("FINETUNING_ENABLED", "true")
		t.Setenv("FINETUNING_MODEL_PATH", ft)
		a, stderr, err := run(t, "", "generate", "--base_model", filepath.Join(dir, "model"), "--prompt", "What law governs?", "--max_new_tokens", "5")
		require.NoError(t, err)
		require.Contains(t, stderr, "using the adapter in "+ft)
		require.Contains(t, stderr, "system prompt: the adapter's")
		t.Setenv("USE_MERGED_MODEL", "true")
		b, stderr, err := run(t, "", "generate", "--prompt", "What law governs?", "--max_new_tokens", "5")
		require.NoError(t, err)
		require.Contains(t, stderr, "using the merged model")
		require.Contains(t, stderr, "system prompt: the model's")
		require.Equal(t, a, b)
		t.Setenv("USE_MERGED_MODEL", "maybe")
		_, _, err = run(t, "", "generate", "--prompt", "x")
		require.ErrorContains(t, err, "USE_MERGED_MODEL")
	}()
	require.Contains(t, out, "mean loss")
	require.Contains(t, out, "trained adapter")
	require.Contains(t, out, "the run answered 4 test questions")
	rd := "checkpoints/qwen-legal-lora/"
	for _, f := range []string{"data/train.jsonl", "data/validation.jsonl", "data/test.jsonl", "data/legal_qa.jsonl",
		"model/config.json", "model/model.safetensors", "model/tokenizer.json", rd + "evaluation_report.json", rd + "test_predictions.jsonl",
		rd + "tune_system_prompt.json", rd + "merged_model/tune_system_prompt.json",
		rd + "adapter_config.json", rd + "adapter_model.safetensors", rd + "best_model/adapter_config.json",
		rd + "merged_model/model.safetensors", rd + "merged_model/tokenizer.json", rd + "training_log.jsonl",
		rd + "loss.png", rd + "trainer_state.json", rd + "checkpoint-2/optimizer.safetensors"} {
		_, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
	}

	// generate on the demo's model folder: chat template, then raw; the
	// same seed samples the same answer.
	model := filepath.Join(dir, "model")
	a, stderr, err := run(t, "", "generate", "--base_model", model, "--prompt", "What law governs?", "--max_new_tokens", "6", "--do_sample", "--seed", "3")
	require.NoError(t, err)
	require.Contains(t, stderr, "prompt tokens, system prompt: the chat template's default")
	b, _, err := run(t, "", "generate", "--base_model", model, "--prompt", "What law governs?", "--max_new_tokens", "6", "--do_sample", "--seed", "3")
	require.NoError(t, err)
	require.Equal(t, a, b)
	_, stderr, err = run(t, "", "generate", "--base_model", model, "--prompt", "Section 1.", "--raw", "--max_new_tokens", "3")
	require.NoError(t, err)
	require.Contains(t, stderr, " 4 prompt tokens") // "Section", " ", "1", "."

	// eval with the model over the demo's test split.
	report := filepath.Join(t.TempDir(), "report.json")
	_, _, err = run(t, "", "eval", "--base_model", model, "--data", filepath.Join(dir, "data/test.jsonl"), "--max_new_tokens", "3", "--report", report)
	require.NoError(t, err)
	var r map[string]any
	data, err := os.ReadFile(report)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &r))
	for _, k := range []string{"bleu", "rouge", "exact_match", "f1", "legal_metrics", "n", "samples"} {
		require.Contains(t, r, k)
	}
}

func TestEvalPredictions(t *testing.T) {
	dir := t.TempDir()
	preds := filepath.Join(dir, "preds.jsonl")
	require.NoError(t, os.WriteFile(preds, []byte(
		`{"prediction": "Based on Section 14.3, the laws of New York govern.", "reference": "Based on Section 14.3, this Agreement is governed by the laws of the State of New York."}`+"\n"+
			`{"prediction": "The term is two years.", "references": ["The term is two (2) years.", "Two years."]}`+"\n"), 0o644))
	report := filepath.Join(dir, "r.json")
	out, _, err := run(t, "", "eval", "--predictions", preds, "--per_example", "--report", report)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	require.True(t, strings.HasPrefix(lines[0], `{"bleu":`), lines[0])
	var r struct {
		N            int `json:"n"`
		LegalMetrics struct {
			CitationPrecision float64 `json:"citation_precision"`
		} `json:"legal_metrics"`
	}
	data, err := os.ReadFile(report)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &r))
	require.Equal(t, 2, r.N)

	require.NoError(t, os.WriteFile(preds, []byte(`{"prediction": "x"}`+"\n"), 0o644))
	_, _, err = run(t, "", "eval", "--predictions", preds)
	require.ErrorContains(t, err, preds+":1")
}

func TestParseAndGenData(t *testing.T) {
	out, _, err := run(t, "", "parse", "../testdata/contracts/headings.txt")
	require.NoError(t, err)
	var cs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &cs))
	require.Len(t, cs, 1)
	require.NotEmpty(t, cs[0]["clauses"])

	dir := t.TempDir()
	outPath := filepath.Join(dir, "qa.jsonl")
	out, _, err = run(t, "", "gen-data", "--contract_path", "../testdata/cuad/contracts", "--output_path", outPath, "--augment", "--num_augmentations", "1")
	require.NoError(t, err)
	require.Contains(t, out, "records")
	for _, f := range []string{"qa.jsonl", "qa_train.jsonl", "qa_val.jsonl", "qa_test.jsonl", "train.jsonl", "validation.jsonl", "test.jsonl"} {
		_, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
	}
	_, _, err = run(t, "", "gen-data", "--contract_path", "../testdata/contracts", "--split", "0.5,0.2")
	require.ErrorContains(t, err, "--split")
}

// TestTrainAndMergeCommands trains from the command line on pre-tokenized
// data with a YAML config after the command, resumes, merges with tune
// merge and scores with the adapter and with the merged model.
func TestTrainAndMergeCommands(t *testing.T) {
	skipSlow(t)
	base := tinyBase
	data := t.TempDir()
	var sb strings.Builder
	for i := 0; i < 12; i++ {
		ids := []int{5 + i, 6 + i, 7 + i, 500 + i, 501 + i, 502 + i}
		labels := []int{-100, -100, -100, 500 + i, 501 + i, 502 + i}
		line, _ := json.Marshal(map[string]any{"input_ids": ids, "labels": labels})
		sb.Write(append(line, '\n'))
	}
	require.NoError(t, os.WriteFile(filepath.Join(data, "train.jsonl"), []byte(sb.String()), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(data, "validation.jsonl"), []byte(sb.String()), 0o644))
	cfg := filepath.Join(t.TempDir(), "train.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("lora_r: 4\nlora_alpha: 8\nbatch_size: 2\ngradient_accumulation_steps: 2\n"), 0o644))
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"train", "--config", cfg, "--base_model", base, "--data_path", data, "--output_dir", out,
		"--learning_rate", "5e-3", "--warmup_steps", "1", "--logging_steps", "1", "--eval_steps", "3", "--save_steps", "3", "--max_steps", "4"}
	stdout, _, err := run(t, "", args...)
	require.NoError(t, err)
	require.Contains(t, stdout, "trained 4 steps")
	require.Contains(t, stdout, "trainable parameters")
	ac, err := os.ReadFile(filepath.Join(out, "adapter_config.json"))
	require.NoError(t, err)
	require.Contains(t, string(ac), `"r": 4`, "the YAML config after the command sets lora_r")

	_, _, err = run(t, "", args...)
	require.ErrorContains(t, err, "already holds a run")
	_, _, err = run(t, "", append(args, "--resume_from_checkpoint", "latest", "--max_steps", "6")...)
	require.ErrorContains(t, err, "schedule", "a resumed run must keep its schedule")

	merged := filepath.Join(t.TempDir(), "merged")
	_, _, err = run(t, "", "merge", "--base_model", base, "--adapter", out, "--output", merged)
	require.NoError(t, err)
	s1, _, err := run(t, "", "score", "--base_model", base, "--adapter", out, "--data", filepath.Join(data, "train.jsonl"))
	require.NoError(t, err)
	s2, _, err := run(t, "", "score", "--base_model", merged, "--data", filepath.Join(data, "train.jsonl"))
	require.NoError(t, err)
	last := func(s string) map[string]float64 {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		var m map[string]float64
		require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &m))
		return m
	}
	require.InDelta(t, last(s1)["mean_loss"], last(s2)["mean_loss"], 1e-5)

	_, _, err = run(t, "", "train", "--base_model", base, "--data_path", data, "--output_dir", filepath.Join(t.TempDir(), "e"), "--eval_only")
	require.ErrorContains(t, err, "--eval_only needs")
	stdout, _, err = run(t, "", "train", "--base_model", base, "--data_path", data, "--output_dir", out, "--eval_only", "--init_adapter", out)
	require.NoError(t, err)
	require.Contains(t, stdout, "eval loss")
}

// tinyData writes a data folder of pre-tokenized records of different
// lengths for the qwen2-tiny model (vocabulary 1000, no tokenizer files).
func tinyData(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	var sb strings.Builder
	for i := 0; i < n; i++ {
		ids := []int{5 + i, 6 + i, 500 + i, 501 + i}
		labels := []int{-100, -100, 500 + i, 501 + i}
		for j := 0; j < i%3; j++ {
			ids, labels = append(ids, 600+j), append(labels, 600+j)
		}
		line, _ := json.Marshal(map[string]any{"input_ids": ids, "labels": labels})
		sb.Write(append(line, '\n'))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "train.jsonl"), []byte(sb.String()), 0o644))
	return dir
}

// tinyDir holds the qwen2-tiny golden model, adapter and batch; tinyBase
// is its model folder.
const (
	tinyDir  = "../testdata/golden/qwen2-tiny"
	tinyBase = tinyDir + "/base_model"
)

// TestConfigFileRules: a config key that is no tune flag is refused with
// the file, the line and the closest flag; a Hugging Face name names the
// tune flag; bad values name their key; nothing is written. Lists work for
// list flags, keys of other commands are accepted, and global flags apply.
func TestConfigFileRules(t *testing.T) {
	dir, data := t.TempDir(), tinyData(t, 4)
	out := filepath.Join(dir, "out")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	train := func(cfg string, extra ...string) (string, string, error) {
		return run(t, "", append([]string{"train", "--config", cfg, "--base_model", tinyBase, "--data_path", data, "--output_dir", out,
			"--max_steps", "1", "--batch_size", "2"}, extra...)...)
	}
	for _, c := range []struct{ name, body, want string }{
		{"typo.yaml", "lora_r: 4\nlearning_rat: 1e-3\n", `typo.yaml:2: unknown key "learning_rat" (the closest flag is learning_rate)`},
		{"hf.yaml", "num_train_epochs: 2\n", "hf.yaml:1: num_train_epochs is Hugging Face's name; tune's flag is num_epochs"},
		{"hf.json", "{\n  \"seed\": 1,\n  \"per_device_train_batch_size\": 8\n}\n", "hf.json:3: per_device_train_batch_size is Hugging Face's name; tune's flag is batch_size"},
		{"hf.toml", "model_name_or_path = \"x\"\n", "hf.toml: model_name_or_path is Hugging Face's name; tune's flag is base_model"},
		{"list.json", `{"batch_size": [1, 2]}`, "list.json:1: batch_size: want a whole number, got a list"},
		{"one.yaml", "output_dir: [a, b]\n", "one.yaml:1: output_dir: want one value, not a list"},
		{"bool.yaml", "packing: maybe\n", `bool.yaml:1: packing: want true or false, got "maybe"`},
		{"twice.yaml", "seed: 1\nseed: 2\n", "twice.yaml:2: seed is given twice (first in config file " + filepath.Join(dir, "twice.yaml") + ":1)"},
		{"nested.yaml", "train:\n  seed: 1\n", "nested.yaml: line 1: train: a nested table is not a flag value"},
		{"again.yaml", "config: other.yaml\n", "again.yaml:1: config: a config file cannot name another one"},
		{"range.toml", "lora_dropout = 1.0\n", "range.toml: lora_dropout 1: must be in [0, 1)"},
		{"range.yaml", "save_steps: -1\n", "range.yaml:1: save_steps -1: must be at least 0 (0: only at the end)"},
		{"global.yaml", "threads: -2\n", "global.yaml:1: threads -2: must be at least 0"},
	} {
		_, _, err := train(write(c.name, c.body))
		require.ErrorContains(t, err, c.want, c.name)
		require.NoDirExists(t, out, c.name)
	}

	// One file for several commands: max_new_tokens (generate, eval) and
	// split (gen-data) are accepted and left to their commands; lists and
	// numbers written as strings are read as the command line would.
	shared := write("shared.yaml", "target_modules: [q_proj, v_proj]\nlearning_rate: \"5e-3\"\nthreads: 1\nmax_new_tokens: 8\nsplit: [0.8, 0.1, 0.1]\nlora_r: 4\n")
	_, stderr, err := train(shared)
	require.NoError(t, err)
	require.Contains(t, stderr, "(float32, 1 threads)", "the global threads flag from the file")
	ac, err := os.ReadFile(filepath.Join(out, "adapter_config.json"))
	require.NoError(t, err)
	require.Contains(t, strings.Join(strings.Fields(string(ac)), " "), `"target_modules": [ "q_proj", "v_proj" ]`)
	args, err := os.ReadFile(filepath.Join(out, "training_args.json"))
	require.NoError(t, err)
	require.Contains(t, string(args), `"learning_rate": 0.005`)
	require.Contains(t, string(args), `"lora_r": 4`)
	// The command line wins over the file.
	_, _, err = run(t, "", "--threads", "-1", "--config", shared, "tokenize")
	require.ErrorContains(t, err, "--threads -1: must be at least 0")
}

// TestNumericFlagsChecked: zero, negative and non-finite values of numeric
// flags are refused before anything runs, naming where they came from.
func TestNumericFlagsChecked(t *testing.T) {
	data, dir := tinyData(t, 4), t.TempDir()
	tr := []string{"train", "--base_model", tinyBase, "--data_path", data, "--output_dir", filepath.Join(dir, "out")}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, append(tr, "--save_steps", "-1"), "--save_steps -1: must be at least 0 (0: only at the end)"},
		{nil, append([]string{"--threads", "-3"}, tr...), "--threads -3: must be at least 0 (0: all cores)"},
		{map[string]string{"TUNE_THREADS": "-3"}, tr, "TUNE_THREADS=-3 (--threads): must be at least 0"},
		{nil, append(tr, "--lora_dropout", "1"), "--lora_dropout 1: must be in [0, 1)"},
		{map[string]string{"LORA_DROPOUT": "1.5"}, tr, "LORA_DROPOUT=1.5 (--lora_dropout): must be in [0, 1)"},
		{nil, append(tr, "--learning_rate", "Inf"), "--learning_rate +Inf: must be positive"},
		{nil, append(tr, "--max_steps", "-2"), "--max_steps -2: must be at least -1"},
		{nil, append(tr, "--batch_size=0"), "--batch_size 0: must be at least 1"},
		{nil, append(tr, "--early_stopping_patience", "2"), "early stopping (patience 2) needs validation data"},
		{nil, []string{"demo", "--output_dir", filepath.Join(dir, "out"), "--steps", "0"}, "--steps 0: must be at least 1"},
		{nil, []string{"eval", "--predictions", "p.jsonl", "--batch_size", "0"}, "--batch_size 0: must be at least 1"},
		{nil, []string{"generate", "--prompt", "x", "--max_new_tokens", "0"}, "--max_new_tokens 0: must be at least 1"},
		{nil, []string{"generate", "--prompt", "x", "--top_p", "NaN"}, "--top_p NaN: must be in (0, 1]"},
		{nil, []string{"bench", "--iters", "0"}, "--iters 0: must be at least 1"},
		{nil, []string{"bench", "--train", "--decode", "8"}, "--decode 8 and --train time different things: give one"},
		{nil, []string{"bench", "--decode", "1"}, "--decode 1: the first new token comes from the prefill"},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		_, _, err := run(t, "", c.args...)
		require.ErrorContains(t, err, c.want, "%v", c.args)
		require.NoDirExists(t, filepath.Join(dir, "out"))
		for k := range c.env {
			os.Unsetenv(k)
		}
	}
}

// TestTrainInitAdapterAndResume: padding on a model whose vocabulary is
// smaller than the tokenizer's; the flags left unset take the initial
// adapter's values, a set one that differs is refused, and a set
// --lora_dropout wins (an adapter saying 1.0 needs one); a resume with
// another dropout is refused and changes nothing.
func TestTrainInitAdapterAndResume(t *testing.T) {
	data := tinyData(t, 4)
	first := filepath.Join(t.TempDir(), "first")
	tr := func(out string, extra ...string) (string, string, error) {
		return run(t, "", append([]string{"train", "--base_model", tinyBase, "--data_path", data, "--output_dir", out,
			"--max_steps", "2", "--batch_size", "2", "--gradient_accumulation_steps", "1", "--warmup_steps", "0"}, extra...)...)
	}
	_, _, err := tr(first, "--lora_r", "4", "--lora_alpha", "8", "--target_modules", "q_proj,v_proj")
	require.NoError(t, err, "records of different lengths pad with an id in the model's vocabulary")

	acPath := filepath.Join(first, "adapter_config.json")
	ac, err := os.ReadFile(acPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(acPath, []byte(strings.Replace(string(ac), `"lora_dropout": 0.05`, `"lora_dropout": 1.0`, 1)), 0o644))
	out := filepath.Join(t.TempDir(), "second")
	_, _, err = tr(out, "--init_adapter", first)
	require.ErrorContains(t, err, "--init_adapter "+first+": adapter_config.json: lora_dropout 1 is not in [0, 1); pass --lora_dropout")
	_, _, err = tr(out, "--init_adapter", first, "--lora_r", "8", "--lora_dropout", "0.1")
	require.ErrorContains(t, err, "--lora_r 8, the adapter's 4")
	require.NoDirExists(t, out)
	_, _, err = tr(out, "--init_adapter", first, "--lora_dropout", "0.1")
	require.NoError(t, err)
	ac, err = os.ReadFile(filepath.Join(out, "adapter_config.json"))
	require.NoError(t, err)
	got := strings.Join(strings.Fields(string(ac)), " ")
	for _, want := range []string{`"r": 4`, `"lora_alpha": 8,`, `"lora_dropout": 0.1`, `"target_modules": [ "q_proj", "v_proj" ]`} {
		require.Contains(t, got, want)
	}

	before, err := os.ReadFile(filepath.Join(out, "training_args.json"))
	require.NoError(t, err)
	_, _, err = tr(out, "--init_adapter", first, "--lora_dropout", "0.2", "--resume_from_checkpoint", "latest", "--max_steps", "3")
	require.ErrorContains(t, err, "--lora_dropout 0.2 (recorded 0.1)")
	after, err := os.ReadFile(filepath.Join(out, "training_args.json"))
	require.NoError(t, err)
	require.Equal(t, string(before), string(after), "a refused resume leaves training_args.json as it was")
	stdout, _, err := tr(out, "--init_adapter", first, "--lora_dropout", "0.1", "--resume_from_checkpoint", "latest")
	require.NoError(t, err)
	require.Contains(t, stdout, "no step left to train")
}

// writeChatRecords writes six instruction records with instruction as
// their system turn, asking for the term of a section, to each named file
// of the folder dir (made if needed).
func writeChatRecords(t *testing.T, dir, instruction string, files ...string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	var records strings.Builder
	for i := range 6 {
		line, _ := json.Marshal(map[string]string{"instruction": instruction, "input": fmt.Sprintf("Term of Section %d?", i), "output": fmt.Sprintf("Section %d: two years.", i)})
		records.Write(append(line, '\n'))
	}
	for _, f := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(records.String()), 0o644))
	}
}

// TestTrainReportAndSystemPrompt trains on chat records with a test set
// through the command line (a tiny model with a byte-level tokenizer): the
// run ends with the test report, a resumed finished run does not redo it,
// and generate and eval answer with the system prompt the run recorded by
// default (--system wins), from the adapter and from the merged model.
func TestTrainReportAndSystemPrompt(t *testing.T) {
	dir := t.TempDir()
	model, data, out := filepath.Join(dir, "model"), filepath.Join(dir, "data"), filepath.Join(dir, "run")
	require.NoError(t, testmodel.Write(model, 9))
	const instruction = "Cite the clause."
	writeChatRecords(t, data, instruction, "train.jsonl", "test.jsonl")
	args := []string{"train", "--base_model", model, "--data_path", data, "--output_dir", out, "--max_steps", "2", "--batch_size", "2",
		"--gradient_accumulation_steps", "1", "--warmup_steps", "0", "--lora_r", "2", "--learning_rate", "1e-2",
		"--eval_max_examples", "4", "--eval_max_new_tokens", "3", "--merge_adapters"}
	stdout, _, err := run(t, "", args...)
	require.NoError(t, err)
	require.Contains(t, stdout, "test set "+filepath.Join(data, "test.jsonl")+": 4 examples: BLEU")
	for _, f := range []string{"evaluation_report.json", "test_predictions.jsonl", "tune_system_prompt.json", "merged_model/tune_system_prompt.json"} {
		require.FileExists(t, filepath.Join(out, f))
	}
	stdout, _, err = run(t, "", append(args, "--resume_from_checkpoint", "latest")...)
	require.NoError(t, err)
	require.Contains(t, stdout, "the report of step 2 is already in")
	require.Contains(t, stdout, "no step left to train; outputs in "+out)

	// tune eval answers the same records the same way as the run did.
	report := filepath.Join(dir, "eval.json")
	_, stderr, err := run(t, "", "eval", "--base_model", model, "--adapter", out, "--data", filepath.Join(data, "test.jsonl"),
		"--max_new_tokens", "3", "--batch_size", "3", "--report", report)
	require.NoError(t, err)
	require.Contains(t, stderr, "system prompt of records without their own: the adapter's")
	trained, err := eval.ReadPredictions(filepath.Join(out, "test_predictions.jsonl"))
	require.NoError(t, err)
	var r struct {
		Samples []struct {
			Prediction string `json:"prediction"`
		} `json:"samples"`
	}
	data2, err := os.ReadFile(report)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data2, &r))
	require.Len(t, r.Samples, 6)
	for i, p := range trained {
		require.Equal(t, p.Prediction, r.Samples[i].Prediction, "record %d", i+1)
	}

	// generate: the adapter's recorded prompt, the same from the merged
	// model, and the same as giving it with --system.
	gen := func(args ...string) (string, string) {
		out, stderr, err := run(t, "", append([]string{"generate", "--prompt", "Term of Section 9?", "--max_new_tokens", "4"}, args...)...)
		require.NoError(t, err)
		return out, stderr
	}
	a, stderr := gen("--base_model", model, "--adapter", out)
	require.Contains(t, stderr, "system prompt: the adapter's (tune_system_prompt.json)")
	b, stderr := gen("--base_model", filepath.Join(out, "merged_model"))
	require.Contains(t, stderr, "system prompt: the model's ("+filepath.Join(out, "merged_model", "tune_system_prompt.json")+")")
	c, stderr := gen("--base_model", model, "--adapter", out, "--system", instruction)
	require.Contains(t, stderr, "system prompt: --system")
	require.Equal(t, a, b)
	require.Equal(t, a, c)
	merged := filepath.Join(dir, "merged")
	_, _, err = run(t, "", "merge", "--base_model", model, "--adapter", out, "--output", merged)
	require.NoError(t, err)
	e, stderr := gen("--base_model", merged)
	require.Contains(t, stderr, "system prompt: the model's")
	require.Equal(t, a, e, "tune merge carries the system prompt too")
	d, _ := gen("--base_model", model, "--adapter", out, "--system", tokenizer.QwenSystemPrompt)
	require.NotEqual(t, a, d, "the template's default prompt answers otherwise, so the comparisons above see the prompt")
	_, stderr = gen("--base_model", model)
	require.Contains(t, stderr, "system prompt: the chat template's default")

	// --skip_test_eval, and the flag's bounds.
	skipped := filepath.Join(dir, "skipped")
	_, _, err = run(t, "", append(slices.Clone(args[:len(args)-1]), "--output_dir", skipped, "--skip_test_eval")...)
	require.NoError(t, err)
	require.NoFileExists(t, filepath.Join(skipped, "evaluation_report.json"))
	_, _, err = run(t, "", append(args, "--output_dir", filepath.Join(dir, "x"), "--eval_max_new_tokens", "0")...)
	require.ErrorContains(t, err, "--eval_max_new_tokens 0: must be at least 1")
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "", "--version")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "tune version "), out)
	require.Equal(t, 1, strings.Count(out, "\n"))
}
