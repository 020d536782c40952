package train_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/filetest"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/train"
	"github.com/tune-dev/tune/train/runlog"
)

// tinyBase is the goldens' qwen2-tiny model (vocab 1000), used as a base
// model that needs no tokenizer: the datasets are pre-tokenized.
var tinyBase = filepath.Join("..", "testdata", "golden", "qwen2-tiny", "base_model")

// writeTokenized writes n pre-tokenized records whose answers follow a
// pattern the model can learn (each answer token is the prompt's first
// token plus its offset), so the loss falls.
func writeTokenized(t *testing.T, path string, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var sb strings.Builder
	for i := 0; i < n; i++ {
		p, a := 3+rng.IntN(5), 4+rng.IntN(6)
		ids, labels := make([]int, 0, p+a), make([]int, 0, p+a)
		first := 10 + rng.IntN(400)
		for j := 0; j < p; j++ {
			ids = append(ids, first+j*7)
			labels = append(labels, -100)
		}
		for j := 0; j < a; j++ {
			ids = append(ids, first+500+j)
			labels = append(labels, first+500+j)
		}
		line, err := json.Marshal(map[string]any{"input_ids": ids, "labels": labels})
		require.NoError(t, err)
		sb.Write(line)
		sb.WriteByte('\n')
	}
	require.NoError(t, os.WriteFile(path, []byte(sb.String()), 0o644))
}

func dataDir(t *testing.T) string {
	dir := t.TempDir()
	writeTokenized(t, filepath.Join(dir, "train.jsonl"), 24, 1)
	writeTokenized(t, filepath.Join(dir, "validation.jsonl"), 6, 2)
	return dir
}

func baseConfig(data, out string) train.Config {
	return train.Config{
		DataPath: data, OutputDir: out, BaseModel: tinyBase,
		LoRA:      lora.Config{R: 4, LoraAlpha: 8, LoraDropout: 0.1, TargetModules: lora.ModuleNames()},
		BatchSize: 3, GradAccum: 2, NumEpochs: 2, MaxLength: 64, Seed: 7, LR: 3e-3, Scheduler: "linear", WarmupSteps: 2,
		AdamW:        train.AdamWConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1},
		LoggingSteps: 1, EvalSteps: 4, SaveSteps: 3,
	}
}

// TestTrainOutputs runs a short training and checks every output the
// README promises.
func TestTrainOutputs(t *testing.T) {
	data, out := dataDir(t), filepath.Join(t.TempDir(), "run")
	cfg := baseConfig(data, out)
	cfg.MergeAdapters = true
	cfg.SaveTotalLimit = 2
	var losses []float64
	cfg.OnStep = func(_ int, l float64) { losses = append(losses, l) }
	res, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Equal(t, 8, res.Steps) // 24 examples / 3 = 8 micro-batches = 4 steps per epoch, 2 epochs
	require.Less(t, losses[len(losses)-1], losses[0], "loss falls")

	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "trainer_state.json", "training_args.json",
		"training_log.jsonl", "loss.png", "best_model/adapter_model.safetensors", "merged_model/config.json",
		"merged_model/model.safetensors", "merged_model/generation_config.json", "checkpoint-6/optimizer.safetensors", "checkpoint-8/trainer_state.json"} {
		require.FileExists(t, filepath.Join(out, f))
	}
	require.NoDirExists(t, filepath.Join(out, "checkpoint-3"), "save_total_limit 2 keeps checkpoint-6 and checkpoint-8")
	events, err := filepath.Glob(filepath.Join(out, "runs", "events.out.tfevents.*"))
	require.NoError(t, err)
	require.Len(t, events, 1)

	entries, err := runlog.ReadLog(filepath.Join(out, "training_log.jsonl"))
	require.NoError(t, err)
	var trainLines, evalLines int
	for _, e := range entries {
		if _, ok := e["eval_loss"]; ok {
			evalLines++
			continue
		}
		for _, k := range []string{"step", "epoch", "loss", "learning_rate", "grad_norm"} {
			require.Contains(t, e, k)
		}
		trainLines++
	}
	require.Equal(t, 8, trainLines)
	require.Equal(t, 2, evalLines) // steps 4 and 8

	st, err := runlog.LoadTrainerState(filepath.Join(out, "trainer_state.json"))
	require.NoError(t, err)
	require.Equal(t, 8, st.GlobalStep)
	require.NotNil(t, st.BestMetric)

	// The saved adapter reloads and reproduces the evaluation loss of the
	// run's last step, and the merged model gives the same loss.
	cfgEval := baseConfig(data, out)
	cfgEval.EvalOnly = true
	cfgEval.Resume = filepath.Join(out, "checkpoint-8")
	ev, err := train.Run(context.Background(), cfgEval, cpu.New(0))
	require.NoError(t, err)
	last, _ := runlog.EntryFloat(entries[len(entries)-1], "eval_loss")
	require.Equal(t, last, ev.EvalLoss, "eval loss of the reloaded checkpoint")

	m, err := decoder.Load(filepath.Join(out, "merged_model"), cpu.New(0))
	require.NoError(t, err)
	defer m.Free()
	a, err := lora.Load(out, "final", m.Config.NumHiddenLayers, m.Config.ModuleShape)
	require.NoError(t, err)
	base, err := decoder.Load(tinyBase, cpu.New(0))
	require.NoError(t, err)
	defer base.Free()
	base.SetAdapter(a)
	ids := []int32{11, 18, 25, 511, 512, 513}
	b := &decoder.Batch{IDs: ids, Rows: 1, T: len(ids)}
	l1, err := m.Loss(b)
	require.NoError(t, err)
	l2, err := base.Loss(b)
	require.NoError(t, err)
	require.InDelta(t, l2.Mean, l1.Mean, 1e-5, "merged model against base + adapter")
}

// TestResumeBitExact interrupts a run after step 5 (a checkpoint is saved
// on interruption), resumes it from "latest" and requires every later loss
// to equal the uninterrupted run's bit for bit, with dropout on.
func TestResumeBitExact(t *testing.T) {
	data := dataDir(t)
	full := map[int]float64{}
	cfg := baseConfig(data, filepath.Join(t.TempDir(), "full"))
	cfg.OnStep = func(s int, l float64) { full[s] = l }
	_, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)

	out := filepath.Join(t.TempDir(), "resumed")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg = baseConfig(data, out)
	cfg.OnStep = func(s int, l float64) {
		require.Equal(t, full[s], l, "step %d before the interruption", s)
		if s == 5 {
			cancel()
		}
	}
	_, err = train.Run(ctx, cfg, cpu.New(0))
	require.ErrorIs(t, err, train.ErrInterrupted)
	require.DirExists(t, filepath.Join(out, "checkpoint-5"))

	cfg = baseConfig(data, out)
	cfg.Resume = "latest"
	var resumed []int
	cfg.OnStep = func(s int, l float64) {
		resumed = append(resumed, s)
		require.Equal(t, math.Float64bits(full[s]), math.Float64bits(l), "step %d after resuming: %v, uninterrupted %v", s, l, full[s])
	}
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Equal(t, []int{6, 7, 8}, resumed)
	entries, err := runlog.ReadLog(filepath.Join(out, "training_log.jsonl"))
	require.NoError(t, err)
	steps := 0
	for _, e := range entries {
		if _, ok := e["loss"]; ok {
			steps++
		}
	}
	require.Equal(t, 8, steps, "the log holds each step once after resuming")
}

func TestTrainBadInput(t *testing.T) {
	data := dataDir(t)
	out := filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.MkdirAll(filepath.Join(out, "checkpoint-2"), 0o755))
	_, err := train.Run(context.Background(), baseConfig(data, out), cpu.New(0))
	require.ErrorContains(t, err, "already holds a run")
	ow := baseConfig(data, out)
	ow.Overwrite, ow.BaseModel = true, t.TempDir()
	_, err = train.Run(context.Background(), ow, cpu.New(0))
	require.ErrorContains(t, err, "config.json")
	require.DirExists(t, filepath.Join(out, "checkpoint-2"), "a failed --overwrite_output_dir run removes nothing")

	cfg := baseConfig(data, filepath.Join(t.TempDir(), "x"))
	cfg.BaseModel = t.TempDir()
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, "config.json")
	cfgData, err := os.ReadFile(filepath.Join(tinyBase, "config.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(cfg.BaseModel, "config.json"), cfgData, 0o644))
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, "safetensors", "a base model folder without weights")
	require.NoDirExists(t, cfg.OutputDir, "nothing is written before the checks pass")

	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, "train.jsonl"), nil, 0o644))
	_, err = train.Run(context.Background(), baseConfig(empty, filepath.Join(t.TempDir(), "y")), cpu.New(0))
	require.ErrorContains(t, err, "no records")

	big := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(big, "train.jsonl"), []byte("{\"input_ids\":[1,2],\"labels\":[1,2]}\n{\"input_ids\":[5,1000],\"labels\":[5,1000]}\n"), 0o644))
	_, err = train.Run(context.Background(), baseConfig(big, filepath.Join(t.TempDir(), "v")), cpu.New(0))
	require.ErrorContains(t, err, "train.jsonl:2: token id 1000 is outside the model's vocabulary")

	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "train.jsonl"), []byte("{\"input_ids\":[1,2],\"labels\":[1,2]}\n{oops\n"), 0o644))
	_, err = train.Run(context.Background(), baseConfig(bad, filepath.Join(t.TempDir(), "z")), cpu.New(0))
	require.ErrorContains(t, err, "train.jsonl:2")
}

// TestTrainDivergence makes the loss blow up and checks training stops
// with a message and keeps the last good checkpoint.
func TestTrainDivergence(t *testing.T) {
	data := dataDir(t)
	out := filepath.Join(t.TempDir(), "run")
	cfg := baseConfig(data, out)
	cfg.SaveSteps = 1
	cfg.AdamW.MaxGradNorm = 0
	cfg.LR = 1e30
	cfg.WarmupSteps = 0
	_, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.Error(t, err)
	require.Contains(t, err.Error(), "last good checkpoint")
	ck, err2 := train.LatestCheckpoint(out)
	require.NoError(t, err2, "a checkpoint of the last good step exists")
	require.FileExists(t, filepath.Join(ck, "adapter_model.safetensors"))
}

// TestQLoRATrainAndMerge trains with NF4 base weights (and packed rows) and checks the
// merged model (dequantized weights + s·B·A) scores like the QLoRA model
// with the adapter.
func TestQLoRATrainAndMerge(t *testing.T) {
	data, out := dataDir(t), filepath.Join(t.TempDir(), "run")
	cfg := baseConfig(data, out)
	cfg.UseQLoRA, cfg.MergeAdapters, cfg.MaxSteps, cfg.Pack = true, true, 3, true
	res, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Equal(t, 3, res.Steps)

	qm, err := decoder.LoadWith(tinyBase, cpu.New(0), decoder.LoadOptions{QLoRA: true})
	require.NoError(t, err)
	defer qm.Free()
	a, err := lora.Load(out, "final", qm.Config.NumHiddenLayers, qm.Config.ModuleShape)
	require.NoError(t, err)
	qm.SetAdapter(a)
	merged, err := decoder.Load(filepath.Join(out, "merged_model"), cpu.New(0))
	require.NoError(t, err)
	defer merged.Free()
	ids := []int32{11, 18, 25, 511, 512, 513, 7}
	b := &decoder.Batch{IDs: ids, Rows: 1, T: len(ids)}
	l1, err := qm.Loss(b)
	require.NoError(t, err)
	l2, err := merged.Loss(b)
	require.NoError(t, err)
	require.InDelta(t, l1.Mean, l2.Mean, 1e-5)
}

// TestEarlyStoppingAndInitAdapter starts from an existing adapter (a
// config asking for another rank or alpha is refused; the run's dropout
// replaces the adapter's) with a learning rate too small to move any
// float32 weight, so the eval loss never improves and patience 2 stops the
// run at the third evaluation.
func TestEarlyStoppingAndInitAdapter(t *testing.T) {
	data := dataDir(t)
	first := filepath.Join(t.TempDir(), "first")
	cfg := baseConfig(data, first)
	cfg.MaxSteps = 2
	_, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)

	out := filepath.Join(t.TempDir(), "run")
	cfg = baseConfig(data, out)
	cfg.InitAdapter = first
	cfg.LoRA.R, cfg.LoRA.LoraAlpha = 16, 32
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, "--lora_r 16, the adapter's 4, --lora_alpha 32, the adapter's 8")
	require.NoDirExists(t, out)
	cfg.LoRA.R, cfg.LoRA.LoraAlpha, cfg.LoRA.LoraDropout = 4, 8, 0.25
	cfg.LR, cfg.WarmupSteps, cfg.EvalSteps, cfg.EarlyStoppingPatience = 1e-30, 0, 1, 2
	res, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.True(t, res.StoppedEarly)
	require.Equal(t, 3, res.Steps, "evaluations at steps 1, 2, 3: the best stays at step 1")
	a, err := lora.LoadConfig(out)
	require.NoError(t, err)
	require.Equal(t, 4, a.R)
	require.Equal(t, 0.25, a.LoraDropout, "the run's dropout replaces the initial adapter's")
	st, err := runlog.LoadTrainerState(filepath.Join(out, "trainer_state.json"))
	require.NoError(t, err)
	require.Equal(t, 3, st.GlobalStep)
	require.FileExists(t, filepath.Join(out, "checkpoint-3", "adapter_model.safetensors"))
}

// TestCollapseWarning trains with a learning rate that saturates the
// model (loss pinned at ln(vocab), zero gradients): the run warns once, on
// Warn and in the training log. A sound run gives no warning.
func TestCollapseWarning(t *testing.T) {
	data, out := dataDir(t), filepath.Join(t.TempDir(), "run")
	cfg := baseConfig(data, out)
	cfg.LR, cfg.WarmupSteps, cfg.MaxSteps, cfg.AdamW.WeightDecay = 1e6, 0, 6, 0
	var warn, msgs strings.Builder
	cfg.Warn, cfg.Out = &warn, &msgs
	_, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(warn.String(), "warning: "), warn.String())
	require.Contains(t, warn.String(), "training has collapsed at step 3: the loss is 6.9078 = ln(vocab)")
	require.Contains(t, warn.String(), "the learning rate (1e+06) is probably far too high")
	require.NotContains(t, msgs.String(), "warning")
	entries, err := runlog.ReadLog(filepath.Join(out, "training_log.jsonl"))
	require.NoError(t, err)
	var warnings []string
	for _, e := range entries {
		if w, ok := e["warning"].(string); ok {
			warnings = append(warnings, w)
			step, _ := runlog.EntryInt(e, "step")
			require.Equal(t, 3, step)
		}
	}
	require.Len(t, warnings, 1)

	warn.Reset()
	cfg = baseConfig(data, filepath.Join(t.TempDir(), "sound"))
	cfg.Warn = &warn
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Empty(t, warn.String())
}

// TestTrainSettingsRefused: a dropout of 1, early stopping without
// validation data and a data file that is not UTF-8 are refused before
// anything is written; an initial adapter whose config says dropout 1 is
// fine when the run sets its own.
func TestTrainSettingsRefused(t *testing.T) {
	data := dataDir(t)
	cfg := baseConfig(data, filepath.Join(t.TempDir(), "run"))
	cfg.LoRA.LoraDropout = 1
	_, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, "lora_dropout 1 is not in [0, 1)")
	require.NoDirExists(t, cfg.OutputDir)

	cfg = baseConfig(filepath.Join(data, "train.jsonl"), filepath.Join(t.TempDir(), "run"))
	cfg.EarlyStoppingPatience = 2
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, "early stopping (patience 2) needs validation data, and "+cfg.DataPath+" has no validation.jsonl")
	require.NoDirExists(t, cfg.OutputDir)

	latin1 := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(latin1, "train.jsonl"), []byte("{\"input_ids\":[1,2]}\n{\"input\": \"caf\xe9\", \"output\": \"y\"}\n"), 0o644))
	cfg = baseConfig(latin1, filepath.Join(t.TempDir(), "run"))
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, filepath.Join(latin1, "train.jsonl")+":2: byte 15 (0xe9) is not valid UTF-8")
	require.NoDirExists(t, cfg.OutputDir)

	// An adapter whose config says lora_dropout 1.0 (PEFT allows it) is a
	// fine starting point when the run sets its own dropout.
	first := filepath.Join(t.TempDir(), "first")
	cfg = baseConfig(data, first)
	cfg.MaxSteps = 1
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	ac, err := os.ReadFile(filepath.Join(first, "adapter_config.json"))
	require.NoError(t, err)
	ac = []byte(strings.Replace(string(ac), `"lora_dropout": 0.1`, `"lora_dropout": 1.0`, 1))
	require.NoError(t, os.WriteFile(filepath.Join(first, "adapter_config.json"), ac, 0o644))
	cfg = baseConfig(data, filepath.Join(t.TempDir(), "run"))
	cfg.InitAdapter, cfg.MaxSteps = first, 1
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
}

// TestPadIDFromModel trains and evaluates a model whose vocabulary (1000)
// is smaller than the tokenizer's, on records of different lengths:
// padding takes the model's id, not the tokenizer's <|endoftext|>
// (151643), which would index outside the embedding.
func TestPadIDFromModel(t *testing.T) {
	tok, err := tokenizer.Load(filepath.Join("..", "testdata", "tokenizer", "tokenizer.json.gz"))
	require.NoError(t, err)
	pad, ok := tok.PadID()
	require.True(t, ok)
	require.Greater(t, pad, 1000)
	data := dataDir(t)
	cfg := baseConfig(data, filepath.Join(t.TempDir(), "run"))
	cfg.Tokenizer, cfg.MaxSteps, cfg.EvalSteps = tok, 2, 1
	res, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.False(t, math.IsNaN(res.EvalLoss))
}

// TestTrainChecksMergeTargetFirst: train --merge_adapters refuses, before
// training, a merged_model/ that Merge would refuse at the end.
func TestTrainChecksMergeTargetFirst(t *testing.T) {
	data := dataDir(t)
	base := filetest.CopyDir(t, tinyBase)
	cfg := baseConfig(data, filepath.Join(base, "run"))
	cfg.BaseModel, cfg.MergeAdapters = base, true
	before := filetest.Snapshot(t, base)
	for _, overwrite := range []bool{false, true} {
		cfg.Overwrite = overwrite
		_, err := train.Run(context.Background(), cfg, cpu.New(0))
		require.ErrorContains(t, err, "is inside the base model folder")
		require.Equal(t, before, filetest.Snapshot(t, base), "nothing written")
	}

	// A resumed run's merged_model/ that an older tune wrote (no marker)
	// is refused at the start too.
	out := filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.MkdirAll(filepath.Join(out, "merged_model"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(out, "merged_model", "model.safetensors"), []byte("old"), 0o644))
	cfg = baseConfig(data, out)
	cfg.MergeAdapters, cfg.Resume = true, filepath.Join(out, "checkpoint-2")
	_, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, "is not an earlier merge output")
}
