package train_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/internal/filetest"
	"github.com/tune-dev/tune/train"
	"github.com/tune-dev/tune/train/runlog"
)

// TestResumeKeepsHyperparameters resumes a run with a changed learning
// rate, seed and dropout, and with a longer linear schedule: each is
// refused, naming the flag and both values, and no file changes. A
// changed logging or save interval is allowed and said.
func TestResumeKeepsHyperparameters(t *testing.T) {
	data, out := dataDir(t), filepath.Join(t.TempDir(), "run")
	cfg := baseConfig(data, out)
	cfg.MaxSteps = 4
	_, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	before := filetest.Snapshot(t, out)

	cfg = baseConfig(data, out)
	cfg.MaxSteps, cfg.Resume = 4, "latest"
	cfg.LR, cfg.Seed, cfg.LoRA.LoraDropout = 5e-3, 8, 0.2
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, "checkpoint-4/training_args.json")
	require.ErrorContains(t, err, "--lora_dropout 0.2 (recorded 0.1), --seed 8 (recorded 7), --learning_rate 0.005 (recorded 0.003)")

	cfg = baseConfig(data, out)
	cfg.MaxSteps, cfg.Resume = 6, "latest"
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, "total_steps 6 from --max_steps/--num_epochs (recorded 4: the linear schedule decays over the total steps")
	require.Equal(t, before, filetest.Snapshot(t, out), "a refused resume changes no file")

	var msgs bytes.Buffer
	cfg = baseConfig(data, out)
	cfg.MaxSteps, cfg.Resume, cfg.LoggingSteps, cfg.SaveSteps, cfg.Out = 4, "latest", 2, 5, &msgs
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Contains(t, msgs.String(), "resuming with changed settings: --logging_steps 2 (was 1), --save_steps 5 (was 3)")
}

// TestResumeExtendsConstantSchedule extends a finished run whose learning
// rate does not depend on the total: the extra steps equal those of an
// uninterrupted longer run bit for bit.
func TestResumeExtendsConstantSchedule(t *testing.T) {
	data := dataDir(t)
	full := map[int]float64{}
	cfg := baseConfig(data, filepath.Join(t.TempDir(), "full"))
	cfg.Scheduler, cfg.MaxSteps = train.ScheduleConstant, 5
	cfg.OnStep = func(s int, l float64) { full[s] = l }
	_, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)

	out := filepath.Join(t.TempDir(), "run")
	cfg = baseConfig(data, out)
	cfg.Scheduler, cfg.MaxSteps = train.ScheduleConstant, 3
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	var msgs bytes.Buffer
	cfg.MaxSteps, cfg.Resume, cfg.Out = 5, "latest", &msgs
	var steps []int
	cfg.OnStep = func(s int, l float64) {
		steps = append(steps, s)
		require.Equal(t, math.Float64bits(full[s]), math.Float64bits(l), "step %d", s)
	}
	res, err := train.Run(context.Background(), cfg, cpu.New(0))
	require.NoError(t, err)
	require.Equal(t, []int{4, 5}, steps)
	require.Equal(t, 5, res.Steps)
	require.Contains(t, msgs.String(), "total_steps 5 (was 3), --max_steps 5 (was 3)")
}

// TestKilledBeforeFirstCheckpoint: a run killed before its first save
// leaves logs only; a plain rerun and "latest" both start afresh, replace
// those logs and the half-written temporaries, and leave the user's files
// alone. A folder holding a result (best_model) is still refused.
func TestKilledBeforeFirstCheckpoint(t *testing.T) {
	data := dataDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "run")
	_, err := train.Run(ctx, baseConfig(data, out), cpu.New(0))
	require.ErrorIs(t, err, train.ErrInterrupted)
	require.ErrorContains(t, err, "before the first step: nothing to save")
	require.NoDirExists(t, out, "nothing is written")

	killed := func() string {
		dir := filepath.Join(t.TempDir(), "run")
		for _, d := range []string{"runs", ".checkpoint-2.tmp-123"} {
			require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
		}
		for name, body := range map[string]string{
			"training_log.jsonl": `{"loss": 2.0, "step": 1}` + "\n", "training_args.json": "{}", "runs/events.out.tfevents.1.x": "x",
			".checkpoint-2.tmp-123/adapter_model.safetensors": "half", ".trainer_state.json.tmp-99": "half",
			"notes.txt": "mine", ".notes.txt.tmp-5": "mine too",
		} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
		}
		return dir
	}
	for _, resume := range []string{"", "latest"} {
		dir := killed()
		var msgs bytes.Buffer
		cfg := baseConfig(data, dir)
		cfg.MaxSteps, cfg.Resume, cfg.Out = 2, resume, &msgs
		res, err := train.Run(context.Background(), cfg, cpu.New(0))
		require.NoError(t, err, "resume %q", resume)
		require.Equal(t, 2, res.Steps)
		if resume == "latest" {
			require.Contains(t, msgs.String(), "no checkpoint in "+dir+" to resume from: starting from scratch")
		}
		require.Contains(t, msgs.String(), "replacing the logs of a run that saved no checkpoint in "+dir+": runs, training_args.json, training_log.jsonl")
		require.Contains(t, msgs.String(), "left half-written in "+dir+": .checkpoint-2.tmp-123, .trainer_state.json.tmp-99")
		for name, body := range map[string]string{"notes.txt": "mine", ".notes.txt.tmp-5": "mine too"} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			require.Equal(t, body, string(got))
		}
		events, err := filepath.Glob(filepath.Join(dir, "runs", "events.out.tfevents.*"))
		require.NoError(t, err)
		require.Len(t, events, 1, "the dead run's events are gone")
		entries, err := runlog.ReadLog(filepath.Join(dir, "training_log.jsonl"))
		require.NoError(t, err)
		require.Len(t, entries, 3, "the log holds this run's two steps and final evaluation only")
		l, _ := runlog.EntryFloat(entries[0], "loss")
		require.NotEqual(t, 2.0, l)
	}

	dir := killed()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "best_model"), 0o755))
	before := filetest.Snapshot(t, dir)
	cfg := baseConfig(data, dir)
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, "already holds a run (best_model, runs, training_args.json, training_log.jsonl)")
	cfg.Resume = "latest"
	_, err = train.Run(context.Background(), cfg, cpu.New(0))
	require.ErrorContains(t, err, "holds no checkpoint-N folder to resume from")
	require.Equal(t, before, filetest.Snapshot(t, dir))
}
