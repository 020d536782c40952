package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/decoder/merge"
	"github.com/tune-dev/tune/dist"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/train"
	"github.com/tune-dev/tune/train/runlog"
)

// allModules is the default --target_modules: all seven projections.
var allModules = strings.Join(lora.ModuleNames(), ",")

func trainFlags() []ucli.Flag {
	return []ucli.Flag{
		strFlag("data_path", "folder with train.jsonl (and validation.jsonl, test.jsonl), or one JSONL file", "data/training"),
		strFlag("output_dir", "where checkpoints, the adapter and the logs go", defaultOutputDir),
		strFlag("base_model", "Hugging Face Qwen2 or Llama model folder to fine-tune", "", "BASE_MODEL"),
		strFlag("tokenizer", "tokenizer.json, .json.gz or folder (default: the model folder's, else the built-in Qwen2.5 tokenizer)", "", "TUNE_TOKENIZER"),
		intFlag("lora_r", "LoRA rank", 16, "LORA_R"),
		floatFlag("lora_alpha", "LoRA alpha (scaling alpha/r, or alpha/sqrt(r) with --use_rslora)", 32, "LORA_ALPHA"),
		floatFlag("lora_dropout", "dropout on the LoRA branch's input", 0.05, "LORA_DROPOUT"),
		listStrFlag("target_modules", "comma-separated projections to adapt", allModules),
		boolFlag("use_rslora", "rank-stabilized scaling alpha/sqrt(r)"),
		strFlag("init_adapter", "start from this PEFT adapter folder (the LoRA flags left unset take its values; set ones must agree, except --lora_dropout, which wins)", ""),
		boolFlag("use_qlora", "keep the base projections in 4-bit NF4 with double quantization (QLoRA)"),
		intFlag("batch_size", "sequences per micro-batch", 4),
		intFlag("gradient_accumulation_steps", "micro-batches per optimizer step", 4),
		intFlag("num_epochs", "passes over the training data", 3),
		intFlag("max_steps", "optimizer steps to run (overrides --num_epochs when positive)", -1),
		intFlag("max_length", "tokens per record; longer records are truncated (and counted)", 2048),
		boolFlag("packing", "pack several records into each sequence of --max_length tokens"),
		floatFlag("learning_rate", "peak learning rate", 2e-4),
		strFlag("lr_scheduler_type", "linear, cosine, constant or constant_with_warmup", "linear"),
		intFlag("warmup_steps", "linear warmup steps", 100),
		floatFlag("warmup_ratio", "warmup as a fraction of all steps (used when --warmup_steps is 0)", 0),
		floatFlag("weight_decay", "AdamW decoupled weight decay", 0),
		floatFlag("max_grad_norm", "clip the global gradient norm to this (0: no clipping)", 1),
		intFlag("seed", "seed for the adapter's initialization, shuffling and dropout", 42),
		intFlag("logging_steps", "log every this many optimizer steps", 10),
		intFlag("eval_steps", "evaluate on validation.jsonl every this many steps (0: --logging_steps)", 100),
		intFlag("save_steps", "save a checkpoint every this many steps", 500),
		intFlag("save_total_limit", "keep only the newest this many checkpoints (0: all)", 3),
		intFlag("early_stopping_patience", "stop after this many evaluations without a better eval loss (0: never)", 0),
		boolFlag("gradient_checkpointing", "recompute each layer's activations in the backward pass (less memory, about 30% slower)"),
		boolFlag("merge_adapters", "also write merged_model/: the base model with the adapter folded in"),
		strFlag("resume_from_checkpoint", "continue a run from a checkpoint folder, or \"latest\"", ""),
		boolFlag("overwrite_output_dir", "start afresh in an output folder that holds a run"),
		boolFlag("eval_only", "evaluate the adapter (--init_adapter, or --resume_from_checkpoint) on validation.jsonl and stop"),
		strFlag("test_file", "JSONL of chat records answered with the trained adapter and scored after training (default: test.jsonl in the --data_path folder)", ""),
		boolFlag("skip_test_eval", "no end-of-training report on the test set"),
		intFlag("eval_max_examples", "answer only the first N test records after training (0: all)", 100),
		intFlag("eval_max_new_tokens", "most tokens per test answer after training", 256),
		strFlag("ddp_backend", "under mpirun: how the ranks sum gradients: auto (NCCL on GPUs, MPI on the CPU), nccl or mpi", dist.BackendAuto),
		intFlag("ddp_timeout", "under mpirun: seconds a rank waits for the others in a collective before the run stops", int(dist.DefaultTimeout/time.Second)),
		intFlag("replica_check_steps", "under mpirun: compare the ranks' adapters every this many steps (0: only at the start and at checkpoints)", 100),
	}
}

func (e *env) trainCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:  "train",
		Usage: "fine-tune a Qwen2 or Llama model with LoRA or QLoRA on JSONL records and write a PEFT adapter",
		Flags: trainFlags(),
		Action: func(c *ucli.Context) error {
			cfg, err := e.trainConfig(c)
			if err != nil {
				return err
			}
			comm, err := openComm(c)
			if err != nil {
				return err
			}
			if comm.Size() == 1 {
				return e.train(c, cfg, comm)
			}
			// One rank of a data-parallel run: rank 0 speaks for the run, and
			// a rank that fails stops them all (the others would wait for it).
			errOut := e.stderr
			if comm.Rank() != 0 {
				e.stdout, e.stderr = io.Discard, io.Discard
			}
			if err := e.train(c, cfg, comm); err != nil {
				// Every rank stops at the same step when interrupted: rank 0's
				// message says it all.
				if comm.Rank() == 0 || !errors.Is(err, train.ErrInterrupted) {
					fmt.Fprintf(errOut, "tune: rank %d of %d: %v\n", comm.Rank(), comm.Size(), err)
				}
				comm.Abort(1)
			}
			return comm.Close()
		},
	})
}

// openComm joins the data-parallel run the environment launched this
// process into (mpirun and the like; see dist.LaunchFromEnv), or returns
// dist.Single. A rank that may run on a GPU sees only its own, the one of
// its local rank.
func openComm(c *ucli.Context) (dist.Comm, error) {
	l, err := dist.LaunchFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	if l.Parallel() && c.String("device") != "cpu" {
		dev, err := dist.VisibleDevice(os.Getenv("CUDA_VISIBLE_DEVICES"), l.LocalRank)
		if err != nil {
			return nil, err
		}
		if err := os.Setenv("CUDA_VISIBLE_DEVICES", dev); err != nil {
			return nil, err
		}
	}
	return dist.Open(l, ddpTimeout(c))
}

// ddpTimeout is --ddp_timeout, at least a second (flagBounds).
func ddpTimeout(c *ucli.Context) time.Duration {
	return time.Duration(c.Int("ddp_timeout")) * time.Second
}

// train runs the training of cfg as a rank of comm and prints its
// summary.
func (e *env) train(c *ucli.Context, cfg train.Config, comm dist.Comm) error {
	be, err := e.backend(c)
	if err != nil {
		return err
	}
	red, err := dist.NewReducer(comm, be, c.String("ddp_backend"), ddpTimeout(c))
	if err != nil {
		return err
	}
	defer red.Close()
	cfg.Comm, cfg.Reducer, cfg.ReplicaCheckSteps = comm, red, c.Int("replica_check_steps")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := train.Run(ctx, cfg, be)
	if err != nil {
		return err
	}
	if cfg.EvalOnly {
		return nil
	}
	msg := "no step left to train" // a resumed run that had finished
	if !math.IsNaN(res.FirstLoss) {
		msg = fmt.Sprintf("trained %d steps: loss %.4f -> %.4f, %.0f tokens/s", res.Steps, res.FirstLoss, res.FinalLoss, res.TokensPerSec)
	}
	if !math.IsNaN(res.EvalLoss) {
		msg += fmt.Sprintf(", eval loss %.4f", res.EvalLoss)
	}
	fmt.Fprintln(e.stdout, msg+"; outputs in "+res.OutputDir)
	return nil
}

// trainConfig turns the flags into a train.Config.
func (e *env) trainConfig(c *ucli.Context) (train.Config, error) {
	base := c.String("base_model")
	if base == "" {
		return train.Config{}, errors.New("--base_model (or BASE_MODEL) is required")
	}
	if !fileExists(filepath.Join(base, "config.json")) {
		return train.Config{}, fmt.Errorf("base model folder %s has no config.json", base)
	}
	mods := targetModules(c)
	cfg := train.Config{
		DataPath: c.String("data_path"), OutputDir: c.String("output_dir"), BaseModel: base,
		WriteTokenizer: func(dir string) error { return e.writeTokenizerFiles(c, dir) },
		LoRA: lora.Config{R: c.Int("lora_r"), LoraAlpha: c.Float64("lora_alpha"), LoraDropout: c.Float64("lora_dropout"),
			TargetModules: mods, UseRSLoRA: c.Bool("use_rslora")},
		InitAdapter: c.String("init_adapter"), UseQLoRA: c.Bool("use_qlora"),
		BatchSize: c.Int("batch_size"), GradAccum: c.Int("gradient_accumulation_steps"), NumEpochs: c.Int("num_epochs"),
		MaxSteps: c.Int("max_steps"), MaxLength: c.Int("max_length"), Pack: c.Bool("packing"), Seed: uint64(c.Int("seed")),
		LR: c.Float64("learning_rate"), Scheduler: c.String("lr_scheduler_type"), WarmupSteps: c.Int("warmup_steps"), WarmupRatio: c.Float64("warmup_ratio"),
		AdamW:        train.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: c.Float64("weight_decay"), MaxGradNorm: c.Float64("max_grad_norm")},
		LoggingSteps: c.Int("logging_steps"), EvalSteps: c.Int("eval_steps"), SaveSteps: c.Int("save_steps"),
		SaveTotalLimit: c.Int("save_total_limit"), EarlyStoppingPatience: c.Int("early_stopping_patience"),
		Recompute: c.Bool("gradient_checkpointing"), MergeAdapters: c.Bool("merge_adapters"),
		Resume: c.String("resume_from_checkpoint"), Overwrite: c.Bool("overwrite_output_dir"), EvalOnly: c.Bool("eval_only"),
		TestFile: c.String("test_file"), SkipTestEval: c.Bool("skip_test_eval"),
		TestMaxExamples: c.Int("eval_max_examples"), TestMaxNewTokens: c.Int("eval_max_new_tokens"),
		Out: e.stdout, Warn: e.stderr, Progress: e.stderr, ProgressBar: runlog.IsTerminal(e.stderr),
	}
	if cfg.InitAdapter != "" {
		if err := initAdapterLoRA(c, &cfg.LoRA, cfg.InitAdapter); err != nil {
			return cfg, err
		}
	}
	if cfg.EvalOnly && cfg.InitAdapter == "" && cfg.Resume == "" {
		return cfg, errors.New("--eval_only needs the adapter to evaluate: --init_adapter DIR or --resume_from_checkpoint DIR|latest")
	}
	tok, _, err := e.tokenizerFor(c, base)
	cfg.Tokenizer = tok
	return cfg, err
}

// targetModules is the --target_modules list.
func targetModules(c *ucli.Context) []string {
	var mods []string
	for _, m := range strings.Split(c.String("target_modules"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			mods = append(mods, m)
		}
	}
	return mods
}

// initAdapterLoRA gives the LoRA flags that were not set (on the command
// line, in the environment or in the config file) the values of the
// --init_adapter's adapter_config.json. The set ones stay: train refuses
// an r, lora_alpha, target_modules or use_rslora that differs from the
// adapter's (they fix its shape and scaling), and trains with a set
// --lora_dropout (dropout is a training setting, not part of the adapter).
func initAdapterLoRA(c *ucli.Context, lc *lora.Config, dir string) error {
	ac, err := lora.LoadConfig(dir)
	if err != nil {
		return fmt.Errorf("--init_adapter: %w", err)
	}
	if !c.IsSet("lora_r") {
		lc.R = ac.R
	}
	if !c.IsSet("lora_alpha") {
		lc.LoraAlpha = ac.LoraAlpha
	}
	if !c.IsSet("target_modules") {
		lc.TargetModules, lc.TargetRegex = ac.TargetModules, ac.TargetRegex
	}
	if !c.IsSet("use_rslora") {
		lc.UseRSLoRA = ac.UseRSLoRA
	}
	if !c.IsSet("lora_dropout") {
		if err := lora.CheckTrainingDropout(ac.LoraDropout); err != nil {
			return fmt.Errorf("--init_adapter %s: adapter_config.json: %w; pass --lora_dropout to train with another", dir, err)
		}
		lc.LoraDropout = ac.LoraDropout
	}
	return nil
}

// writeTokenizerFiles puts the tokenizer a run used into a model folder
// (for a merged model whose base folder has no tokenizer files):
// tokenizer.json (inflated when gzipped) and tokenizer_config.json when the
// --tokenizer folder has one.
func (e *env) writeTokenizerFiles(c *ucli.Context, dir string) error {
	path := c.String("tokenizer")
	if path == "" {
		return writeBuiltinTokenizer(e, dir)
	}
	f, err := tokenizer.ReadFiles(path)
	if err != nil {
		return err
	}
	return f.Write(dir)
}

func (e *env) mergeCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:  "merge",
		Usage: "fold a PEFT LoRA adapter into its base model and write a plain Hugging Face model folder",
		Flags: []ucli.Flag{
			strFlag("base_model", "Hugging Face Qwen2 or Llama model folder the adapter was trained on", "", "BASE_MODEL"),
			strFlag("adapter", "PEFT adapter folder (adapter_config.json + adapter_model.safetensors)", "", "TUNE_ADAPTER"),
			strFlag("output", "folder for the merged model", ""),
			boolFlag("use_qlora", "merge into the NF4 round trip of the base weights, as a QLoRA run trained them"),
			strFlag("tokenizer", "tokenizer to write when the base folder has none (default: the built-in Qwen2.5 tokenizer)", "", "TUNE_TOKENIZER"),
		},
		Action: func(c *ucli.Context) error {
			for _, f := range []string{"base_model", "adapter", "output"} {
				if c.String(f) == "" {
					return fmt.Errorf("--%s is required", f)
				}
			}
			err := merge.Write(merge.Options{
				BaseModel: c.String("base_model"), AdapterDir: c.String("adapter"), Output: c.String("output"),
				QLoRA: c.Bool("use_qlora"), WriteTokenizer: func(dir string) error { return e.writeTokenizerFiles(c, dir) },
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "merged %s into %s: %s\n", c.String("adapter"), c.String("base_model"), c.String("output"))
			return nil
		},
	})
}
