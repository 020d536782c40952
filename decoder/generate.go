package decoder

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// GenerationConfig holds the decoding settings of a Hugging Face
// generation_config.json that tune honours. Unset fields take transformers'
// defaults: greedy, temperature 1, top_p 1, top_k 50, repetition_penalty 1.
type GenerationConfig struct {
	DoSample          bool    `json:"do_sample"`
	Temperature       float64 `json:"temperature"`
	TopP              float64 `json:"top_p"`
	TopK              int     `json:"top_k"`
	RepetitionPenalty float64 `json:"repetition_penalty"`
	MaxNewTokens      int     `json:"max_new_tokens"`
	EOSTokenIDs       []int   `json:"-"`
	PadTokenID        *int    `json:"pad_token_id,omitempty"`
	// Seed seeds sampling; the same seed gives the same tokens.
	Seed uint64 `json:"-"`
}

// DefaultGenerationConfig is transformers' GenerationConfig default, with
// 256 new tokens.
func DefaultGenerationConfig() GenerationConfig {
	return GenerationConfig{Temperature: 1, TopP: 1, TopK: 50, RepetitionPenalty: 1, MaxNewTokens: 256}
}

// LoadGenerationConfig reads dir/generation_config.json over the defaults;
// a folder without one gives the defaults, and eos ids come from
// config.json's eos_token_id then.
func LoadGenerationConfig(dir string, c *Config) (GenerationConfig, error) {
	g := DefaultGenerationConfig()
	g.EOSTokenIDs = slices.Clone(c.EOSTokenID)
	path := filepath.Join(dir, "generation_config.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return g, fmt.Errorf("decoder: %w", err)
	}
	var aux struct {
		EOS TokenIDs `json:"eos_token_id"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		return g, fmt.Errorf("decoder: %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return g, fmt.Errorf("decoder: %s: %w", path, err)
	}
	if aux.EOS != nil {
		g.EOSTokenIDs = aux.EOS
	}
	if err := g.Validate(); err != nil {
		return g, fmt.Errorf("decoder: %s: %w", path, err)
	}
	return g, nil
}

// Validate reports the first out-of-range setting.
func (g *GenerationConfig) Validate() error {
	switch {
	case g.DoSample && g.Temperature <= 0:
		return fmt.Errorf("temperature %g must be positive when sampling", g.Temperature)
	case g.TopP <= 0 || g.TopP > 1:
		return fmt.Errorf("top_p %g must be in (0, 1]", g.TopP)
	case g.TopK < 0:
		return fmt.Errorf("top_k %d must not be negative", g.TopK)
	case g.RepetitionPenalty <= 0:
		return fmt.Errorf("repetition_penalty %g must be positive", g.RepetitionPenalty)
	case g.MaxNewTokens < 0:
		return fmt.Errorf("max_new_tokens %d must not be negative", g.MaxNewTokens)
	}
	return nil
}

func (g *GenerationConfig) isEOS(id int32) bool {
	for _, e := range g.EOSTokenIDs {
		if int32(e) == id {
			return true
		}
	}
	return false
}

// Generate continues prompt with up to g.MaxNewTokens tokens, using a KV
// cache, and stops after any eos id (which is included in the result).
// Logits that are not finite stop it with an error.
// onToken, when not nil, sees each new token but an eos id as it is chosen
// and may stop generation by returning false. It returns the new tokens
// only.
func (m *Model) Generate(prompt []int32, g GenerationConfig, onToken func(id int32) bool) ([]int32, error) {
	out, err := m.GenerateBatch([][]int32{prompt}, g, func(_ int, id int32) bool {
		return onToken == nil || onToken(id)
	})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// GenerateBatch continues several prompts at once with the model's active
// adapter, decoding them together (a Batcher); each row decodes as it
// would alone. onToken sees (row, id) for every new token but an eos id;
// returning false stops that row. When sampling, row r draws from
// g.Seed + r·0x9e3779b97f4a7c15 (row 0 from g.Seed, as Generate does), so
// equal prompts in one batch get different samples.
func (m *Model) GenerateBatch(prompts [][]int32, g GenerationConfig, onToken func(row int, id int32) bool) ([][]int32, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if len(prompts) == 0 {
		return nil, nil
	}
	width := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("prompt %d is empty", i)
		}
		width = max(width, len(p))
	}
	b := m.NewBatcher(len(prompts), width+g.MaxNewTokens)
	defer b.Close()
	seqs := make([]*Sequence, len(prompts))
	for r, p := range prompts {
		s := &Sequence{Prompt: p, Gen: g}
		s.Gen.Seed += uint64(r) * 0x9e3779b97f4a7c15
		if onToken != nil {
			s.OnToken = func(id int32) bool { return onToken(r, id) }
		}
		if err := b.Add(s); err != nil {
			return nil, fmt.Errorf("prompt %d: %w", r, err)
		}
		seqs[r] = s
	}
	for b.Running() > 0 {
		b.Step()
	}
	out := make([][]int32, len(prompts))
	for r, s := range seqs {
		if err := s.Err(); err != nil {
			return nil, fmt.Errorf("decoder: prompt %d: %w", r, err)
		}
		out[r] = s.Tokens()
	}
	return out, nil
}

// checkLogits refuses a row of logits holding NaN or an infinity: the
// argmax or draw over it would be meaningless (a NaN row decodes as token
// 0, "!", forever).
func checkLogits(row []float32) error {
	for i, v := range row {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("the logit of token id %d is %v: the model's outputs are not finite numbers (weights too large, or an adapter that diverged)", i, v)
		}
	}
	return nil
}

// pick chooses the next token from one row of logits following
// transformers' order: repetition penalty, then (when sampling) temperature,
// top-k and top-p, then argmax or a draw. Argmax ties go to the lowest id,
// like torch.argmax.
func pick(logits []float32, seen []int32, g *GenerationConfig, rng *rand.Rand) int32 {
	if g.RepetitionPenalty != 1 {
		penalize(logits, seen, float32(g.RepetitionPenalty))
	}
	if !g.DoSample {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return int32(best)
	}
	cands := topK(logits, g.Temperature, g.TopK)
	probs, sum := topP(cands, g.TopP)
	u := rng.Float64() * sum
	for i, p := range probs {
		u -= p
		if u < 0 {
			return cands[i].id
		}
	}
	return cands[len(probs)-1].id
}

// penalize applies the repetition penalty p to the logits of the seen
// ids, once each: a negative logit is multiplied by p, another divided.
func penalize(logits []float32, seen []int32, p float32) {
	done := map[int32]bool{}
	for _, id := range seen {
		if done[id] {
			continue
		}
		done[id] = true
		if logits[id] < 0 {
			logits[id] *= p
		} else {
			logits[id] /= p
		}
	}
}

// candidate is a token id and its tempered logit.
type candidate struct {
	id int32
	l  float64
}

// topK divides the logits by temperature and returns them sorted, highest
// first (ties in id order), cut to the k best (k <= 0: all) with the ties
// of the k-th kept, as transformers' top-k does.
func topK(logits []float32, temperature float64, k int) []candidate {
	cands := make([]candidate, len(logits))
	for i, v := range logits {
		cands[i] = candidate{int32(i), float64(v) / temperature}
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].l > cands[b].l })
	if k > 0 && k < len(cands) {
		kth := cands[k-1].l
		n := k
		for n < len(cands) && cands[n].l == kth {
			n++
		}
		cands = cands[:n]
	}
	return cands
}

// topP returns the unnormalized probabilities of the sorted candidates,
// cut to the smallest prefix whose mass reaches p (at least one; p >= 1
// keeps all), and their sum.
func topP(cands []candidate, p float64) (probs []float64, sum float64) {
	mx := cands[0].l
	probs = make([]float64, len(cands))
	for i, c := range cands {
		probs[i] = math.Exp(c.l - mx)
		sum += probs[i]
	}
	if p >= 1 {
		return probs, sum
	}
	var cum float64
	keep := len(cands)
	for i, q := range probs {
		cum += q / sum
		if cum >= p {
			keep = i + 1
			break
		}
	}
	sum = 0
	for _, q := range probs[:keep] {
		sum += q
	}
	return probs[:keep], sum
}
