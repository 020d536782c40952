package train_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/train"
)

// reporting is the CPU backend reporting free bytes of device memory, as
// the CUDA backend reports its GPU's.
type reporting struct {
	*cpu.Backend
	free int64
}

func (r *reporting) Storage() backend.Storage { return cpu.Storage }

func (r *reporting) MemoryInfo() (free, total int64, err error) { return r.free, 2 * r.free, nil }

// TestRunRefusesWhatDoesNotFit gives Run a backend with one byte less free
// memory than the plan needs: it stops before reading data or weights,
// writes nothing, and names a --max_length that fits; with exactly the
// plan's bytes free it trains.
func TestRunRefusesWhatDoesNotFit(t *testing.T) {
	data := dataDir(t)
	cfg := baseConfig(data, filepath.Join(t.TempDir(), "run"))
	cfg.MaxSteps = 1
	cfg.SkipTestEval = true
	mc, err := decoder.LoadConfig(tinyBase)
	require.NoError(t, err)
	plan, err := decoder.PlanMemory(mc, cfg.MemoryOptions(cpu.Storage))
	require.NoError(t, err)

	_, err = train.Run(context.Background(), cfg, &reporting{Backend: cpu.New(1), free: plan.Peak - 1})
	require.Error(t, err)
	require.Contains(t, err.Error(), "more than the free memory of cpu")
	require.Regexp(t, `what fits at --batch_size 3: --max_length \d+; or --gradient_checkpointing --max_length \d+`, err.Error())
	require.NoDirExists(t, cfg.OutputDir)
	t.Log(err)

	_, err = train.Run(context.Background(), cfg, &reporting{Backend: cpu.New(1), free: plan.Peak})
	require.NoError(t, err)
}

// TestWhatFitsIsLongest checks that each --max_length WhatFits names fits
// the budget and one token more does not.
func TestWhatFitsIsLongest(t *testing.T) {
	mc, err := decoder.LoadConfig(tinyBase)
	require.NoError(t, err)
	cfg := baseConfig("", "")
	o := cfg.MemoryOptions(cpu.Storage)
	budget := int64(3 << 20)
	n, err := decoder.LongestFit(mc, o, budget, 1<<20)
	require.NoError(t, err)
	require.Greater(t, n, 2)
	for _, l := range []int{n, n + 1} {
		o.MaxLength = l
		p, err := decoder.PlanMemory(mc, o)
		require.NoError(t, err)
		require.Equal(t, l == n, p.Peak <= budget, "max length %d: peak %d against %d", l, p.Peak, budget)
	}
	require.NoError(t, train.CheckMemory(mc, func() decoder.MemoryOptions { o.MaxLength = n; return o }(), budget, "budget"))
}
