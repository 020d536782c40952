package cli

import (
	_ "embed"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/contract"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/safetensors"
	"github.com/tune-dev/tune/train"
	"github.com/tune-dev/tune/train/data"
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
	steps        int
	loraR        int
	lr           float64
}

func defaultDemoOptions() demoOptions {
	return demoOptions{outputDir: "demo_output", seed: 42, maxNewTokens: 16, answers: 4, steps: 40, loraR: 16, lr: 1e-2}
}

// demoConfig is a tiny model of the real Qwen2 architecture with the real
// Qwen2.5 vocabulary, so the real tokenizer drives it.
func demoConfig() *decoder.Config {
	eos := 151645
	return &decoder.Config{
		ModelType: "qwen2", VocabSize: 151936, HiddenSize: 64, IntermediateSize: 176, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: 4096, RMSNormEps: 1e-6,
		RopeTheta: 1e6, TieWordEmbeddings: true, HiddenAct: "silu", EOSTokenID: decoder.TokenIDs{eos},
	}
}

// demoNormGain scales the demo model's final norm weights.
const demoNormGain = 8

func (e *env) demoCommand() *ucli.Command {
	d := defaultDemoOptions()
	return withConfig(&ucli.Command{
		Name:  "demo",
		Usage: "run the whole pipeline on built-in data: parse a contract, generate Q&A, train a LoRA adapter on a tiny Qwen2 model on the CPU, score, answer and evaluate",
		Flags: []ucli.Flag{
			strFlag("output_dir", "where the demo writes its dataset, model and report", d.outputDir),
			intFlag("seed", "seed for the data split and the model's weights", d.seed),
			intFlag("max_new_tokens", "tokens per generated answer", d.maxNewTokens),
			intFlag("steps", "training steps", d.steps),
			floatFlag("learning_rate", "peak learning rate", d.lr),
		},
		Action: func(c *ucli.Context) error {
			return e.runDemo(c, demoOptions{outputDir: c.String("output_dir"), seed: c.Int("seed"), maxNewTokens: c.Int("max_new_tokens"),
				answers: d.answers, steps: c.Int("steps"), loraR: d.loraR, lr: c.Float64("learning_rate")})
		},
	})
}

func (e *env) runDemo(c *ucli.Context, o demoOptions) error {
	say := func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) }
	dataDir, te, err := writeDemoData(o, say)
	if err != nil {
		return err
	}
	tok, err := e.builtinTokenizer()
	if err != nil {
		return err
	}
	modelDir := filepath.Join(o.outputDir, "model")
	m, err := e.loadDemoModel(c, modelDir, o.seed, say)
	if err != nil {
		return err
	}
	defer m.Free()

	// Score the test records before training: loss on the cited answers
	// only.
	before, tokens, err := demoLoss(m, tok, te)
	if err != nil {
		return err
	}
	say("4. scored %d test records before training: mean loss %.3f over %d answer tokens (an untrained model is near ln(vocab) = 11.93)", len(te), before, tokens)

	runDir := filepath.Join(o.outputDir, "checkpoints", "qwen-legal-lora")
	res, err := e.trainDemo(c, o, dataDir, runDir, modelDir, tok, m, say)
	if err != nil {
		return err
	}

	// Score the test records again with the trained adapter.
	a, err := lora.Load(runDir, "demo", m.Config.NumHiddenLayers, m.Config.ModuleShape)
	if err != nil {
		return err
	}
	m.SetAdapter(a)
	after, _, err := demoLoss(m, tok, te)
	if err != nil {
		return err
	}
	say("6. scored the test records with the trained adapter: mean loss %.3f -> %.3f", before, after)

	// The run answered the first test questions with the adapter and
	// evaluated the answers (the end-of-training report).
	if res.Test == nil || res.Test.N == 0 {
		return fmt.Errorf("demo: the training run made no test report")
	}
	say("7. the run answered %d test questions greedily with the adapter and scored the answers (above); e.g. %q", res.Test.N, res.Test.Samples[0].Prediction)
	say("The run folder %s holds the adapter, checkpoints, best_model/, merged_model/, runs/ (TensorBoard), training_log.jsonl, loss.png, evaluation_report.json and test_predictions.jsonl.", runDir)
	say("A model this small learns the answers' common words, not the contract: the demo shows the pipeline end to end.")
	return nil
}

// writeDemoData parses the built-in contract, generates cited Q&A from it
// and writes the split data set under o.outputDir; it returns the data
// folder and the test records (every record when the test split is
// empty).
func writeDemoData(o demoOptions, say func(string, ...any)) (string, []contract.Record, error) {
	ct, ds := demoData(o.seed)
	say("1. parsed the built-in services agreement: %d clauses", len(ct.Flatten()))
	all, tr, va, te := ds.All, ds.Train, ds.Validation, ds.Test
	dataPath := filepath.Join(o.outputDir, "data", "legal_qa.jsonl")
	if err := contract.WriteDataset(dataPath, ds); err != nil {
		return "", nil, err
	}
	say("2. generated %d Q&A records (train %d, validation %d, test %d) in %s", len(all), len(tr), len(va), len(te), filepath.Dir(dataPath))
	if len(te) == 0 {
		te = all
	}
	say("   e.g. Q: %s\n        A: %s", question(te[0].Input), te[0].Output)
	return filepath.Dir(dataPath), te, nil
}

// loadDemoModel writes a tiny random model of the Qwen2 architecture with
// the real tokenizer into modelDir and loads it back like any Hugging Face
// model folder, on the backend the flags choose.
func (e *env) loadDemoModel(c *ucli.Context, modelDir string, seed int, say func(string, ...any)) (*decoder.Model, error) {
	if err := e.writeDemoModel(modelDir, uint64(seed)); err != nil {
		return nil, err
	}
	be, err := e.backend(c)
	if err != nil {
		return nil, err
	}
	m, err := decoder.Load(modelDir, be)
	if err != nil {
		return nil, err
	}
	cfg := m.Config
	say("3. wrote and loaded a random %d-layer Qwen2 model (%.1fM parameters, vocab %d) in %s on %s",
		cfg.NumHiddenLayers, float64(cfg.NumParams())/1e6, cfg.VocabSize, modelDir, m.Backend.Name())
	return m, nil
}

// trainDemo trains the demo's LoRA adapter on the training split into
// runDir, evaluating, checkpointing, merging and answering test questions
// as a real run does, with its messages indented under step 5.
func (e *env) trainDemo(c *ucli.Context, o demoOptions, dataDir, runDir, modelDir string, tok *tokenizer.Tokenizer, m *decoder.Model, say func(string, ...any)) (*train.Result, error) {
	say("5. training a LoRA adapter (r=%d on all seven projections, %d steps) into %s:", o.loraR, o.steps, runDir)
	tc := demoTrainConfig(o, dataDir, runDir, modelDir, tok)
	tc.EvalSteps, tc.SaveSteps, tc.SaveTotalLimit, tc.MergeAdapters = o.steps/4, o.steps/2, 2, true
	tc.SkipTestEval, tc.TestMaxExamples, tc.TestMaxNewTokens = false, o.answers, o.maxNewTokens
	tc.Out, tc.Progress = prefixed{e.stdout, "   "}, prefixed{e.stdout, "   "}
	res, err := train.Run(c.Context, tc, m.Backend)
	if err != nil {
		return nil, err
	}
	say("   loss %.3f -> %.3f in %d steps (%.0f tokens/s), validation loss %.3f", res.FirstLoss, res.FinalLoss, res.Steps, res.TokensPerSec, res.EvalLoss)
	return res, nil
}

// demoData parses the built-in contract and generates the demo's data set
// from it, split with seed.
func demoData(seed int) (*contract.Contract, *contract.Dataset) {
	ct := contract.ParseText("built-in sample agreement", demoContract)
	opts := contract.GenOptions{Augment: true, NumAugmentations: 1, Seed: int64(seed), Split: [3]float64{0.8, 0.1, 0.1}, UnanswerableRatio: 0.1}
	return ct, contract.Generate([]*contract.Contract{ct}, opts)
}

// writeDemoModel writes the demo's tiny random model, drawn from seed,
// with the built-in tokenizer, as a Hugging Face folder dir.
func (e *env) writeDemoModel(dir string, seed uint64) error {
	// The final norm's gain is raised so that the frozen, random LM head
	// can express peaked distributions: with gains near 1 and a hidden
	// size of 64 the logits cannot move more than about one nat, and no
	// adapter could lower the loss visibly.
	gain := func(s decoder.TensorSpec, v []float32) {
		if s.Name == decoder.NormName {
			for i := range v {
				v[i] *= demoNormGain
			}
		}
	}
	if err := decoder.SaveRandomWith(dir, demoConfig(), seed, safetensors.F32, 0, gain); err != nil {
		return err
	}
	return writeBuiltinTokenizer(e, dir)
}

// demoTrainConfig is the demo's LoRA training run (r o.loraR on all seven
// projections, o.steps steps of 4 records) of the model in modelDir on
// the data in dataDir, into runDir; it evaluates and saves only at the
// end, makes no test report and writes nothing on the console.
func demoTrainConfig(o demoOptions, dataDir, runDir, modelDir string, tok *tokenizer.Tokenizer) train.Config {
	return train.Config{
		DataPath: dataDir, OutputDir: runDir, BaseModel: modelDir, Tokenizer: tok,
		LoRA: lora.Config{R: o.loraR, LoraAlpha: float64(2 * o.loraR), LoraDropout: 0.05,
			TargetModules: strings.Split(allModules, ",")},
		BatchSize: 4, GradAccum: 1, MaxSteps: o.steps, NumEpochs: 1, MaxLength: 512, Seed: uint64(o.seed),
		LR: o.lr, Scheduler: train.ScheduleLinear, WarmupSteps: o.steps / 10,
		AdamW:        train.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1},
		LoggingSteps: 1, EvalSteps: max(o.steps, 1), SkipTestEval: true, Overwrite: true, Out: io.Discard,
	}
}

// demoLoss is the mean answer-token loss of records.
func demoLoss(m *decoder.Model, tok *tokenizer.Tokenizer, recs []contract.Record) (float64, int, error) {
	var sum float64
	var tokens int
	for _, r := range recs {
		res, err := recordLoss(m, tok, data.Record{Instruction: r.Instruction, Input: r.Input, Output: &r.Output})
		if err != nil {
			return 0, 0, err
		}
		sum += res.Sum
		tokens += res.Tokens
	}
	return sum / float64(tokens), tokens, nil
}

// prefixed writes each line written through it to w with prefix before
// it (each Write is whole lines).
type prefixed struct {
	w      io.Writer
	prefix string
}

func (d prefixed) Write(p []byte) (int, error) {
	s := strings.ReplaceAll(strings.TrimRight(string(p), "\n"), "\n", "\n"+d.prefix)
	if _, err := io.WriteString(d.w, d.prefix+s+"\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeBuiltinTokenizer puts the built-in tokenizer.json in a model folder.
func writeBuiltinTokenizer(e *env, dir string) error {
	f, err := e.builtinTokenizerFiles()
	if err != nil {
		return err
	}
	return f.Write(dir)
}

// question pulls the question out of a record's input.
func question(input string) string {
	if i := strings.LastIndex(input, "Question: "); i >= 0 {
		return input[i+len("Question: "):]
	}
	return input
}
