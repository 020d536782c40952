package decoder

import (
	"fmt"
	"math"

	"github.com/tune-dev/tune/backend"
)

// Batch is a right-padded batch of token rows for scoring or training.
type Batch struct {
	IDs           []int32 // [Rows*T]; padding positions hold any valid id
	AttentionMask []int32 // [Rows*T] 1 = real token (or the segment id of a packed sequence), 0 = padding; nil = all real
	Pos           []int32 // [Rows*T] RoPE position ids; nil = 0..T-1 in every row
	Labels        []int32 // [Rows*T] targets aligned with IDs, IgnoreIndex where not scored; nil = IDs where the mask is 1
	Rows, T       int
}

// LossResult is the Hugging Face causal-LM loss of a batch: the
// cross-entropy of logits[:, :-1] against labels[:, 1:], ignoring -100.
type LossResult struct {
	// Mean is the one mean over every counted target of the batch (not
	// the mean of the per-row means).
	Mean float64
	// Sum and Tokens are the summed loss and the number of counted targets.
	Sum    float64
	Tokens int
	// RowMean and RowTokens are the same per row (RowMean is NaN for a
	// row with no target, as in PyTorch).
	RowMean   []float64
	RowTokens []int
	// Token holds per-target losses [Rows, T-1]: Token[r*(T-1)+t] scores
	// Labels[r*T+t+1], 0 where ignored.
	Token []float64
}

// Validate checks a batch's sizes and ids against c.
func (b *Batch) Validate(c *Config) error {
	n := b.Rows * b.T
	if b.Rows <= 0 || b.T <= 0 || len(b.IDs) != n {
		return fmt.Errorf("batch of %d ids is not %d rows × %d", len(b.IDs), b.Rows, b.T)
	}
	if b.AttentionMask != nil && len(b.AttentionMask) != n {
		return fmt.Errorf("attention mask has %d entries for %d tokens", len(b.AttentionMask), n)
	}
	if b.Pos != nil && len(b.Pos) != n {
		return fmt.Errorf("position ids have %d entries for %d tokens", len(b.Pos), n)
	}
	if b.Labels != nil && len(b.Labels) != n {
		return fmt.Errorf("labels have %d entries for %d tokens", len(b.Labels), n)
	}
	if b.T > c.MaxPositionEmbeddings {
		return fmt.Errorf("sequence of %d tokens exceeds max_position_embeddings %d", b.T, c.MaxPositionEmbeddings)
	}
	for i, l := range b.Labels {
		if l != backend.IgnoreIndex && (l < 0 || int(l) >= c.VocabSize) {
			return fmt.Errorf("label %d at position %d is neither -100 nor inside the vocabulary [0, %d)", l, i, c.VocabSize)
		}
	}
	return c.CheckIDs(b.IDs)
}

// positions returns the batch's RoPE position ids: Pos, or 0..T-1 in
// every row.
func (b *Batch) positions() []int32 {
	if b.Pos != nil {
		return b.Pos
	}
	pos := make([]int32, b.Rows*b.T)
	for i := range pos {
		pos[i] = int32(i % b.T)
	}
	return pos
}

// Logits runs the whole batch (padded keys masked) and returns the logits
// of every token [Rows*T, vocab], valid until the next pass. hook is passed
// to Input.Hook. Scoring does not need them: Loss computes the same loss a
// chunk of logits at a time.
func (m *Model) Logits(b *Batch, hook func(string, backend.Buffer)) (backend.Buffer, error) {
	if err := b.Validate(m.Config); err != nil {
		return nil, err
	}
	return m.Forward(Input{IDs: b.IDs, Pos: b.positions(), Batch: b.Rows, T: b.T, KeyMask: b.AttentionMask, Hook: hook}), nil
}

// Loss runs the batch and returns its causal-LM loss, with the per-row and
// per-token losses. It keeps one layer's activations and a chunk of logits
// at a time: the [Rows*T × vocab] logits never exist whole. Evaluation and
// scoring use it.
func (m *Model) Loss(b *Batch) (*LossResult, error) {
	if err := b.Validate(m.Config); err != nil {
		return nil, err
	}
	rows := b.Rows * b.T
	p := m.newPass(b.Rows, b.T, b.positions(), b.AttentionMask, nil, Plan{HeadRows: lossChunk(rows, m.Config.VocabSize)})
	x := p.forward(b.IDs, nil)
	targets := b.targets()
	loss := make([]float64, rows)
	p.loss(x, targets, loss, nil, 0, nil)
	return lossResult(b, targets, loss), nil
}

// loss runs the LM head and the cross-entropy on the rows of the residual
// stream x whose target is not IgnoreIndex (the prompt's rows need no
// logits), plan.HeadRows of them at a time, so the [rows × vocab] logits
// never exist whole; the one loss path of scoring, evaluation and
// training. loss[i] receives row i's loss (0 where ignored); with sum not
// nil, loss is nil and the losses are added into sum[0] on the device
// instead (backend.CrossEntropySum), so that training reads its loss back
// once per step rather than once per chunk. With dx not nil (training) it
// also writes into dx the gradient of scale·Σ loss with respect to x.
func (p *pass) loss(x backend.Buffer, targets []int32, loss []float64, sum backend.Buffer, scale float32, dx backend.Buffer) {
	b, c := p.b, p.m.Config
	h, V := c.HiddenSize, c.VocabSize
	var scored []int32
	for i, t := range targets {
		if t != backend.IgnoreIndex {
			scored = append(scored, int32(i))
		}
	}
	if dx != nil {
		b.Zero(dx, p.rows*h)
	}
	chunk := p.plan.HeadRows
	tg := make([]int32, chunk)
	out := make([]float64, chunk)
	for c0 := 0; c0 < len(scored); c0 += chunk {
		idx := scored[c0:min(c0+chunk, len(scored))]
		n := len(idx)
		xs, _, logits := p.head(x, idx)
		for i, r := range idx {
			tg[i] = targets[r]
		}
		if sum != nil {
			backend.CrossEntropySum(b, sum, logits, tg[:n], n, V, 1)
		} else {
			b.CrossEntropy(out, logits, tg[:n], n, V)
			for i, r := range idx {
				loss[r] = out[i]
			}
		}
		if dx == nil {
			continue
		}
		dh := p.slot("lm_dx", n*h)
		b.CrossEntropyBackward(logits, logits, tg[:n], n, V, scale)
		b.LinearBackward(dh, logits, p.m.LMHead, n, h, V)
		b.RMSNormBackward(dh, dh, xs, p.m.Norm, n, h, float32(c.RMSNormEps))
		// Scored rows come in runs (an answer's tokens are consecutive):
		// one add per run rather than per row, which on a GPU is one
		// launch per answer instead of one per token.
		for i := 0; i < n; {
			j := i + 1
			for j < n && idx[j] == idx[j-1]+1 {
				j++
			}
			b.AddScaled(b.Slice(dx, int(idx[i])*h, (j-i)*h), b.Slice(dh, i*h, (j-i)*h), 1, (j-i)*h)
			i = j
		}
	}
}

// lossResult gathers the per-token losses loss of batch b (whose targets
// are targets) into its LossResult, as transformers' ForCausalLMLoss
// reduces them.
func lossResult(b *Batch, targets []int32, loss []float64) *LossResult {
	res := &LossResult{RowMean: make([]float64, b.Rows), RowTokens: make([]int, b.Rows), Token: make([]float64, b.Rows*(b.T-1))}
	for r := 0; r < b.Rows; r++ {
		var sum float64
		for t := 0; t+1 < b.T; t++ {
			i := r*b.T + t
			if targets[i] == backend.IgnoreIndex {
				continue
			}
			res.Token[r*(b.T-1)+t] = loss[i]
			sum += loss[i]
			res.RowTokens[r]++
		}
		res.RowMean[r] = sum / float64(res.RowTokens[r])
		res.Sum += sum
		res.Tokens += res.RowTokens[r]
	}
	res.Mean = res.Sum / float64(res.Tokens)
	if res.Tokens == 0 {
		res.Mean = math.NaN()
	}
	return res
}

// targets returns the target of every token: the label of the next token
// of its row (labels shifted by one, as transformers' ForCausalLMLoss
// does), IgnoreIndex at the end of each row.
func (b *Batch) targets() []int32 {
	targets := make([]int32, b.Rows*b.T)
	for r := 0; r < b.Rows; r++ {
		for t := 0; t < b.T; t++ {
			i := r*b.T + t
			targets[i] = backend.IgnoreIndex
			if t+1 < b.T {
				targets[i] = labelAt(b, i+1)
			}
		}
	}
	return targets
}

// labelAt is the target at token i: the label, or the id itself when the
// batch has no labels (IgnoreIndex on padding).
func labelAt(b *Batch, i int) int32 {
	if b.Labels != nil {
		return b.Labels[i]
	}
	if b.AttentionMask != nil && b.AttentionMask[i] == 0 {
		return backend.IgnoreIndex
	}
	return b.IDs[i]
}
