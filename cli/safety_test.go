package cli_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/filetest"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/safetensors"
)

// TestOutputIsNotAnInput: a command never writes over a file it reads; the
// refusal names both flags (merge: both folders) and leaves every file as
// it was.
func TestOutputIsNotAnInput(t *testing.T) {
	dir := t.TempDir()
	preds := filepath.Join(dir, "preds.jsonl")
	require.NoError(t, os.WriteFile(preds, []byte(`{"prediction": "Two years.", "reference": "Two years."}`+"\n"), 0o644))
	hard := filepath.Join(dir, "hard.jsonl")
	require.NoError(t, os.Link(preds, hard))
	soft := filepath.Join(dir, "soft.jsonl")
	require.NoError(t, os.Symlink(preds, soft))
	base := filetest.CopyDir(t, tinyBase)
	adapter := filetest.CopyDir(t, tinyDir+"/adapter")
	contract := filepath.Join(dir, "contract.txt")
	require.NoError(t, os.WriteFile(contract, []byte("1. Term. This Agreement lasts two years.\n"), 0o644))

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--predictions", preds, "--report", preds}, "--report " + preds + " is the --predictions file " + preds},
		{[]string{"eval", "--predictions", preds, "--report", hard}, "--report " + hard + " is the --predictions file"},
		{[]string{"eval", "--predictions", soft, "--report", preds}, "is the --predictions file " + soft},
		{[]string{"eval", "--base_model", base, "--data", preds, "--report", preds}, "is the --data file"},
		{[]string{"eval", "--base_model", base, "--data", preds, "--report", filepath.Join(base, "config.json")}, "is a file inside the --base_model folder " + base},
		{[]string{"gen-data", "--contract_path", contract, "--output_path", contract}, "--output_path " + contract + " is the --contract_path file"},
		{[]string{"merge", "--base_model", base, "--adapter", adapter, "--output", adapter}, "the output folder " + adapter + " is the adapter folder"},
		{[]string{"merge", "--base_model", base, "--adapter", adapter, "--output", base}, "the output folder " + base + " is the base model folder"},
		{[]string{"merge", "--base_model", base, "--adapter", adapter, "--output", dir}, "is not an earlier merge output"},
	} {
		before := []map[string]string{filetest.Snapshot(t, dir), filetest.Snapshot(t, base), filetest.Snapshot(t, adapter)}
		_, _, err := run(t, "", c.args...)
		require.ErrorContains(t, err, c.want, c.args)
		require.Equal(t, before, []map[string]string{filetest.Snapshot(t, dir), filetest.Snapshot(t, base), filetest.Snapshot(t, adapter)}, c.args)
	}
}

// wideConfig is a one-layer model with the Qwen2.5 tokenizer's vocabulary
// (tied embeddings, BF16: 4.9 MB), so that chat commands run on it.
func wideConfig() *decoder.Config {
	return &decoder.Config{
		ModelType: "qwen2", VocabSize: 151936, HiddenSize: 16, IntermediateSize: 32, NumHiddenLayers: 1,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, MaxPositionEmbeddings: 512, RMSNormEps: 1e-6,
		RopeTheta: 1e6, TieWordEmbeddings: true, HiddenAct: "silu", EOSTokenID: decoder.TokenIDs{151645},
	}
}

// saveWide writes a wideConfig model whose tensor named set gets value v
// everywhere (no change when set is empty).
func saveWide(t *testing.T, set string, v float32) string {
	dir := t.TempDir()
	require.NoError(t, decoder.SaveRandomWith(dir, wideConfig(), 1, safetensors.BF16, 0, func(s decoder.TensorSpec, x []float32) {
		if s.Name == set {
			for i := range x {
				x[i] = v
			}
		}
	}))
	return dir
}

// TestNonFiniteNumbersAreErrors: NaN weights in the base model or the
// adapter are refused at load by score, generate and eval (naming the file
// and tensor); finite weights whose outputs overflow stop score (naming
// the record's line) and generate and eval (before any token or report).
func TestNonFiniteNumbersAreErrors(t *testing.T) {
	dir := t.TempDir()
	ids := filepath.Join(dir, "ids.jsonl")
	require.NoError(t, os.WriteFile(ids, []byte("\n"+`{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}`+"\n"), 0o644))
	chat := filepath.Join(dir, "chat.jsonl")
	require.NoError(t, os.WriteFile(chat, []byte(`{"instruction": "What law governs?", "output": "New York law."}`+"\n"), 0o644))
	report := filepath.Join(dir, "report.json")
	commands := func(model string, extra ...string) [][]string {
		return [][]string{
			append([]string{"score", "--base_model", model, "--data", ids}, extra...),
			append([]string{"generate", "--base_model", model, "--prompt", "What law governs?", "--max_new_tokens", "3"}, extra...),
			append([]string{"eval", "--base_model", model, "--data", chat, "--max_new_tokens", "3", "--report", report}, extra...),
		}
	}

	type errCase struct {
		args, want []string
	}
	var cases []errCase
	q := "model.layers.0.self_attn.q_proj.weight"
	nanBase := saveWide(t, q, float32(math.NaN()))
	for _, args := range commands(nanBase) {
		cases = append(cases, errCase{args, []string{filepath.Join(nanBase, "model.safetensors"), `tensor "` + q + `"`, "element 0 [0, 0] is NaN"}})
	}
	// The overflowing model loads, so the adapter's check is what fails.
	overflow := saveWide(t, decoder.NormName, 3e38)
	a, err := lora.New("a", lora.Config{R: 2, LoraAlpha: 4, TargetModules: []string{"q_proj"}}, 1, wideConfig().ModuleShape, 1)
	require.NoError(t, err)
	a.Pairs[0]["q_proj"].B[0] = float32(math.Inf(1))
	nanAdapter := t.TempDir()
	require.NoError(t, a.Save(nanAdapter))
	for _, args := range commands(overflow, "--adapter", nanAdapter) {
		cases = append(cases, errCase{args, []string{filepath.Join(nanAdapter, "adapter_model.safetensors"), "element 0 [0, 0] is +Inf"}})
	}
	for i, args := range commands(overflow) {
		want := []string{"not finite"}
		if i == 0 {
			want = append(want, ids+":2: the loss is")
		} else {
			want = append(want, "prompt 0: new token 1")
		}
		cases = append(cases, errCase{args, want})
	}
	for _, c := range cases {
		stdout, _, err := run(t, "", c.args...)
		require.Error(t, err, c.args)
		for _, w := range c.want {
			require.ErrorContains(t, err, w, c.args)
		}
		require.NotContains(t, stdout, "!", "no token emitted")
		if c.args[0] == "score" {
			require.Empty(t, stdout)
		}
		_, err = os.Stat(report)
		require.True(t, os.IsNotExist(err), "no report written")
	}
}

// TestScoreEmptyFile: a --data file without records is an error naming it.
func TestScoreEmptyFile(t *testing.T) {
	for _, content := range []string{"", "\n  \n"} {
		data := filepath.Join(t.TempDir(), "empty.jsonl")
		require.NoError(t, os.WriteFile(data, []byte(content), 0o644))
		stdout, _, err := run(t, "", "score", "--base_model", tinyBase, "--data", data)
		require.ErrorContains(t, err, "--data "+data+" holds no records")
		require.Empty(t, stdout)
	}
}

// TestInvalidUTF8IsRefused: eval predictions and score data that are not
// UTF-8 are refused with the file, line and byte, not scored as U+FFFD.
func TestInvalidUTF8IsRefused(t *testing.T) {
	dir := t.TempDir()
	preds := filepath.Join(dir, "preds.jsonl")
	require.NoError(t, os.WriteFile(preds, []byte(`{"prediction": "ok", "reference": "ok"}`+"\n"+`{"prediction": "caf`+"\xe9"+`", "reference": "café"}`+"\n"), 0o644))
	report := filepath.Join(dir, "report.json")
	_, _, err := run(t, "", "eval", "--predictions", preds, "--report", report)
	require.ErrorContains(t, err, preds+":2: byte 20 (0xe9) is not valid UTF-8")
	_, err = os.Stat(report)
	require.True(t, os.IsNotExist(err), "no report written")

	data := filepath.Join(dir, "data.jsonl")
	require.NoError(t, os.WriteFile(data, []byte(`{"instruction": "`+"\xff"+`", "output": "x"}`+"\n"), 0o644))
	stdout, _, err := run(t, "", "score", "--base_model", tinyBase, "--data", data)
	require.ErrorContains(t, err, data+":1: byte 18 (0xff) is not valid UTF-8")
	require.Empty(t, stdout)
}
