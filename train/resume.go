package train

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/train/runlog"
)

// argsFile records a run's settings (Hugging Face pickles a
// training_args.bin; this is the JSON equivalent), at the root of the
// output folder and in every checkpoint.
const argsFile = "training_args.json"

// runFiles are the names a run leaves at the root of its output folder.
var runFiles = []string{"adapter_config.json", "adapter_model.safetensors", lora.SystemPromptFile, "trainer_state.json", argsFile,
	runlog.LogFileName, "loss.png", "runs", "best_model", "merged_model", reportFile, predictionsFile}

// logFiles are the run files written before the first checkpoint. An
// output folder whose run files are all among them holds the logs of a
// run killed before it saved anything, which a new run may replace.
var logFiles = []string{argsFile, runlog.LogFileName, "runs"}

// isRunName reports whether name is one a run writes at the root of its
// output folder: a run file or a checkpoint-N folder.
func isRunName(name string) bool {
	_, ck := checkpointStep(name)
	return ck || slices.Contains(runFiles, name)
}

// outputPlan is what a run does with its output folder.
type outputPlan struct {
	resumeDir string   // the checkpoint to resume from ("" for a fresh run)
	stale     []string // an earlier run's files, removed once every check has passed
	why       string   // what the stale files are, for the message
}

// planOutput checks the output folder against Resume, Overwrite and
// EvalOnly. A fresh run refuses a folder that holds a run unless
// Overwrite is set or the folder holds only the logs of a run that saved
// no checkpoint; "latest" finds no checkpoint in such a folder (or in an
// empty or absent one) and starts from scratch, saying so. Files other
// than a run's are never touched.
func (c *Config) planOutput() (outputPlan, error) {
	var found []string
	if entries, err := os.ReadDir(c.OutputDir); err == nil {
		for _, e := range entries {
			if isRunName(e.Name()) {
				found = append(found, e.Name())
			}
		}
	}
	logsOnly := len(found) > 0
	for _, f := range found {
		logsOnly = logsOnly && slices.Contains(logFiles, f)
	}
	const deadRun = "the logs of a run that saved no checkpoint"
	var p outputPlan
	switch {
	case c.Resume == "latest":
		dir, err := LatestCheckpoint(c.OutputDir)
		switch {
		case err == nil:
			p.resumeDir = dir
		case c.EvalOnly || len(found) > 0 && !logsOnly:
			return p, err
		default:
			fmt.Fprintf(c.Out, "no checkpoint in %s to resume from: starting from scratch\n", c.OutputDir)
			p.stale, p.why = found, deadRun
		}
	case c.Resume != "":
		p.resumeDir = c.Resume
	case c.EvalOnly || len(found) == 0:
	case logsOnly:
		p.stale, p.why = found, deadRun
	case c.Overwrite:
		p.stale, p.why = found, "the earlier run (--overwrite_output_dir)"
	default:
		return p, fmt.Errorf("train: output folder %s already holds a run (%s); resume it with --resume_from_checkpoint latest or pass --overwrite_output_dir", c.OutputDir, strings.Join(found, ", "))
	}
	return p, nil
}

// args returns the run's settings as training_args.json records them.
func (t *trainer) args() map[string]any {
	c := t.cfg
	return map[string]any{
		"data_path": c.DataPath, "output_dir": c.OutputDir, "base_model": c.BaseModel,
		"lora_r": c.LoRA.R, "lora_alpha": c.LoRA.LoraAlpha, "lora_dropout": c.LoRA.LoraDropout,
		"target_modules": targetsArg(c.LoRA), "use_rslora": c.LoRA.UseRSLoRA,
		"use_qlora": c.UseQLoRA, "batch_size": c.BatchSize, "gradient_accumulation_steps": c.GradAccum,
		"num_epochs": c.NumEpochs, "max_steps": c.MaxSteps, "total_steps": t.total, "max_length": c.MaxLength,
		"packing": c.Pack, "seed": c.Seed, "learning_rate": c.LR, "lr_scheduler_type": c.Scheduler,
		"warmup_steps": t.sched.WarmupSteps, "weight_decay": c.AdamW.WeightDecay, "max_grad_norm": c.AdamW.MaxGradNorm,
		"adam_beta1": c.AdamW.Beta1, "adam_beta2": c.AdamW.Beta2, "adam_epsilon": c.AdamW.Eps,
		"logging_steps": c.LoggingSteps, "eval_steps": t.evalSteps(), "save_steps": c.SaveSteps,
		"save_total_limit": c.SaveTotalLimit, "early_stopping_patience": c.EarlyStoppingPatience,
		"gradient_checkpointing": c.Recompute, "init_adapter": c.InitAdapter, "backend": t.b.Name(),
		"world_size": t.comm.Size(), "micro_batches_per_step": t.accumulation(), "replica_check_steps": c.ReplicaCheckSteps,
	}
}

// resumeFixed are the recorded settings a resumed run must keep: they
// decide what every remaining step computes. total_steps counts only for
// schedules that decay over it (linear, cosine).
var resumeFixed = []string{"lora_r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora", "use_qlora",
	"batch_size", "micro_batches_per_step", "max_length", "packing", "seed", "learning_rate", "lr_scheduler_type",
	"warmup_steps", "weight_decay", "max_grad_norm", "adam_beta1", "adam_beta2", "adam_epsilon", "total_steps"}

// resumeFree are the recorded settings a resumed run may change, each
// with the reason. A change is said on Out.
var resumeFree = map[string]string{
	"data_path":               "a folder may move",
	"output_dir":              "a folder may move",
	"base_model":              "a folder may move",
	"init_adapter":            "a resumed run continues from its checkpoint's adapter",
	"num_epochs":              "what counts is total_steps: the run may be extended under a constant schedule",
	"max_steps":               "what counts is total_steps: the run may be extended under a constant schedule",
	"logging_steps":           "when to log does not change a step",
	"eval_steps":              "when to evaluate does not change a step",
	"save_steps":              "when to save does not change a step",
	"save_total_limit":        "how many checkpoints to keep does not change a step",
	"early_stopping_patience": "when to stop does not change a step",
	"gradient_checkpointing":  "recomputing activations does not change the arithmetic",
	"backend":                 "another device computes the same steps, to rounding",
	"gradient_accumulation_steps": "what counts is micro_batches_per_step (the accumulation times the ranks): " +
		"a run may resume on other ranks with the accumulation that keeps it",
	"world_size":          "what counts is micro_batches_per_step, as for gradient_accumulation_steps",
	"replica_check_steps": "comparing the ranks' adapters does not change a step",
}

// notFlags are training_args.json keys that are not tune train flags.
var notFlags = []string{"total_steps", "adam_beta1", "adam_beta2", "adam_epsilon", "backend", "world_size", "micro_batches_per_step"}

// checkResumeArgs compares this run's settings with those recorded for
// the checkpoint dir (its own training_args.json, else the output
// folder's): a difference in a resumeFixed setting is an error naming
// each flag with both values; the resumeFree ones that changed are said.
// A checkpoint without a record (written by an earlier tune) is checked
// by its adapter's config alone.
func (t *trainer) checkResumeArgs(dir string) error {
	path := filepath.Join(dir, argsFile)
	if _, err := os.Stat(path); err != nil {
		path = filepath.Join(t.cfg.OutputDir, argsFile)
		if _, err := os.Stat(path); err != nil {
			return t.cfg.checkAdapterConfig(dir, true)
		}
	}
	var rec map[string]any
	if err := readJSON(path, &rec); err != nil {
		return err
	}
	if _, ok := rec["micro_batches_per_step"]; !ok { // recorded by one process, before data-parallel runs
		rec["micro_batches_per_step"] = rec["gradient_accumulation_steps"]
	}
	now, err := jsonRoundTrip(t.args())
	if err != nil {
		return err
	}
	var fixed, free []string
	for _, k := range resumeFixed {
		r, ok := rec[k]
		if !ok || reflect.DeepEqual(r, now[k]) {
			continue
		}
		if k == "total_steps" {
			if !t.sched.DependsOnTotal() {
				free = append(free, fmt.Sprintf("total_steps %s (was %s)", jsonText(now[k]), jsonText(r)))
				continue
			}
			fixed = append(fixed, fmt.Sprintf("total_steps %s from --max_steps/--num_epochs (recorded %s: the %s schedule decays over the total steps, so every remaining learning rate would change)",
				jsonText(now[k]), jsonText(r), t.sched.Kind))
			continue
		}
		if k == "micro_batches_per_step" {
			fixed = append(fixed, t.accumulationChange(r))
			continue
		}
		fixed = append(fixed, fmt.Sprintf("%s %s (recorded %s)", argName(k), jsonText(now[k]), jsonText(r)))
	}
	if len(fixed) > 0 {
		return fmt.Errorf("train: resuming from %s with settings that differ from the run's (%s): %s; resume with the recorded settings, or start a new run in another --output_dir",
			dir, path, strings.Join(fixed, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(resumeFree)) {
		if r, ok := rec[k]; ok && !reflect.DeepEqual(r, now[k]) {
			free = append(free, fmt.Sprintf("%s %s (was %s)", argName(k), jsonText(now[k]), jsonText(r)))
		}
	}
	if len(free) > 0 {
		fmt.Fprintf(t.out, "resuming with changed settings: %s\n", strings.Join(free, ", "))
	}
	return nil
}

// argName is how a message names a training_args.json key: as its flag
// when it is one.
func argName(key string) string {
	if slices.Contains(notFlags, key) {
		return key
	}
	return "--" + key
}

// jsonRoundTrip gives m the types encoding/json decodes a file to
// (float64 numbers, []any lists), so that it compares with a read file.
func jsonRoundTrip(m map[string]any) (map[string]any, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return out, nil
}

// jsonText is v as JSON, for messages.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// targetsArg is an adapter's target_modules as training_args.json
// records it: the sorted module names, or the regular expression.
func targetsArg(c lora.Config) any {
	if c.TargetRegex != "" {
		return c.TargetRegex
	}
	return slices.Sorted(slices.Values(c.TargetModules))
}

// targetsText is an adapter's target_modules for messages.
func targetsText(c lora.Config) string {
	if c.TargetRegex != "" {
		return fmt.Sprintf("%q", c.TargetRegex)
	}
	return strings.Join(slices.Sorted(slices.Values(c.TargetModules)), ",")
}

// checkAdapterConfig compares LoRA with the config of the adapter in dir
// that the run starts from: a checkpoint's when resuming (dropout
// included), else InitAdapter's (see Config.InitAdapter).
func (c *Config) checkAdapterConfig(dir string, resuming bool) error {
	if dir == "" {
		return nil
	}
	ac, err := lora.LoadConfig(dir)
	if err != nil {
		return err
	}
	diff := loraDiff(*ac, c.LoRA, resuming)
	switch {
	case len(diff) == 0:
		return nil
	case resuming:
		return fmt.Errorf("train: checkpoint %s holds an adapter with other LoRA settings: %s; resume with the checkpoint's settings", dir, strings.Join(diff, ", "))
	}
	return fmt.Errorf("train: --init_adapter %s: %s; an adapter's rank, scaling and target modules are fixed: drop those flags or make them agree", dir, strings.Join(diff, ", "))
}

// loraDiff lists where the run's LoRA settings want differ from those of
// the adapter it starts from (have): r, lora_alpha, target_modules,
// use_rslora, and lora_dropout when withDropout (a resumed run keeps its
// dropout; an initial adapter's gives way to the run's).
func loraDiff(have, want lora.Config, withDropout bool) []string {
	var d []string
	add := func(flag string, w, h any) {
		d = append(d, fmt.Sprintf("--%s %v, the adapter's %v", flag, w, h))
	}
	if want.R != have.R {
		add("lora_r", want.R, have.R)
	}
	if want.LoraAlpha != have.LoraAlpha {
		add("lora_alpha", want.LoraAlpha, have.LoraAlpha)
	}
	if targetsText(want) != targetsText(have) {
		add("target_modules", targetsText(want), targetsText(have))
	}
	if want.UseRSLoRA != have.UseRSLoRA {
		add("use_rslora", want.UseRSLoRA, have.UseRSLoRA)
	}
	if withDropout && want.LoraDropout != have.LoraDropout {
		add("lora_dropout", want.LoraDropout, have.LoraDropout)
	}
	return d
}

// accumulationChange says how this run's micro-batches per optimizer step
// differ from the recorded rec, and how to keep them on this many ranks.
func (t *trainer) accumulationChange(rec any) string {
	size := t.comm.Size()
	f, _ := runlog.Number(rec)
	want := int(f)
	use := fmt.Sprintf("--gradient_accumulation_steps %d on %d ranks", want/size, size)
	if want%size != 0 {
		use = fmt.Sprintf("a number of ranks that divides %d", want)
	}
	return fmt.Sprintf("%d micro-batches per optimizer step (--gradient_accumulation_steps %d on %d ranks; recorded %d: every later step would take other data; use %s)",
		t.accumulation(), t.cfg.GradAccum, size, want, use)
}
