package cli_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/qwen"
)

// qwen7B is the folder of Qwen2.5-7B-Instruct's config.json.
const qwen7B = "../testdata/qwen2.5-7b-instruct"

// planJSON is the part of tune plan --json the tests read.
type planJSON struct {
	TrainableParams int              `json:"trainable_params"`
	PeakBytes       int64            `json:"peak_bytes"`
	Breakdown       map[string]int64 `json:"breakdown"`
	Budget          *struct {
		Fits             bool   `json:"fits"`
		LongestMaxLength int    `json:"longest_max_length"`
		WhatFits         string `json:"what_fits"`
	} `json:"budget"`
}

func planOf(t *testing.T, args ...string) planJSON {
	t.Helper()
	return planWith(t, []string{"--device", "cuda"}, args...)
}

// planWith runs tune plan --json with the global flags global.
func planWith(t *testing.T, global []string, args ...string) planJSON {
	t.Helper()
	out, _, err := run(t, "", append(append(global, "plan", "--json"), args...)...)
	require.NoError(t, err)
	var p planJSON
	require.NoError(t, json.Unmarshal([]byte(out), &p))
	var sum int64
	for _, b := range p.Breakdown {
		sum += b
	}
	require.Equal(t, p.PeakBytes, sum, "peak_bytes is the sum of the breakdown")
	return p
}

// TestPlanQwen7B plans QLoRA r=16 on all seven projections of
// Qwen2.5-7B-Instruct at 2048 tokens, micro-batch 1, on CUDA, with and
// without recomputation, and logs the tables and the longest sequence
// that fits 80 GiB next to the targets (7 GB peak; 128k tokens on
// 80 GB).
func TestPlanQwen7B(t *testing.T) {
	c, err := decoder.LoadConfig(qwen7B)
	require.NoError(t, err)
	want := qwen.Sizes["Qwen2.5-7B-Instruct"]
	require.Equal(t, want.NumParams(), c.NumParams(), "testdata's config is Qwen2.5-7B-Instruct's")

	args := []string{"--use_qlora", "--lora_r", "16", "--max_length", "2048", "--batch_size", "1", "--memory", "80GiB"}
	var plans []planJSON
	for _, recompute := range []bool{false, true} {
		a := append(args, fmt.Sprintf("--gradient_checkpointing=%v", recompute))
		table, _, err := run(t, "", append([]string{"--device", "cuda", "plan", "--base_model", qwen7B}, a...)...)
		require.NoError(t, err)
		t.Logf("tune plan %v\n%s", a, table)
		plans = append(plans, planOf(t, append([]string{"--base_model", qwen7B}, a...)...))
	}
	full, ck := plans[0], plans[1]
	// PEFT's count for r=16 on all seven projections of Qwen2.5-7B.
	require.Equal(t, 40_370_176, full.TrainableParams)
	require.Less(t, ck.PeakBytes, full.PeakBytes, "recomputation keeps less")
	require.Greater(t, ck.Budget.LongestMaxLength, full.Budget.LongestMaxLength)
	t.Logf("targets: peak 7 GB (7e9 bytes) at micro-batch 1 — planned %.2f GB with recomputation, %.2f GB without",
		float64(ck.PeakBytes)/1e9, float64(full.PeakBytes)/1e9)
	t.Logf("targets: 128k tokens trainable on 80 GB — on 80 GiB the planner fits %d tokens with recomputation, %d without",
		ck.Budget.LongestMaxLength, full.Budget.LongestMaxLength)
}

// TestPlanSaysWhatFits asks for a budget the run exceeds: tune plan prints
// the plan, fails, and names a --max_length that fits, which then plans
// within the budget.
func TestPlanSaysWhatFits(t *testing.T) {
	args := []string{"--device", "cuda", "plan", "--base_model", qwen7B, "--use_qlora", "--batch_size", "1", "--memory", "8GiB"}
	out, _, err := run(t, "", append(args, "--max_length", "8192")...)
	require.Error(t, err)
	require.Contains(t, out, "does not fit in 8.0 GiB (--memory 8GiB)")
	m := regexp.MustCompile(`more than 8\.0 GiB \(--memory 8GiB\); what fits at --batch_size 1: --max_length (\d+)`).FindStringSubmatch(err.Error())
	require.NotNil(t, m, err.Error())
	p := planOf(t, append(args[3:], "--max_length", m[1])...)
	require.True(t, p.Budget.Fits, "--max_length %s", m[1])
}

// TestPlanFlags checks --bf16 (bfloat16 weights and activations on CUDA
// by default, float32 with --bf16=false), --memory and
// --base_model errors, and that the CPU plan stores every float in
// float32.
func TestPlanFlags(t *testing.T) {
	args := []string{"--base_model", qwen7B, "--batch_size", "1", "--max_length", "512"}
	bf16 := planOf(t, args...)
	f32 := planWith(t, []string{"--device", "cuda", "--bf16=false"}, args...)
	// Without bfloat16 the fused layer is composed, so the arena also
	// holds the composition's scratch: [rows, r] twice and [rows,
	// intermediate]; the attention's log-sum-exp, [rows, heads] a layer,
	// is float32 either way.
	scratch, lse := int64(4*512*(2*16+18944)), int64(4*28*512*28)
	require.Equal(t, 2*(bf16.Breakdown["activations"]-lse)+lse+scratch, f32.Breakdown["activations"])
	require.Equal(t, 2*bf16.Breakdown["logits_chunk"], f32.Breakdown["logits_chunk"])
	require.Equal(t, 2*bf16.Breakdown["frozen_weights"], f32.Breakdown["frozen_weights"])
	require.Less(t, f32.Breakdown["workspace"], bf16.Breakdown["workspace"], "no fused layer's scratch")

	out, _, err := run(t, "", append([]string{"--device", "cpu", "plan", "--json"}, args...)...)
	require.NoError(t, err)
	var cpuPlan planJSON
	require.NoError(t, json.Unmarshal([]byte(out), &cpuPlan))
	require.Equal(t, f32.Breakdown["activations"], cpuPlan.Breakdown["activations"], "float32 activations on the CPU")
	require.Equal(t, f32.Breakdown["frozen_weights"], cpuPlan.Breakdown["frozen_weights"], "float32 weights on the CPU")
	require.Equal(t, int64(8), cpuPlan.Breakdown["workspace"], "the CPU's workspace is the step's loss sum alone")
	require.Nil(t, cpuPlan.Budget, "no budget without --memory or a GPU")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--base_model", qwen7B, "--memory", "80 parsecs"}, `--memory "80 parsecs": want a size such as 80GiB`},
		{[]string{"plan"}, "--base_model (or BASE_MODEL) is required"},
		{[]string{"plan", "--base_model", t.TempDir()}, "config.json"},
		{[]string{"plan", "--base_model", qwen7B, "--max_length", "1"}, "--max_length 1: must be"},
	} {
		_, _, err := run(t, "", tc.args...)
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
}
