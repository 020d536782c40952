package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/decoder/merge"
	"github.com/tune-dev/tune/dist"
	"github.com/tune-dev/tune/eval"
	"github.com/tune-dev/tune/internal/atomicfile"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/safetensors"
	"github.com/tune-dev/tune/train/data"
	"github.com/tune-dev/tune/train/runlog"
)

// Config is one training run. The zero values of the optional fields
// mean "off" or Hugging Face's default, as each field says.
type Config struct {
	// DataPath is a folder holding train.jsonl (and optionally
	// validation.jsonl and test.jsonl) or one JSONL file to train on.
	DataPath string
	// OutputDir receives checkpoints, the final adapter and the logs.
	OutputDir string
	// BaseModel is the Hugging Face model folder to fine-tune.
	BaseModel string
	// Tokenizer formats and tokenizes text records; it may be nil when
	// every record is pre-tokenized.
	Tokenizer *tokenizer.Tokenizer
	// WriteTokenizer, when set, writes the tokenizer files into a folder
	// (the merged model's); nil copies them from BaseModel when present.
	WriteTokenizer func(dir string) error

	// LoRA is the adapter's configuration; its LoraDropout is the
	// dropout trained with and must lie in [0, 1).
	LoRA lora.Config
	// InitAdapter starts from an existing PEFT adapter folder instead of
	// a fresh initialization. LoRA must then describe that adapter: its
	// r, lora_alpha, target_modules and use_rslora must equal the
	// adapter's (an error names each difference); the adapter's
	// lora_dropout gives way to LoRA.LoraDropout.
	InitAdapter string
	UseQLoRA    bool
	// QuantBlockSize is the NF4 block size (64 when 0).
	QuantBlockSize int

	BatchSize, GradAccum, NumEpochs int
	// MaxSteps, when positive, overrides NumEpochs.
	MaxSteps    int
	MaxLength   int
	Pack        bool
	Seed        uint64
	LR          float64
	Scheduler   string
	WarmupSteps int
	WarmupRatio float64
	AdamW       AdamWConfig

	// LoggingSteps, EvalSteps and SaveSteps are intervals in optimizer
	// steps (0: log every step; evaluate every LoggingSteps; never save
	// before the end).
	LoggingSteps, EvalSteps, SaveSteps int
	// SaveTotalLimit keeps only the newest checkpoints (0: keep all);
	// the best one is never deleted.
	SaveTotalLimit int
	// EarlyStoppingPatience stops after this many evaluations without a
	// better eval loss (0: never); it needs validation data.
	EarlyStoppingPatience int
	// Recompute enables gradient checkpointing.
	Recompute bool
	// MergeAdapters writes merged_model/ at the end.
	MergeAdapters bool
	// Resume is "" (a fresh run), "latest" or a checkpoint folder. With
	// "latest" and no checkpoint in an output folder that holds nothing
	// of a run but its logs, the run starts from scratch (and says so).
	// A resumed run must keep the hyperparameters recorded in the
	// checkpoint's training_args.json (resumeFixed lists them, resumeFree
	// the settings that may change).
	Resume string
	// Overwrite allows a fresh run in an output folder that holds one.
	Overwrite bool
	// EvalOnly evaluates the (initial or resumed) adapter and stops.
	EvalOnly bool

	// TestFile is the JSONL of chat records that the end-of-training
	// report answers with the trained adapter and scores ("": test.jsonl
	// of DataPath when that is a folder holding one). SkipTestEval turns
	// the report off; EvalOnly runs never write one.
	TestFile     string
	SkipTestEval bool
	// TestMaxExamples answers only the first this many test records (0:
	// all); TestMaxNewTokens caps each answer (0: 256, as tune eval).
	TestMaxExamples, TestMaxNewTokens int

	// Out receives human-readable messages; Warn the warnings (nil: Out);
	// Progress the progress bar (nil for none). ProgressBar draws a bar
	// instead of plain lines.
	Out, Warn, Progress io.Writer
	ProgressBar         bool
	// OnStep, when set, is called after every optimizer step with its
	// loss (tests use it to compare runs).
	OnStep func(step int, loss float64)

	// Comm, when it has more than one rank, makes this process one rank of
	// a data-parallel run (nil: a single process). GradAccum is then per
	// rank: an optimizer step takes GradAccum×Size micro-batches. Every
	// rank loads the data, the model and any checkpoint itself; rank 0
	// alone writes files and messages.
	Comm dist.Comm
	// Reducer sums the gradient arena over Comm's ranks (nil: through
	// Comm in host memory).
	Reducer dist.Reducer
	// ReplicaCheckSteps compares the ranks' adapters every this many steps
	// (0: only at the start and at every checkpoint, where they are always
	// compared).
	ReplicaCheckSteps int
}

// Result summarizes a run.
type Result struct {
	OutputDir    string
	Steps        int     // optimizer steps taken by the whole run
	FirstLoss    float64 // loss of the first step of this invocation
	FinalLoss    float64 // loss of the last step
	EvalLoss     float64 // last evaluation loss (NaN without validation data)
	TokensPerSec float64 // trained tokens (real, not padding) per second of training steps in this invocation
	Interrupted  bool
	StoppedEarly bool
	// Test is the end-of-training report on the test set (nil when none
	// was made).
	Test *eval.Report
}

// ErrInterrupted is returned (wrapped) when the context is cancelled; a
// checkpoint of the last completed step has been saved, unless the run
// had completed no step (the message says which).
var ErrInterrupted = errors.New("training interrupted")

// The end-of-training report's files in the output folder.
const (
	reportFile      = "evaluation_report.json"
	predictionsFile = "test_predictions.jsonl"
)

// Validate checks the config before any work starts.
func (c *Config) Validate() error {
	switch {
	case c.DataPath == "":
		return errors.New("train: no data path")
	case c.OutputDir == "":
		return errors.New("train: no output folder")
	case c.BaseModel == "":
		return errors.New("train: no base model")
	case c.BatchSize < 1:
		return fmt.Errorf("train: batch size %d must be at least 1", c.BatchSize)
	case c.GradAccum < 1:
		return fmt.Errorf("train: gradient accumulation steps %d must be at least 1", c.GradAccum)
	case c.MaxSteps <= 0 && c.NumEpochs < 1:
		return fmt.Errorf("train: %d epochs and no max steps: nothing to train", c.NumEpochs)
	case !(c.LR > 0):
		return fmt.Errorf("train: learning rate %v must be positive", c.LR)
	case c.MaxLength < 2:
		return fmt.Errorf("train: max length %d must be at least 2", c.MaxLength)
	case c.WarmupSteps < 0 || c.WarmupRatio < 0 || c.WarmupRatio > 1:
		return fmt.Errorf("train: warmup steps %d / ratio %v out of range", c.WarmupSteps, c.WarmupRatio)
	case c.AdamW.WeightDecay < 0 || c.AdamW.MaxGradNorm < 0:
		return fmt.Errorf("train: weight decay %v and max grad norm %v must not be negative", c.AdamW.WeightDecay, c.AdamW.MaxGradNorm)
	case c.TestMaxExamples < 0:
		return fmt.Errorf("train: --eval_max_examples %d must not be negative (0: every test record)", c.TestMaxExamples)
	case c.ReplicaCheckSteps < 0:
		return fmt.Errorf("train: --replica_check_steps %d must not be negative", c.ReplicaCheckSteps)
	case c.TestMaxNewTokens < 0:
		return fmt.Errorf("train: --eval_max_new_tokens %d must not be negative", c.TestMaxNewTokens)
	}
	if err := c.LoRA.Validate(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := lora.CheckTrainingDropout(c.LoRA.LoraDropout); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if _, err := NewSchedule(c.Scheduler, c.LR, 0, 0, 1); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// dataFiles resolves DataPath to the train, validation and test files
// ("" when absent); TestFile, when set, is the test file.
func (c *Config) dataFiles() (trainF, valF, testF string, err error) {
	st, err := os.Stat(c.DataPath)
	if err != nil {
		return "", "", "", fmt.Errorf("train: data: %w", err)
	}
	if c.TestFile != "" {
		if _, err := os.Stat(c.TestFile); err != nil {
			return "", "", "", fmt.Errorf("train: --test_file: %w", err)
		}
		testF = c.TestFile
	}
	if !st.IsDir() {
		return c.DataPath, "", testF, nil
	}
	trainF = filepath.Join(c.DataPath, "train.jsonl")
	if _, err := os.Stat(trainF); err != nil {
		return "", "", "", fmt.Errorf("train: data folder %s has no train.jsonl", c.DataPath)
	}
	if _, err := os.Stat(filepath.Join(c.DataPath, "validation.jsonl")); err == nil {
		valF = filepath.Join(c.DataPath, "validation.jsonl")
	}
	if _, err := os.Stat(filepath.Join(c.DataPath, "test.jsonl")); err == nil && testF == "" {
		testF = filepath.Join(c.DataPath, "test.jsonl")
	}
	return trainF, valF, testF, nil
}

// LatestCheckpoint returns the checkpoint-N folder of dir with the largest
// N.
func LatestCheckpoint(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	best, bestN := "", -1
	for _, e := range entries {
		n, ok := checkpointStep(e.Name())
		if ok && e.IsDir() && n > bestN {
			best, bestN = filepath.Join(dir, e.Name()), n
		}
	}
	if best == "" {
		return "", fmt.Errorf("train: %s holds no checkpoint-N folder to resume from", dir)
	}
	return best, nil
}

func checkpointStep(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "checkpoint-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// trainer is one run in progress.
type trainer struct {
	cfg       *Config
	b         backend.Backend
	comm      dist.Comm
	grads     dist.Reducer
	m         *decoder.Model
	tr        *decoder.Trainable
	opt       *AdamW
	sched     Schedule
	loader    *data.Loader
	val       *data.Dataset
	state     *runlog.TrainerState
	log       *runlog.Log
	tb        *runlog.EventWriter
	out       io.Writer
	padID     int32 // fills padding positions (decoder.Config.PadID)
	watch     collapseWatch
	perEpoch  int // optimizer steps per epoch
	total     int
	sinceBest int // evaluations since the last improvement of the eval loss (early stopping counts them)
	trainPts  []runlog.Point
	evalPts   []runlog.Point
	test      *QA // the test set of the end-of-training report, nil for none
}

// Run trains (or, with EvalOnly, evaluates) on backend b. Cancelling ctx
// (Ctrl-C) saves a checkpoint of the last completed step and returns an
// error wrapping ErrInterrupted; cancelled before the first step, it
// returns that error having saved nothing.
func Run(ctx context.Context, cfg Config, b backend.Backend) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	comm := cfg.quietRanks()
	files, plan, err := cfg.check()
	if err != nil {
		return nil, err
	}
	mc, err := checkBase(&cfg)
	if err != nil {
		return nil, err
	}
	if err := checkDeviceMemory(&cfg, mc, b); err != nil {
		return nil, err
	}
	t := &trainer{cfg: &cfg, b: b, out: cfg.Out, padID: mc.PadID(), watch: collapseWatch{lnVocab: math.Log(float64(mc.VocabSize))},
		comm: comm, grads: cfg.Reducer}
	if t.grads == nil {
		t.grads = dist.NewHostReducer(comm, b)
	}
	system, err := t.loadAllData(files, mc)
	if err != nil {
		return nil, err
	}
	if plan.resumeDir != "" && !cfg.EvalOnly {
		if err := t.checkResumeArgs(plan.resumeDir); err != nil {
			return nil, err
		}
	}

	t.m, err = decoder.LoadWith(cfg.BaseModel, b, decoder.LoadOptions{QLoRA: cfg.UseQLoRA, BlockSize: cfg.QuantBlockSize})
	if err != nil {
		return nil, err
	}
	defer t.m.Free()
	if err := t.startAdapter(plan.resumeDir, system); err != nil {
		return nil, err
	}
	if t.opt, err = NewAdamW(b, t.tr.N, cfg.AdamW); err != nil {
		return nil, err
	}
	defer t.opt.Free()
	if err := t.startState(plan.resumeDir); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, t.interruptedEarly()
	}
	if err := t.checkReplicas(t.state.GlobalStep); err != nil {
		return nil, err
	}
	if err := t.clearOutput(plan); err != nil {
		return nil, err
	}
	if cfg.EvalOnly {
		loss, err := t.evaluate()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Out, "eval loss %.6f\n", loss)
		return &Result{OutputDir: cfg.OutputDir, Steps: t.state.GlobalStep, EvalLoss: loss, FirstLoss: math.NaN(), FinalLoss: math.NaN()}, nil
	}
	if t.lead() {
		closeLogs, err := t.openLogs(plan.resumeDir != "")
		if err != nil {
			return nil, err
		}
		defer closeLogs()
	}
	return t.loop(ctx)
}

// quietRanks returns the run's communicator (a single process when Comm
// is nil) and silences every rank but rank 0: only it writes messages.
func (c *Config) quietRanks() dist.Comm {
	comm := c.Comm
	if comm == nil {
		comm = dist.Single{}
	}
	if c.Out == nil || comm.Rank() != 0 {
		c.Out = io.Discard
	}
	if comm.Rank() != 0 {
		c.Progress, c.Warn = nil, io.Discard
	}
	if c.Warn == nil {
		c.Warn = c.Out
	}
	return comm
}

// dataPaths are a run's data files ("" when absent).
type dataPaths struct{ train, validation, test string }

// check runs the checks that need no data read nor model loaded: the data
// files, the output folder, the merge target and the adapter to start
// from.
func (c *Config) check() (dataPaths, outputPlan, error) {
	var f dataPaths
	var err error
	if f.train, f.validation, f.test, err = c.dataFiles(); err != nil {
		return f, outputPlan{}, err
	}
	if f.validation == "" && c.EarlyStoppingPatience > 0 {
		return f, outputPlan{}, fmt.Errorf("train: early stopping (patience %d) needs validation data, and %s has no validation.jsonl", c.EarlyStoppingPatience, c.DataPath)
	}
	plan, err := c.planOutput()
	if err != nil {
		return f, plan, err
	}
	if err := c.checkMergeTarget(); err != nil {
		return f, plan, err
	}
	if plan.resumeDir != "" {
		if _, err := os.Stat(filepath.Join(plan.resumeDir, "trainer_state.json")); err != nil {
			return f, plan, fmt.Errorf("train: %s is not a checkpoint: %w", plan.resumeDir, err)
		}
	} else if err := c.checkAdapterConfig(c.InitAdapter, false); err != nil {
		return f, plan, err
	}
	return f, plan, nil
}

// loadAllData loads the train, validation and test data, makes the loader
// and the schedule, and returns the system prompt of the training data.
func (t *trainer) loadAllData(f dataPaths, mc *decoder.Config) (*lora.SystemPrompt, error) {
	cfg := t.cfg
	ds, err := t.loadData(f.train, "train", mc.VocabSize)
	if err != nil {
		return nil, err
	}
	if f.validation != "" {
		if t.val, err = t.loadData(f.validation, "validation", mc.VocabSize); err != nil {
			return nil, err
		}
	}
	system := ds.SystemPrompt()
	if err := t.loadTest(f.test, system, mc); err != nil {
		return nil, err
	}
	t.loader = data.NewLoader(ds, data.LoaderConfig{BatchSize: cfg.BatchSize, Pack: cfg.Pack, MaxLength: cfg.MaxLength, Seed: cfg.Seed, Shuffle: true, PadID: t.padID})
	t.perEpoch = (t.loader.BatchesPerEpoch() + t.accumulation() - 1) / t.accumulation()
	t.total = cfg.MaxSteps
	if t.total <= 0 {
		t.total = cfg.NumEpochs * t.perEpoch
	}
	if t.sched, err = NewSchedule(cfg.Scheduler, cfg.LR, cfg.WarmupSteps, cfg.WarmupRatio, t.total); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return system, nil
}

// startAdapter builds the adapter to train (see adapter), records the
// training data's system prompt with it and attaches it to the model.
func (t *trainer) startAdapter(resumeDir string, system *lora.SystemPrompt) error {
	cfg := t.cfg
	a, err := t.adapter(resumeDir)
	if err != nil {
		return err
	}
	a.System = system
	if system != nil && system.Distinct > 1 {
		fmt.Fprintf(cfg.Out, "train data: %d distinct system prompts; the most common, of %d of the %d chat records, is recorded with the adapter (%s)\n",
			system.Distinct, system.Records, system.ChatRecords, lora.SystemPromptFile)
	}
	t.tr = t.m.Train(a)
	fmt.Fprintf(cfg.Out, "model %s: %d layers, hidden %d, %s weights; LoRA r=%d alpha=%g dropout=%g on %s: %d trainable parameters\n",
		cfg.BaseModel, t.m.Config.NumHiddenLayers, t.m.Config.HiddenSize, map[bool]string{true: "NF4", false: "float32"}[cfg.UseQLoRA],
		a.Config.R, a.Config.LoraAlpha, a.Config.LoraDropout, targetsText(a.Config), t.tr.N)
	return nil
}

// startState makes the trainer state of a fresh run, or restores a
// checkpoint's (resume).
func (t *trainer) startState(resumeDir string) error {
	cfg := t.cfg
	t.state = runlog.NewTrainerState()
	t.state.LoggingSteps, t.state.EvalSteps, t.state.SaveSteps = cfg.LoggingSteps, t.evalSteps(), cfg.SaveSteps
	t.state.MaxSteps, t.state.NumTrainEpochs, t.state.TrainBatchSize = t.total, cfg.NumEpochs, cfg.BatchSize
	if resumeDir == "" {
		return nil
	}
	return t.resume(resumeDir)
}

// clearOutput removes an earlier run's files that plan found, now that
// every check has passed, and makes the output folder (rank 0 only).
func (t *trainer) clearOutput(plan outputPlan) error {
	if !t.lead() {
		return nil
	}
	cfg := t.cfg
	if len(plan.stale) > 0 {
		fmt.Fprintf(cfg.Out, "replacing %s in %s: %s\n", plan.why, cfg.OutputDir, strings.Join(plan.stale, ", "))
		for _, f := range plan.stale {
			if err := os.RemoveAll(filepath.Join(cfg.OutputDir, f)); err != nil {
				return fmt.Errorf("train: %w", err)
			}
		}
	}
	if err := os.MkdirAll(cfg.OutputDir, atomicfile.DirMode); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// openLogs tidies what an interrupted run left half-written, opens the
// training log (appending when resuming) and the TensorBoard writer, and
// writes training_args.json; the returned func closes the logs.
func (t *trainer) openLogs(resuming bool) (closeLogs func(), err error) {
	cfg := t.cfg
	cleaned, err := atomicfile.CleanLeftovers(cfg.OutputDir, isRunName)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if len(cleaned) > 0 {
		fmt.Fprintf(cfg.Out, "removed what an interrupted run left half-written in %s: %s\n", cfg.OutputDir, strings.Join(cleaned, ", "))
	}
	if t.log, err = runlog.OpenLog(filepath.Join(cfg.OutputDir, runlog.LogFileName), resuming); err != nil {
		return nil, err
	}
	if t.tb, err = runlog.NewEventWriter(filepath.Join(cfg.OutputDir, "runs")); err != nil {
		t.log.Close()
		return nil, err
	}
	closeLogs = func() {
		t.tb.Close()
		t.log.Close()
	}
	if err := writeJSON(filepath.Join(cfg.OutputDir, argsFile), t.args()); err != nil {
		closeLogs()
		return nil, err
	}
	return closeLogs, nil
}

// loadData reads and tokenizes a data file, checks its token ids against
// the model's vocabulary, prints its statistics and warns about the
// records it skipped for an empty answer.
func (t *trainer) loadData(path, what string, vocab int) (*data.Dataset, error) {
	ds, err := data.LoadDataset(path, t.cfg.Tokenizer, t.cfg.MaxLength)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if err := checkVocab(ds, vocab); err != nil {
		return nil, err
	}
	fmt.Fprintf(t.out, "%s data %s: %s\n", what, path, ds.Stats())
	if n := len(ds.EmptyAnswers); n > 0 {
		fmt.Fprintf(t.cfg.Warn, "warning: %s: skipped %d records whose answer is empty (%s): they would teach the model to answer nothing\n",
			path, n, lineList(ds.EmptyAnswers))
	}
	return ds, nil
}

// lineList names the first few of lines ("lines 3, 8 and 2 more").
func lineList(lines []int) string {
	const shown = 5
	var parts []string
	for _, l := range lines[:min(len(lines), shown)] {
		parts = append(parts, strconv.Itoa(l))
	}
	s := "line"
	if len(lines) > 1 {
		s = "lines"
	}
	s += " " + strings.Join(parts, ", ")
	if len(lines) > shown {
		s += fmt.Sprintf(" and %d more", len(lines)-shown)
	}
	return s
}

// interruptedEarly is the error of a run cancelled before its first
// step: there is nothing new to save.
func (t *trainer) interruptedEarly() error {
	if t.state.GlobalStep == 0 {
		return fmt.Errorf("train: %w before the first step: nothing to save", ErrInterrupted)
	}
	return fmt.Errorf("train: %w before any new step: the checkpoint of step %d is unchanged", ErrInterrupted, t.state.GlobalStep)
}

// checkMergeTarget runs, before training, the checks merge.Write will run
// on merged_model/ at the end, so that --merge_adapters cannot fail after
// the training for a reason known at the start. With Overwrite an earlier
// merged_model/ goes with the rest of the run, so only the paths count.
func (c *Config) checkMergeTarget() error {
	if !c.MergeAdapters || c.EvalOnly {
		return nil
	}
	o := merge.Options{BaseModel: c.BaseModel, Output: filepath.Join(c.OutputDir, "merged_model")}
	if c.Overwrite {
		_, err := merge.CheckPaths(o)
		return err
	}
	return merge.CheckOutput(o)
}

// checkBase checks the base model folder (config and weight files) before
// any data is read, and returns its config.
func checkBase(cfg *Config) (*decoder.Config, error) {
	mc, err := decoder.LoadConfig(cfg.BaseModel)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenCheckpoint(cfg.BaseModel)
	if err != nil {
		return nil, fmt.Errorf("train: base model: %w", err)
	}
	ck.Close()
	return mc, nil
}

// checkVocab reports the first token id of ds outside the model's
// vocabulary, naming its file and line.
func checkVocab(ds *data.Dataset, vocab int) error {
	for _, e := range ds.Examples {
		for _, id := range e.IDs {
			if id < 0 || int(id) >= vocab {
				return fmt.Errorf("train: %s:%d: token id %d is outside the model's vocabulary (vocab_size %d); is the tokenizer the model's?", ds.Path, e.Line, id, vocab)
			}
		}
	}
	return nil
}

// evalSteps is the evaluation interval (LoggingSteps when unset, as in
// Hugging Face).
func (t *trainer) evalSteps() int {
	if t.cfg.EvalSteps > 0 {
		return t.cfg.EvalSteps
	}
	return max(t.cfg.LoggingSteps, 1)
}

// adapter builds the adapter to train: the checkpoint's when resuming,
// InitAdapter's, or a fresh seeded initialization.
func (t *trainer) adapter(resumeDir string) (*lora.Adapter, error) {
	c := t.m.Config
	dir := t.cfg.InitAdapter
	if resumeDir != "" {
		dir = resumeDir
	}
	if dir != "" {
		a, err := lora.Load(dir, "default", c.NumHiddenLayers, c.ModuleShape)
		if err != nil {
			return nil, err
		}
		a.Config.InferenceMode = false
		a.Config.LoraDropout = t.cfg.LoRA.LoraDropout
		return a, nil
	}
	lc := t.cfg.LoRA
	lc.BaseModelNameOrPath = t.cfg.BaseModel
	return lora.New("default", lc, c.NumHiddenLayers, c.ModuleShape, t.cfg.Seed)
}

// resume restores the optimizer, scheduler, trainer state and logs of a
// checkpoint (the adapter was loaded by adapter).
func (t *trainer) resume(dir string) error {
	st, err := runlog.LoadTrainerState(filepath.Join(dir, "trainer_state.json"))
	if err != nil {
		return err
	}
	if err := t.opt.LoadState(filepath.Join(dir, "optimizer.safetensors")); err != nil {
		return err
	}
	var sc schedulerState
	if err := readJSON(filepath.Join(dir, "scheduler.json"), &sc); err != nil {
		return err
	}
	if sc.Kind != t.sched.Kind || sc.BaseLR != t.sched.BaseLR || sc.WarmupSteps != t.sched.WarmupSteps || t.sched.DependsOnTotal() && sc.TotalSteps != t.total {
		return fmt.Errorf("train: %s: the checkpoint's schedule (%s from %g, %d warmup steps, over %d steps) differs from this run's (%s from %g, %d warmup steps, over %d steps); resume with the same settings",
			dir, sc.Kind, sc.BaseLR, sc.WarmupSteps, sc.TotalSteps, t.sched.Kind, t.sched.BaseLR, t.sched.WarmupSteps, t.total)
	}
	if st.GlobalStep != t.opt.Steps {
		return fmt.Errorf("train: %s: trainer_state.json is at step %d but the optimizer at step %d", dir, st.GlobalStep, t.opt.Steps)
	}
	st.LoggingSteps, st.EvalSteps, st.SaveSteps = t.state.LoggingSteps, t.state.EvalSteps, t.state.SaveSteps
	st.MaxSteps, st.NumTrainEpochs, st.TrainBatchSize = t.total, t.cfg.NumEpochs, t.cfg.BatchSize
	t.state = st
	for _, e := range st.LogHistory {
		step, _ := runlog.EntryInt(e, "step")
		if l, ok := runlog.EntryFloat(e, "loss"); ok {
			t.trainPts = append(t.trainPts, runlog.Point{Step: step, Loss: l})
		}
		if l, ok := runlog.EntryFloat(e, "eval_loss"); ok {
			t.evalPts = append(t.evalPts, runlog.Point{Step: step, Loss: l})
		}
	}
	if v, ok := st.Extra["tune_evals_without_improvement"]; ok {
		if n, ok := runlog.Number(v); ok {
			t.sinceBest = int(n)
		}
	}
	logPath := filepath.Join(t.cfg.OutputDir, runlog.LogFileName)
	if _, err := os.Stat(logPath); err == nil && t.lead() {
		if err := runlog.TruncateLog(logPath, st.GlobalStep); err != nil {
			return err
		}
	}
	fmt.Fprintf(t.out, "resuming from %s at step %d\n", dir, st.GlobalStep)
	return nil
}

// schedulerState is scheduler.json in a checkpoint.
type schedulerState struct {
	Kind        string  `json:"kind"`
	BaseLR      float64 `json:"base_lr"`
	WarmupSteps int     `json:"warmup_steps"`
	TotalSteps  int     `json:"total_steps"`
	LastStep    int     `json:"last_step"`
}

// dataState is data_state.json in a checkpoint.
type dataState struct {
	Seed     uint64        `json:"seed"`
	Next     data.Position `json:"next"`
	PerEpoch int           `json:"optimizer_steps_per_epoch"`
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}

// dropoutSeed derives the dropout seed of one micro-batch from the run's
// seed, so a resumed run draws the same masks.
func dropoutSeed(seed uint64, step, micro int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "dropout/%d/%d/%d", seed, step, micro)
	return h.Sum64()
}

func (t *trainer) epoch(step int) float64 { return float64(step) / float64(t.perEpoch) }

// loop runs the optimizer steps from the current global step to the end.
func (t *trainer) loop(ctx context.Context) (*Result, error) {
	c := t.cfg
	res := &Result{OutputDir: c.OutputDir, FirstLoss: math.NaN(), EvalLoss: math.NaN()}
	start := t.state.GlobalStep
	ranks := ""
	if n := t.comm.Size(); n > 1 {
		ranks = fmt.Sprintf(" on each of %d ranks (gradients summed by %s)", n, t.grads.Name())
	}
	fmt.Fprintf(t.out, "training %d optimizer steps (%d per epoch, %d micro-batches of %d, accumulation %d%s) from step %d on %s\n",
		t.total, t.perEpoch, t.loader.BatchesPerEpoch(), c.BatchSize, c.GradAccum, ranks, start, t.b.Name())
	prog := runlog.NewProgress(c.Progress, t.total, c.ProgressBar)
	var busy time.Duration // time spent in training steps (not evaluating or saving)
	var tokens int64
	var logLoss, logNorm float64
	var logN int
	for step := start + 1; step <= t.total; step++ {
		plan, err := t.plan(step-1, ctx.Err() != nil)
		if err != nil {
			prog.Finish()
			return res, fmt.Errorf("train: step %d: %w", step, err)
		}
		if plan.interrupted {
			res.Interrupted = true
			prog.Finish()
			if step-1 == start {
				return res, t.interruptedEarly()
			}
			if err := t.checkpoint(step - 1); err != nil {
				return res, err
			}
			return res, fmt.Errorf("train: %w at step %d; checkpoint saved in %s", ErrInterrupted, step-1, filepath.Join(c.OutputDir, fmt.Sprintf("checkpoint-%d", step-1)))
		}
		stepStart := time.Now()
		loss, norm, err := t.step(step, plan)
		busy += time.Since(stepStart)
		if err != nil {
			prog.Finish()
			return res, fmt.Errorf("train: step %d: %w; stopped, the last good checkpoint is kept", step, err)
		}
		tokens += int64(plan.tokens)
		t.state.GlobalStep = step
		t.state.Epoch = t.epoch(step)
		t.state.NumInputTokensSeen += int64(plan.tokens)
		if math.IsNaN(res.FirstLoss) {
			res.FirstLoss = loss
		}
		res.FinalLoss, res.Steps = loss, step
		if c.OnStep != nil {
			c.OnStep(step, loss)
		}
		tps := float64(tokens) / busy.Seconds()
		prog.Update(step, loss, tps)
		if msg := t.watch.see(step, loss, norm, c.LR); msg != "" {
			if err := t.warn(step, msg); err != nil {
				return res, err
			}
		}

		logLoss += loss
		logNorm += norm
		logN++
		if c.LoggingSteps <= 1 || step%c.LoggingSteps == 0 || step == t.total {
			if err := t.logTrain(step, logLoss/float64(logN), logNorm/float64(logN), t.sched.LR(step-1), tps); err != nil {
				return res, err
			}
			logLoss, logNorm, logN = 0, 0, 0
		}
		stop := false
		if t.val != nil && (step%t.evalSteps() == 0 || step == t.total) {
			if res.EvalLoss, stop, err = t.evalStep(step); err != nil {
				return res, err
			}
		}
		if (c.SaveSteps > 0 && step%c.SaveSteps == 0) || step == t.total || stop {
			if err := t.checkpoint(step); err != nil {
				return res, err
			}
		} else if c.ReplicaCheckSteps > 0 && step%c.ReplicaCheckSteps == 0 {
			if err := t.checkReplicas(step); err != nil {
				return res, err
			}
		}
		if stop {
			res.StoppedEarly = true
			fmt.Fprintf(t.out, "\nearly stopping at step %d: eval loss has not improved for %d evaluations\n", step, t.sinceBest)
			break
		}
	}
	prog.Finish()
	if busy > 0 {
		res.TokensPerSec = float64(tokens) / busy.Seconds()
	}
	if err := t.finish(); err != nil {
		return res, err
	}
	return res, t.testReport(ctx, res)
}

// step runs one optimizer step: this rank's micro-batches of plan, each
// normalized by the number of targets of the whole accumulated batch, the
// all-reduce of the gradients and the loss over the ranks, then AdamW. It
// returns the mean token loss and the gradient norm before clipping.
func (t *trainer) step(step int, plan stepPlan) (loss, norm float64, err error) {
	if plan.targets == 0 {
		return 0, 0, errors.New("no target token in the accumulated batch")
	}
	t.b.Zero(t.tr.Grads, t.tr.N)
	sum := []float64{0}
	for _, sb := range plan.mine {
		s, _, err := t.m.ForwardBackward(&sb.b.Batch, decoder.TrainOptions{LossScale: 1 / float64(plan.targets), DropoutSeed: dropoutSeed(t.cfg.Seed, step, sb.k), Recompute: t.cfg.Recompute})
		if err != nil {
			return 0, 0, err
		}
		sum[0] += s
	}
	if t.comm.Size() > 1 {
		if err := t.grads.AllReduceBuffer(t.tr.Grads, t.tr.N); err != nil {
			return 0, 0, err
		}
		if err := t.comm.AllReduce64(sum); err != nil {
			return 0, 0, err
		}
	}
	loss = sum[0] / float64(plan.targets)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, 0, fmt.Errorf("loss is %v", loss)
	}
	norm = t.opt.Step(t.tr.Params, t.tr.Grads, t.sched.LR(step-1))
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return loss, norm, fmt.Errorf("gradient norm is %v", norm)
	}
	return loss, norm, nil
}

// warn writes a warning to Warn and to the training log.
func (t *trainer) warn(step int, msg string) error {
	if !t.lead() {
		return nil
	}
	fmt.Fprintf(t.cfg.Warn, "\nwarning: %s\n", msg)
	return t.log.Write(map[string]any{"step": step, "warning": msg})
}

func (t *trainer) logTrain(step int, loss, norm, lr, tps float64) error {
	e := runlog.TrainLogEntry(t.epoch(step), step, loss, norm, lr)
	t.state.Log(e)
	t.trainPts = append(t.trainPts, runlog.Point{Step: step, Loss: loss})
	if !t.lead() {
		return nil
	}
	line := map[string]any{"step": step, "epoch": t.epoch(step), "loss": loss, "learning_rate": lr, "grad_norm": norm, "tokens_per_sec": tps}
	if err := t.log.Write(line); err != nil {
		return err
	}
	for _, s := range []struct {
		tag string
		v   float64
	}{{"train/loss", loss}, {"train/learning_rate", lr}, {"train/grad_norm", norm}, {"train/epoch", t.epoch(step)}, {"train/tokens_per_sec", tps}} {
		if err := t.tb.Scalar(s.tag, int64(step), s.v); err != nil {
			return err
		}
	}
	return t.tb.Flush()
}

// evalStep evaluates, logs, saves best_model/ on improvement and reports
// whether early stopping triggers.
func (t *trainer) evalStep(step int) (float64, bool, error) {
	began := time.Now()
	loss, err := t.evaluate()
	if err != nil {
		return loss, false, err
	}
	rt := time.Since(began).Seconds()
	e := runlog.EvalLogEntry(t.epoch(step), step, loss, rt, len(t.val.Examples), (len(t.val.Examples)+t.cfg.BatchSize-1)/t.cfg.BatchSize)
	t.state.Log(e)
	t.evalPts = append(t.evalPts, runlog.Point{Step: step, Loss: loss})
	if t.lead() {
		if err := t.log.Write(map[string]any{"step": step, "epoch": t.epoch(step), "eval_loss": loss, "eval_runtime": rt}); err != nil {
			return loss, false, err
		}
		if err := t.tb.Scalar("eval/loss", int64(step), loss); err != nil {
			return loss, false, err
		}
	}
	best := filepath.Join(t.cfg.OutputDir, "best_model")
	if t.state.UpdateBest(loss, step, best, false) {
		t.sinceBest = 0
		if t.lead() {
			if err := t.saveAdapterDir(best); err != nil {
				return loss, false, err
			}
		}
	} else {
		t.sinceBest++
	}
	p := t.cfg.EarlyStoppingPatience
	return loss, p > 0 && t.sinceBest >= p, nil
}

// evaluate returns the validation loss: the mean over every counted
// target of the validation set (token-weighted, no dropout), computed a
// layer and a chunk of logits at a time.
func (t *trainer) evaluate() (float64, error) {
	if t.val == nil {
		return math.NaN(), errors.New("train: no validation data to evaluate (validation.jsonl)")
	}
	ld := data.NewLoader(t.val, data.LoaderConfig{BatchSize: t.cfg.BatchSize, Seed: t.cfg.Seed, PadID: t.padID})
	var sum float64
	var n int
	for i := t.comm.Rank(); i < ld.BatchesPerEpoch(); i += t.comm.Size() { // split over the ranks
		mb := ld.Batch(0, i)
		res, err := t.m.Loss(&mb.Batch)
		if err != nil {
			return math.NaN(), fmt.Errorf("train: evaluation: %w", err)
		}
		sum += res.Sum
		n += res.Tokens
	}
	total := []float64{sum, float64(n)}
	if err := t.comm.AllReduce64(total); err != nil {
		return math.NaN(), fmt.Errorf("train: evaluation: %w", err)
	}
	return total[0] / total[1], nil
}

// saveAdapterDir writes the current adapter as a PEFT folder, atomically.
func (t *trainer) saveAdapterDir(dir string) error {
	t.tr.Download(t.b)
	tmp, err := atomicfile.TempDir(filepath.Dir(dir), filepath.Base(dir))
	if err != nil {
		return err
	}
	a := *t.tr.Adapter
	a.Config.InferenceMode = true
	if err := a.Save(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return atomicfile.CommitDir(tmp, dir)
}

// checkpoint writes checkpoint-<step>/ completely under a temporary name,
// renames it into place and applies SaveTotalLimit.
func (t *trainer) checkpoint(step int) error {
	if step <= 0 {
		return nil
	}
	if err := t.checkReplicas(step); err != nil {
		return err
	}
	if !t.lead() {
		return nil
	}
	c := t.cfg
	final := filepath.Join(c.OutputDir, fmt.Sprintf("checkpoint-%d", step))
	tmp, err := atomicfile.TempDir(c.OutputDir, filepath.Base(final))
	if err != nil {
		return err
	}
	fail := func(err error) error {
		os.RemoveAll(tmp)
		return err
	}
	t.tr.Download(t.b)
	a := *t.tr.Adapter
	a.Config.InferenceMode = true
	if err := a.Save(tmp); err != nil {
		return fail(err)
	}
	if err := safetensors.WriteFile(filepath.Join(tmp, "optimizer.safetensors"), t.opt.Tensors(), map[string]string{"format": "pt"}); err != nil {
		return fail(err)
	}
	if err := writeJSON(filepath.Join(tmp, "scheduler.json"), schedulerState{Kind: t.sched.Kind, BaseLR: t.sched.BaseLR, WarmupSteps: t.sched.WarmupSteps, TotalSteps: t.total, LastStep: step}); err != nil {
		return fail(err)
	}
	next := data.Position{Epoch: step / t.perEpoch, Index: (step % t.perEpoch) * t.accumulation()}
	if err := writeJSON(filepath.Join(tmp, "data_state.json"), dataState{Seed: c.Seed, Next: next, PerEpoch: t.perEpoch}); err != nil {
		return fail(err)
	}
	if t.state.Extra == nil {
		t.state.Extra = map[string]any{}
	}
	t.state.Extra["tune_evals_without_improvement"] = t.sinceBest
	if err := t.state.Save(filepath.Join(tmp, "trainer_state.json")); err != nil {
		return fail(err)
	}
	if err := writeJSON(filepath.Join(tmp, argsFile), t.args()); err != nil {
		return fail(err)
	}
	if err := atomicfile.CommitDir(tmp, final); err != nil {
		return fail(err)
	}
	if err := t.state.Save(filepath.Join(c.OutputDir, "trainer_state.json")); err != nil {
		return err
	}
	if len(t.trainPts) > 0 {
		if err := runlog.PlotLoss(filepath.Join(c.OutputDir, "loss.png"), t.trainPts, t.evalPts); err != nil {
			return err
		}
	}
	return t.rotate()
}

// rotate deletes the oldest checkpoints beyond SaveTotalLimit.
func (t *trainer) rotate() error {
	if t.cfg.SaveTotalLimit <= 0 {
		return nil
	}
	entries, err := os.ReadDir(t.cfg.OutputDir)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	var steps []int
	for _, e := range entries {
		if n, ok := checkpointStep(e.Name()); ok && e.IsDir() {
			steps = append(steps, n)
		}
	}
	sort.Ints(steps)
	for len(steps) > t.cfg.SaveTotalLimit {
		if err := os.RemoveAll(filepath.Join(t.cfg.OutputDir, fmt.Sprintf("checkpoint-%d", steps[0]))); err != nil {
			return fmt.Errorf("train: %w", err)
		}
		steps = steps[1:]
	}
	return nil
}

// finish writes the final adapter, the plot, the trainer state and, when
// asked, the merged model.
func (t *trainer) finish() error {
	if !t.lead() {
		return nil
	}
	c := t.cfg
	t.tr.Download(t.b)
	a := *t.tr.Adapter
	a.Config.InferenceMode = true
	if err := a.Save(c.OutputDir); err != nil {
		return err
	}
	if err := t.state.Save(filepath.Join(c.OutputDir, "trainer_state.json")); err != nil {
		return err
	}
	if len(t.trainPts) > 0 {
		if err := runlog.PlotLoss(filepath.Join(c.OutputDir, "loss.png"), t.trainPts, t.evalPts); err != nil {
			return err
		}
	}
	fmt.Fprintf(t.out, "adapter saved in %s\n", c.OutputDir)
	if c.MergeAdapters {
		dir := filepath.Join(c.OutputDir, "merged_model")
		if err := merge.Write(merge.Options{BaseModel: c.BaseModel, Adapter: &a, Output: dir, QLoRA: c.UseQLoRA, BlockSize: c.QuantBlockSize, WriteTokenizer: c.WriteTokenizer}); err != nil {
			return err
		}
		fmt.Fprintf(t.out, "merged model saved in %s\n", dir)
	}
	return nil
}
