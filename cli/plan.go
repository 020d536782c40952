package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dustin/go-humanize"
	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/cuda"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/train"
)

// planSearchLimit is the longest sequence `tune plan` searches for one that
// fits (4M tokens), past any Qwen2.5 max_position_embeddings, so the
// answer shows what memory allows as well as what the model allows.
const planSearchLimit = 1 << 22

// planTrainFlags are the flags of tune train that decide a run's memory;
// tune plan takes them as train defines them.
var planTrainFlags = []string{"base_model", "use_qlora", "lora_r", "lora_dropout", "target_modules", "max_length", "batch_size", "gradient_checkpointing"}

func (e *env) planCommand() *ucli.Command {
	var flags []ucli.Flag
	for _, f := range trainFlags() {
		if slices.Contains(planTrainFlags, f.Names()[0]) {
			flags = append(flags, f)
		}
	}
	flags = append(flags,
		strFlag("memory", "memory budget to fit, e.g. 80GiB or 24GB (default: the GPU's total memory with --device cuda)", ""),
		boolFlag("json", "print one JSON object instead of the table"),
	)
	return withConfig(&ucli.Command{
		Name:   "plan",
		Usage:  "print the memory a training run needs (from the model's config.json alone) and the longest sequence that fits a budget",
		Flags:  flags,
		Action: e.plan,
	})
}

// planReport is what tune plan prints.
type planReport struct {
	Model           string              `json:"model"`
	Device          string              `json:"device"`
	QLoRA           bool                `json:"use_qlora"`
	Rank            int                 `json:"lora_r"`
	Modules         []string            `json:"target_modules"`
	Batch           int                 `json:"batch_size"`
	MaxLength       int                 `json:"max_length"`
	Recompute       bool                `json:"gradient_checkpointing"`
	Weights         string              `json:"weight_dtype"`
	Activations     string              `json:"activation_dtype"`
	TrainableParams int                 `json:"trainable_params"`
	LogitRows       int                 `json:"logit_rows"`
	PeakBytes       int64               `json:"peak_bytes"`
	Breakdown       decoder.MemoryTerms `json:"breakdown"`
	Detail          planDetail          `json:"detail"`
	Budget          *planBudgetFit      `json:"budget,omitempty"`
}

// planDetail splits the frozen weights and the workspace.
type planDetail struct {
	NF4     int64 `json:"nf4_weights"`
	Float   int64 `json:"float_weights"`
	Backend int64 `json:"backend_workspace"`
	Dequant int64 `json:"dequant_scratch"`
}

// planBudgetFit is the plan against a memory budget.
type planBudgetFit struct {
	Bytes  int64  `json:"bytes"`
	Source string `json:"source"`
	Fits   bool   `json:"fits"`
	// LongestMaxLength is the longest --max_length whose plan fits, at
	// the same settings otherwise (0: none), searched up to 4M tokens;
	// MaxPositionEmbeddings is the model's own limit.
	LongestMaxLength      int `json:"longest_max_length"`
	MaxPositionEmbeddings int `json:"max_position_embeddings"`
	// WhatFits says what would fit when the run does not.
	WhatFits string `json:"what_fits,omitempty"`
}

func (e *env) plan(c *ucli.Context) error {
	dir := c.String("base_model")
	if dir == "" {
		return errors.New("--base_model (or BASE_MODEL) is required: the model folder whose config.json to plan for")
	}
	mc, err := decoder.LoadConfig(dir)
	if err != nil {
		return err
	}
	storage, gpuTotal, err := planStorage(c)
	if err != nil {
		return err
	}
	cfg := train.Config{LoRA: lora.Config{R: c.Int("lora_r"), LoraDropout: c.Float64("lora_dropout"), TargetModules: targetModules(c)}, UseQLoRA: c.Bool("use_qlora"), BatchSize: c.Int("batch_size"),
		MaxLength: c.Int("max_length"), Recompute: c.Bool("gradient_checkpointing")}
	o := cfg.MemoryOptions(storage)
	p, err := decoder.PlanMemory(mc, o)
	if err != nil {
		return err
	}
	r := planReport{
		Model: dir, Device: storage.Name, QLoRA: cfg.UseQLoRA, Rank: cfg.LoRA.R, Modules: cfg.LoRA.TargetModules,
		Batch: cfg.BatchSize, MaxLength: cfg.MaxLength, Recompute: cfg.Recompute, Weights: storage.Weights.String(), Activations: storage.Activations.String(),
		TrainableParams: p.TrainableParams, LogitRows: p.LogitRows, PeakBytes: p.Peak,
		Breakdown: p.MemoryTerms,
		Detail:    planDetail{NF4: p.NF4, Float: p.Weights - p.NF4, Backend: p.Workspace - p.Dequant, Dequant: p.Dequant},
	}
	budget, source, err := planBudget(c, gpuTotal)
	if err != nil {
		return err
	}
	if source != "" {
		longest, err := decoder.LongestFit(mc, o, budget, planSearchLimit)
		if err != nil {
			return err
		}
		r.Budget = &planBudgetFit{Bytes: budget, Source: source, Fits: p.Peak <= budget, LongestMaxLength: longest,
			MaxPositionEmbeddings: mc.MaxPositionEmbeddings}
		if !r.Budget.Fits {
			if r.Budget.WhatFits, err = train.WhatFits(mc, o, budget); err != nil {
				return err
			}
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		r.print(e.stdout)
	}
	if r.Budget != nil && !r.Budget.Fits {
		return fmt.Errorf("the run needs %s, more than %s (%s); %s", humanize.IBytes(uint64(p.Peak)),
			humanize.IBytes(uint64(budget)), source, r.Budget.WhatFits)
	}
	return nil
}

// planStorage is how the backend of --device stores a run, with the
// total memory of the GPU when it plans for one this machine has (0
// otherwise). auto plans for the device train would run on.
func planStorage(c *ucli.Context) (backend.Storage, int64, error) {
	d := device{name: c.String("device"), threads: 1, bf16: c.Bool("bf16"), probe: probeGPU, open: openGPU}
	switch d.name {
	case "cpu":
		return cpu.Storage, 0, nil
	case "auto", "", "cuda":
		if b, _, err := selectDevice(d); err == nil {
			if g, ok := b.(backend.MemoryReporter); ok { // the GPU
				defer b.(io.Closer).Close()
				_, total, err := g.MemoryInfo()
				return g.Storage(), total, err
			}
		}
		if d.name != "cuda" {
			return cpu.Storage, 0, nil
		}
		// A GPU this machine lacks, or cannot run yet: plan for it.
		s := cuda.Storage
		if !d.bf16 { // the fused layer reads bfloat16 only, so it is composed then
			s.Weights, s.Activations, s.FusedLoRA = backend.Float32, backend.Float32, false
		}
		return s, 0, nil
	}
	return backend.Storage{}, 0, fmt.Errorf("--device %q: want auto, cpu or cuda", d.name)
}

// planBudget is --memory, else the GPU's total memory gpuTotal, else none
// (source "").
func planBudget(c *ucli.Context, gpuTotal int64) (int64, string, error) {
	if m := c.String("memory"); m != "" {
		n, err := humanize.ParseBytes(m)
		if err != nil || n == 0 || n > 1<<62 {
			return 0, "", fmt.Errorf("--memory %q: want a size such as 80GiB, 24GB or 16000MiB", m)
		}
		return int64(n), "--memory " + m, nil
	}
	if gpuTotal == 0 {
		return 0, "", nil
	}
	return gpuTotal, "the GPU's total memory", nil
}

// print writes the plan as a table.
func (r *planReport) print(w io.Writer) {
	mode := "LoRA"
	if r.QLoRA {
		mode = "QLoRA"
	}
	recompute := "off"
	if r.Recompute {
		recompute = "on"
	}
	fmt.Fprintf(w, "%s r=%d on %s (%s trainable parameters), batch %d × %d tokens, recomputation %s, %s activations, on %s:\n",
		mode, r.Rank, strings.Join(r.Modules, ","), humanize.Comma(int64(r.TrainableParams)), r.Batch, r.MaxLength, recompute, r.Activations, r.Device)
	b, d := r.Breakdown, r.Detail
	ib := func(n int64) string { return humanize.IBytes(uint64(n)) }
	weights := "all in " + r.Weights
	if r.QLoRA {
		weights = fmt.Sprintf("NF4 projections with their scales %s, %s tensors %s", ib(d.NF4), r.Weights, ib(d.Float))
	}
	for _, row := range []struct {
		name  string
		bytes int64
		note  string
	}{
		{"frozen weights", b.Weights, weights},
		{"LoRA parameters", b.LoRA, "float32"},
		{"gradients", b.Gradients, "float32"},
		{"optimizer state", b.Optimizer, "AdamW's two moments, float32"},
		{"activations", b.Activations, "the activation arena but its logits"},
		{"logits chunk", b.Logits, fmt.Sprintf("%d rows of logits at a time", r.LogitRows)},
		{"workspace", b.Workspace, fmt.Sprintf("backend %s, NF4 dequantization room %s", ib(d.Backend), ib(d.Dequant))},
		{"peak", r.PeakBytes, ""},
	} {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-16s %10s  %s", row.name, humanize.IBytes(uint64(row.bytes)), row.note), " "))
	}
	if f := r.Budget; f != nil {
		verdict := "fits in"
		if !f.Fits {
			verdict = "does not fit in"
		}
		fmt.Fprintf(w, "%s %s (%s).\n", verdict, humanize.IBytes(uint64(f.Bytes)), f.Source)
		beyond := ""
		if f.LongestMaxLength > f.MaxPositionEmbeddings {
			beyond = fmt.Sprintf(", beyond the model's max_position_embeddings %d", f.MaxPositionEmbeddings)
		}
		fmt.Fprintf(w, "longest --max_length that fits at --batch_size %d: %d tokens%s\n", r.Batch, f.LongestMaxLength, beyond)
	}
}
