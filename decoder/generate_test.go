package decoder_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
)

func TestSampling(t *testing.T) {
	m, err := decoder.NewRandom(tinyConfig(), cpu.New(0), 3)
	require.NoError(t, err)
	prompt := []int32{1, 2, 3}
	greedy := decoder.DefaultGenerationConfig()
	greedy.MaxNewTokens = 10
	want, err := m.Generate(prompt, greedy, nil)
	require.NoError(t, err)

	sample := greedy
	sample.DoSample, sample.Temperature, sample.Seed = true, 1.5, 42
	a, err := m.Generate(prompt, sample, nil)
	require.NoError(t, err)
	b, err := m.Generate(prompt, sample, nil)
	require.NoError(t, err)
	require.Equal(t, a, b, "the same seed gives the same tokens")

	differs := false
	for seed := uint64(1); seed < 6 && !differs; seed++ {
		sample.Seed = seed
		c, err := m.Generate(prompt, sample, nil)
		require.NoError(t, err)
		differs = !slices.Equal(c, a)
	}
	require.True(t, differs, "other seeds give other tokens at temperature 1.5")

	// top_k 1 and a tiny top_p each leave only the argmax.
	for _, edit := range []func(*decoder.GenerationConfig){
		func(g *decoder.GenerationConfig) { g.TopK = 1 },
		func(g *decoder.GenerationConfig) { g.TopP = 1e-9 },
		func(g *decoder.GenerationConfig) { g.Temperature = 1e-4 },
	} {
		g := sample
		edit(&g)
		got, err := m.Generate(prompt, g, nil)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

func TestRepetitionPenaltyAndEOS(t *testing.T) {
	m, err := decoder.NewRandom(tinyConfig(), cpu.New(0), 3)
	require.NoError(t, err)
	g := decoder.DefaultGenerationConfig()
	g.MaxNewTokens = 20
	plain, err := m.Generate([]int32{1, 2, 3}, g, nil)
	require.NoError(t, err)
	// A huge penalty forbids every token already seen while others remain.
	g.RepetitionPenalty = 1e6
	pen, err := m.Generate([]int32{1, 2, 3}, g, nil)
	require.NoError(t, err)
	seen := map[int32]bool{1: true, 2: true, 3: true}
	for _, id := range pen {
		require.False(t, seen[id], "token %d repeated under a huge penalty (%v)", id, pen)
		seen[id] = true
	}
	require.NotEqual(t, plain, pen)

	// Stop at the first eos id, which is kept.
	g.RepetitionPenalty = 1
	g.EOSTokenIDs = []int{int(plain[3])}
	out, err := m.Generate([]int32{1, 2, 3}, g, nil)
	require.NoError(t, err)
	first := 0
	for plain[first] != plain[3] {
		first++
	}
	require.Equal(t, plain[:first+1], out)
}

func TestLoadGenerationConfig(t *testing.T) {
	dir := t.TempDir()
	c := tinyConfig()
	g, err := decoder.LoadGenerationConfig(dir, c)
	require.NoError(t, err)
	require.Equal(t, []int{5}, g.EOSTokenIDs, "config.json's eos when there is no generation_config.json")
	require.False(t, g.DoSample)

	// The Qwen2.5-Instruct generation_config.json as published.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{
  "bos_token_id": 151643, "pad_token_id": 151643, "do_sample": true,
  "eos_token_id": [151645, 151643], "repetition_penalty": 1.05,
  "temperature": 0.7, "top_p": 0.8, "top_k": 20, "transformers_version": "4.37.0"}`), 0o644))
	g, err = decoder.LoadGenerationConfig(dir, c)
	require.NoError(t, err)
	require.Equal(t, []int{151645, 151643}, g.EOSTokenIDs)
	require.True(t, g.DoSample)
	require.Equal(t, 0.7, g.Temperature)
	require.Equal(t, 0.8, g.TopP)
	require.Equal(t, 20, g.TopK)
	require.Equal(t, 1.05, g.RepetitionPenalty)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"top_p": 1.5}`), 0o644))
	_, err = decoder.LoadGenerationConfig(dir, c)
	require.ErrorContains(t, err, "generation_config.json")
	require.ErrorContains(t, err, "top_p")
}
