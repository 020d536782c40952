package cli

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/contract"
	"github.com/tune-dev/tune/eval"
	"github.com/tune-dev/tune/qwen"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/safetensors"
	"github.com/tune-dev/tune/train"
)

// demoContract is a short services agreement written for the demo.
//
//go:embed demo_contract.txt
var demoContract string

type demoOptions struct {
	outputDir    string
	seed         int
	maxNewTokens int
	answers      int
}

func defaultDemoOptions() demoOptions {
	return demoOptions{outputDir: "demo_output", seed: 42, maxNewTokens: 16, answers: 4}
}

// demoConfig is a tiny model of the real Qwen2 architecture with the real
// Qwen2.5 vocabulary, so the real tokenizer drives it.
func demoConfig() *qwen.Config {
	eos := 151645
	return &qwen.Config{
		ModelType: "qwen2", VocabSize: 151936, HiddenSize: 64, IntermediateSize: 176, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 4096, RMSNormEps: 1e-6,
		RopeTheta: 1e6, TieWordEmbeddings: true, HiddenAct: "silu", EOSTokenID: &eos,
	}
}

func (e *env) demoCommand() *ucli.Command {
	d := defaultDemoOptions()
	return withConfig(&ucli.Command{
		Name:  "demo",
		Usage: "run the whole pipeline on built-in data: parse a contract, generate Q&A, tokenize, score and answer with a tiny Qwen2 model, evaluate",
		Flags: []ucli.Flag{
			strFlag("output_dir", "where the demo writes its dataset, model and report", d.outputDir),
			intFlag("seed", "seed for the data split and the model's weights", d.seed),
			intFlag("max_new_tokens", "tokens per generated answer", d.maxNewTokens),
		},
		Action: func(c *ucli.Context) error {
			return e.runDemo(c, demoOptions{outputDir: c.String("output_dir"), seed: c.Int("seed"), maxNewTokens: c.Int("max_new_tokens"), answers: d.answers})
		},
	})
}

func (e *env) runDemo(c *ucli.Context, o demoOptions) error {
	say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }

	// 1. Parse the built-in contract and generate cited Q&A.
	ct := contract.ParseText("built-in sample agreement", demoContract)
	say("1. parsed the built-in services agreement: %d clauses", len(ct.Flatten()))
	opts := contract.GenOptions{Augment: true, NumAugmentations: 1, Seed: int64(o.seed), Split: [3]float64{0.8, 0.1, 0.1}, UnanswerableRatio: 0.1}
	all, stats := contract.Generate([]*contract.Contract{ct}, opts)
	tr, va, te := contract.SplitRecords(all, opts.Split, opts.Seed)
	stats.CountSplits(tr, va, te)
	dataPath := filepath.Join(o.outputDir, "data", "legal_qa.jsonl")
	if err := contract.WriteDataset(dataPath, all, tr, va, te); err != nil {
		return err
	}
	say("2. generated %d Q&A records (train %d, validation %d, test %d) in %s", len(all), len(tr), len(va), len(te), filepath.Dir(dataPath))
	if len(te) == 0 {
		te = all
	}
	say("   e.g. Q: %s\n        A: %s", question(te[0].Input), te[0].Output)

	// 2. A tiny random model of the Qwen2 architecture, saved and loaded
	// back like any Hugging Face model folder, with the real tokenizer.
	tok, err := e.builtinTokenizer()
	if err != nil {
		return err
	}
	modelDir := filepath.Join(o.outputDir, "model")
	cfg := demoConfig()
	if err := qwen.SaveRandom(modelDir, cfg, uint64(o.seed), safetensors.F32, 0); err != nil {
		return err
	}
	if err := writeBuiltinTokenizer(e, modelDir); err != nil {
		return err
	}
	m, err := qwen.Load(modelDir, e.backend(c))
	if err != nil {
		return err
	}
	defer m.Free()
	say("3. wrote and loaded a random %d-layer Qwen2 model (%.1fM parameters, vocab %d) in %s on %s",
		cfg.NumHiddenLayers, float64(cfg.NumParams())/1e6, cfg.VocabSize, modelDir, m.B.Name())

	// 3. Score the test records: loss on the cited answers only.
	var sum float64
	var tokens int
	for _, r := range te {
		res, err := recordLoss(m, tok, train.Record{Instruction: r.Instruction, Input: r.Input, Output: &r.Output})
		if err != nil {
			return err
		}
		sum += res.Sum
		tokens += res.Tokens
	}
	say("4. scored %d test records: mean loss %.3f over %d answer tokens (an untrained model is near ln(vocab) = 11.93)", len(te), sum/float64(tokens), tokens)

	// 4. Answer a few test questions and evaluate the answers.
	n := min(o.answers, len(te))
	var prompts [][]int32
	var refs []string
	for _, r := range te[:n] {
		rec := train.Record{Instruction: r.Instruction, Input: r.Input}
		msgs := rec.ChatMessages()
		prompts = append(prompts, encode(tok, tokenizer.ApplyChatTemplate(msgs, true)))
		refs = append(refs, r.Output)
	}
	g := qwen.DefaultGenerationConfig()
	g.MaxNewTokens = o.maxNewTokens
	g.EOSTokenIDs = tok.EOSIDs()
	examples, err := answer(m, tok, prompts, refs, g, n, e.stderr)
	if err != nil {
		return err
	}
	r := eval.Evaluate(examples)
	report := filepath.Join(o.outputDir, "evaluation_report.json")
	if err := eval.WriteReport(report, r); err != nil {
		return err
	}
	say("5. answered %d test questions greedily; e.g. %q", n, examples[0].Prediction)
	say("   BLEU %.2f, ROUGE-L %.3f, exact match %.2f, citation F1 %.2f (report: %s)", r.BLEU, r.Rouge.RougeL, r.ExactMatch, r.LegalMetrics.CitationF1, report)
	say("The model is random and untrained, so its answers are noise; this demo shows the pipeline end to end.")
	return nil
}

// writeBuiltinTokenizer puts the built-in tokenizer.json in a model folder.
func writeBuiltinTokenizer(e *env, dir string) error {
	tok, err := gunzip(e.assets.TokenizerGz)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "tokenizer.json")
	if err := os.WriteFile(path+".tmp", tok, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// question pulls the question out of a record's input.
func question(input string) string {
	if i := strings.LastIndex(input, "Question: "); i >= 0 {
		return input[i+len("Question: "):]
	}
	return input
}
