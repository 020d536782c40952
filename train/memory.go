package train

import (
	"fmt"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/decoder"
)

// MemoryOptions are the settings of c that decide the memory of its run
// on a backend storing it as s.
func (c *Config) MemoryOptions(s backend.Storage) decoder.MemoryOptions {
	return decoder.MemoryOptions{LoRA: c.LoRA, QLoRA: c.UseQLoRA, BlockSize: c.QuantBlockSize, Batch: c.BatchSize,
		MaxLength: c.MaxLength, Recompute: c.Recompute, Storage: s}
}

// CheckMemory plans a run of a model of config mc with options o against
// budget bytes (budgetText says whose: "the GPU's free memory") and
// returns nil when it fits, else an error that says what the run needs and
// what would fit.
func CheckMemory(mc *decoder.Config, o decoder.MemoryOptions, budget int64, budgetText string) error {
	p, err := decoder.PlanMemory(mc, o)
	if err != nil {
		return err
	}
	if p.Peak <= budget {
		return nil
	}
	fits, err := WhatFits(mc, o, budget)
	if err != nil {
		return err
	}
	return fmt.Errorf("the run needs %s (tune plan shows the breakdown), more than %s, %s; %s",
		humanize.IBytes(uint64(p.Peak)), budgetText, humanize.IBytes(uint64(budget)), fits)
}

// WhatFits says which nearby settings of o fit budget: the longest
// --max_length at the same settings, with --gradient_checkpointing when o
// has none, and at --batch_size 1; sequences stop at the model's
// max_position_embeddings, and a run needs at least 2 tokens.
func WhatFits(mc *decoder.Config, o decoder.MemoryOptions, budget int64) (string, error) {
	var out []string
	try := func(o decoder.MemoryOptions, settings string) error {
		n, err := decoder.LongestFit(mc, o, budget, mc.MaxPositionEmbeddings)
		if err != nil || n < 2 {
			return err
		}
		out = append(out, fmt.Sprintf("%s--max_length %d", settings, n))
		return nil
	}
	if err := try(o, ""); err != nil {
		return "", err
	}
	if !o.Recompute {
		r := o
		r.Recompute = true
		if err := try(r, "--gradient_checkpointing "); err != nil {
			return "", err
		}
	}
	if o.Batch > 1 {
		one := o
		one.Batch, one.Recompute = 1, true
		if err := try(one, "--batch_size 1 --gradient_checkpointing "); err != nil {
			return "", err
		}
	}
	if len(out) == 0 {
		return "no --max_length fits, not even with --batch_size 1 --gradient_checkpointing", nil
	}
	return fmt.Sprintf("what fits at --batch_size %d: ", o.Batch) + strings.Join(out, "; or "), nil
}

// checkDeviceMemory plans the run against the free memory of a backend
// that reports it (the CUDA backend), before any data or weight is loaded.
func checkDeviceMemory(cfg *Config, mc *decoder.Config, b backend.Backend) error {
	r, ok := b.(backend.MemoryReporter)
	if !ok {
		return nil
	}
	free, _, err := r.MemoryInfo()
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := CheckMemory(mc, cfg.MemoryOptions(r.Storage()), free, "the free memory of "+b.Name()); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}
