package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/internal/filetest"
	"github.com/tune-dev/tune/internal/golden"
	"github.com/tune-dev/tune/internal/testmodel"
	"github.com/tune-dev/tune/llama"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/safetensors"
)

// llamaModel makes a model folder of the llama3-tiny golden model (no
// biases, llama3 RoPE scaling, untied head) with a byte-level tokenizer
// split by Llama 3's pattern and holding Llama 3's special tokens, whose
// eos token is <|eot_id|>. Its max_position_embeddings goes from 128 to
// 512, since a byte per token makes the template's system turn alone
// about 100 tokens; nothing else reads it (the llama3 RoPE scaling reads
// its own original_max_position_embeddings).
func llamaModel(t *testing.T) string {
	t.Helper()
	model := filetest.CopyDir(t, golden.Dir("llama3-tiny")+"/base_model")
	path := filepath.Join(model, "config.json")
	cfg, err := os.ReadFile(path)
	require.NoError(t, err)
	longer := strings.Replace(string(cfg), `"max_position_embeddings": 128`, `"max_position_embeddings": 512`, 1)
	require.NotEqual(t, string(cfg), longer)
	require.NoError(t, os.WriteFile(path, []byte(longer), 0o644))
	require.NoError(t, testmodel.WriteTokenizer(model, tokenizer.Llama3SplitPattern,
		"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"))
	require.NoError(t, os.WriteFile(filepath.Join(model, "tokenizer_config.json"), []byte(`{"eos_token": "<|eot_id|>"}`), 0o644))
	return model
}

// TestLlamaCommands trains a Llama 3 model on chat records with tune
// train, then merges, scores, generates and serves it through the same
// commands as Qwen2: the prompts are Llama 3.1's chat template, the
// adapter is PEFT's format with Llama's module names, the merged model is
// a Llama checkpoint, and the adapter and the merged model score and
// answer alike.
func TestLlamaCommands(t *testing.T) {
	skipSlow(t)
	dir := t.TempDir()
	model, data, out := llamaModel(t), filepath.Join(dir, "data"), filepath.Join(dir, "run")
	const instruction = "Cite the clause."
	writeChatRecords(t, data, instruction, "train.jsonl")
	train := filepath.Join(data, "train.jsonl")
	stdout, _, err := run(t, "", "train", "--base_model", model, "--data_path", data, "--output_dir", out, "--max_steps", "2",
		"--batch_size", "2", "--warmup_steps", "0", "--lora_r", "4", "--learning_rate", "1e-2")
	require.NoError(t, err)
	require.Contains(t, stdout, "trained 2 steps")

	// The adapter is PEFT's: the seven projections under Llama's names.
	ad, err := safetensors.Open(filepath.Join(out, "adapter_model.safetensors"))
	require.NoError(t, err)
	require.Len(t, ad.Names(), 2*7*2)
	require.Contains(t, ad.Names(), "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight")
	ad.Close()

	// tune merge writes a Llama checkpoint: no biases, its own lm_head.
	merged := filepath.Join(dir, "merged")
	_, _, err = run(t, "", "merge", "--base_model", model, "--adapter", out, "--output", merged)
	require.NoError(t, err)
	cfg, err := os.ReadFile(filepath.Join(merged, "config.json"))
	require.NoError(t, err)
	require.Contains(t, string(cfg), `"model_type": "llama"`)
	mf, err := safetensors.Open(filepath.Join(merged, "model.safetensors"))
	require.NoError(t, err)
	require.Contains(t, mf.Names(), "lm_head.weight")
	for _, n := range mf.Names() {
		require.False(t, strings.HasSuffix(n, ".bias"), n)
	}
	mf.Close()

	// tune score: the adapter and the merged model agree.
	meanLoss := func(args ...string) float64 {
		s, _, err := run(t, "", append([]string{"score", "--data", train}, args...)...)
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(s), "\n")
		var m map[string]float64
		require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &m))
		return m["mean_loss"]
	}
	require.InDelta(t, meanLoss("--base_model", model, "--adapter", out), meanLoss("--base_model", merged), 1e-4)

	// tune generate: the prompt is Llama 3.1's template around the
	// adapter's recorded system prompt; the merged model answers the same.
	const question = "Term of Section 9?"
	tok, err := tokenizer.Load(model)
	require.NoError(t, err)
	prompt := tokenizer.Render(llama.Chat{}, []tokenizer.Message{{Role: "system", Content: instruction}, {Role: "user", Content: question}}, true)
	gen := func(args ...string) (string, string) {
		out, stderr, err := run(t, "", append([]string{"generate", "--prompt", question, "--max_new_tokens", "4"}, args...)...)
		require.NoError(t, err)
		return out, stderr
	}
	a, stderr := gen("--base_model", model, "--adapter", out)
	require.Contains(t, stderr, fmt.Sprintf("%d prompt tokens, system prompt: the adapter's", len(tok.Encode(prompt))))
	b, _ := gen("--base_model", merged)
	require.Equal(t, a, b)
	_, stderr = gen("--base_model", model)
	require.Contains(t, stderr, "system prompt: the chat template's default")

	// tune serve answers a chat request with the adapter as generate does.
	url := startServe(t, "--base_model", model, "--adapter", "run="+out)
	answer, err := chatAnswer(http.DefaultClient, url, "run", question, 4)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(a), strings.TrimSpace(answer))
}
