package decoder_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/testmodel"
	"github.com/tune-dev/tune/lora"
)

// randomAdapter is an adapter of rank r on every projection that
// changes the model's answers.
func randomAdapter(t *testing.T, c *decoder.Config, name string, r int, seed uint64) *lora.Adapter {
	t.Helper()
	a, err := testmodel.RandomAdapter(c, name, r, lora.ModuleNames(), 0.3, seed)
	require.NoError(t, err)
	return a
}

// TestBatcherRowsAsAlone: sequences on the base model and two adapters of
// different ranks, greedy and sampled, joining a 3-slot batch as slots
// free up and leaving at different lengths, each give the tokens they give
// alone through Generate with that adapter active.
func TestBatcherRowsAsAlone(t *testing.T) {
	c := tinyConfig()
	m, err := decoder.NewRandom(c, cpu.New(0), 11)
	require.NoError(t, err)
	adapters := []*lora.Adapter{nil, randomAdapter(t, c, "a", 4, 1), randomAdapter(t, c, "b", 8, 2)}

	type job struct {
		prompt  []int32
		adapter int
		gen     decoder.GenerationConfig
	}
	var jobs []job
	for i := 0; i < 9; i++ {
		g := decoder.DefaultGenerationConfig()
		g.EOSTokenIDs = nil
		g.MaxNewTokens = 3 + 2*i
		if i%2 == 1 {
			g.DoSample, g.Temperature, g.TopK, g.Seed = true, 1.3, 0, uint64(100+i)
		}
		prompt := make([]int32, 1+(i*5)%9)
		for j := range prompt {
			prompt[j] = int32((i*7 + j*3) % c.VocabSize)
		}
		jobs = append(jobs, job{prompt, i % 3, g})
	}

	alone := make([][]int32, len(jobs))
	for i, j := range jobs {
		m.SetAdapter(adapters[j.adapter])
		alone[i], err = m.Generate(j.prompt, j.gen, nil)
		require.NoError(t, err)
	}
	m.SetAdapter(nil)

	dev := []*decoder.DeviceAdapter{nil, m.UploadAdapter(adapters[1]), m.UploadAdapter(adapters[2])}
	b := m.NewBatcher(3, 32)
	defer b.Close()
	seqs := make([]*decoder.Sequence, len(jobs))
	next := 0
	for steps := 0; next < len(jobs) || b.Running() > 0; steps++ {
		for next < len(jobs) && b.FreeSlots() > 0 {
			j := jobs[next]
			seqs[next] = &decoder.Sequence{Prompt: j.prompt, Gen: j.gen, Adapter: dev[j.adapter]}
			require.NoError(t, b.Add(seqs[next]))
			next++
		}
		b.Step()
		require.Less(t, steps, 100)
	}
	for i, s := range seqs {
		require.Equal(t, decoder.FinishLength, s.Finish(), "sequence %d", i)
		require.Equal(t, alone[i], s.Tokens(), "sequence %d (adapter %d, sampled %v)", i, jobs[i].adapter, jobs[i].gen.DoSample)
	}
}

// TestBatcherRemoveAndLimits: Remove frees a slot at once; Add refuses a
// full batch, a sequence longer than a slot, and an empty prompt.
func TestBatcherRemoveAndLimits(t *testing.T) {
	m, err := decoder.NewRandom(tinyConfig(), cpu.New(0), 11)
	require.NoError(t, err)
	b := m.NewBatcher(1, 10)
	defer b.Close()
	g := decoder.DefaultGenerationConfig()
	g.EOSTokenIDs, g.MaxNewTokens = nil, 5
	s := &decoder.Sequence{Prompt: []int32{1, 2, 3}, Gen: g}
	require.NoError(t, b.Add(s))
	require.ErrorContains(t, b.Add(&decoder.Sequence{Prompt: []int32{4}, Gen: g}), "all 1 sequences of the batch are running")
	b.Remove(s)
	require.Equal(t, decoder.FinishRemoved, s.Finish())
	require.Equal(t, 1, b.FreeSlots())

	g.MaxNewTokens = 9
	require.ErrorContains(t, b.Add(&decoder.Sequence{Prompt: []int32{1, 2, 3}, Gen: g}), "needs 11 positions, the batch holds 10")
	require.ErrorContains(t, b.Add(&decoder.Sequence{Gen: g}), "empty")
	g.MaxNewTokens = 8
	require.NoError(t, b.Add(&decoder.Sequence{Prompt: []int32{1, 2, 3}, Gen: g}))
}

// TestBatcherNilAdapterIsTheActiveOne: a sequence without an adapter of
// its own decodes with the model's active adapter, also when sequences
// with their own adapters share its steps.
func TestBatcherNilAdapterIsTheActiveOne(t *testing.T) {
	c := tinyConfig()
	m, err := decoder.NewRandom(c, cpu.New(0), 11)
	require.NoError(t, err)
	active, other := randomAdapter(t, c, "active", 4, 1), randomAdapter(t, c, "other", 8, 2)
	g := decoder.DefaultGenerationConfig()
	g.EOSTokenIDs, g.MaxNewTokens = nil, 6
	prompt := []int32{3, 1, 4, 1, 5}

	m.SetAdapter(other)
	wantOther, err := m.Generate(prompt, g, nil)
	require.NoError(t, err)
	m.SetAdapter(active)
	wantActive, err := m.Generate(prompt, g, nil)
	require.NoError(t, err)
	require.NotEqual(t, wantActive, wantOther, "the adapters give different answers")

	b := m.NewBatcher(2, 16)
	defer b.Close()
	own := &decoder.Sequence{Prompt: prompt, Gen: g, Adapter: m.UploadAdapter(other)}
	none := &decoder.Sequence{Prompt: prompt, Gen: g}
	require.NoError(t, b.Add(own))
	require.NoError(t, b.Add(none))
	for b.Running() > 0 {
		b.Step()
	}
	require.Equal(t, wantOther, own.Tokens(), "the sequence with its own adapter")
	require.Equal(t, wantActive, none.Tokens(), "the sequence without one")
}
