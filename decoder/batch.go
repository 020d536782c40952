package decoder

import (
	"fmt"
	"math/rand/v2"
	"sort"
)

// Finish says why a Sequence ended.
type Finish uint8

const (
	// Running: the sequence has not ended.
	Running Finish = iota
	// FinishEOS: it chose an eos id (the last of its tokens).
	FinishEOS
	// FinishLength: it reached Gen.MaxNewTokens.
	FinishLength
	// FinishStopped: its OnToken returned false.
	FinishStopped
	// FinishRemoved: Batcher.Remove ended it.
	FinishRemoved
	// FinishError: its logits were not finite (Sequence.Err says where).
	FinishError
)

// Sequence is one prompt a Batcher continues.
type Sequence struct {
	Prompt []int32
	// Gen holds the sampling settings and the eos ids; Gen.Seed seeds this
	// sequence's own generator, so its tokens do not depend on the
	// sequences decoded beside it.
	Gen GenerationConfig
	// Adapter is the adapter its tokens run through; nil means the
	// model's active adapter (none after SetAdapter(nil)).
	Adapter *DeviceAdapter
	// OnToken, when set, sees each new token but an eos id (which ends the
	// sequence) as it is chosen; returning false ends the sequence
	// (FinishStopped).
	OnToken func(id int32) bool

	slot   int
	tokens []int32 // the new tokens
	seen   []int32 // prompt and new tokens, for the repetition penalty
	rng    *rand.Rand
	finish Finish
	err    error
}

// Tokens returns the new tokens so far.
func (s *Sequence) Tokens() []int32 { return s.tokens }

// Finish says whether and why the sequence ended.
func (s *Sequence) Finish() Finish { return s.finish }

// Err is the error that ended the sequence (FinishError), else nil.
func (s *Sequence) Err() error { return s.err }

// Batcher continues several sequences together over one KVCache of
// slots (continuous batching): Add prefills a sequence into a free slot
// and chooses its first token, Step chooses the next token of every
// running sequence in one pass, and a sequence that ends leaves at once,
// freeing its slot for the next Add. Sequences with different adapters
// share the pass (Input.Adapters). Every row's arithmetic is its own on
// the CPU backend (row-wise kernels), so a sequence's tokens are the same
// bits whichever sequences run beside it.
type Batcher struct {
	m      *Model
	cache  *KVCache
	seqs   []*Sequence // by slot; nil: free
	logits []float32
}

// NewBatcher allocates a batcher of slots sequences of up to maxLen
// positions each (prompt and new tokens). Close frees it.
func (m *Model) NewBatcher(slots, maxLen int) *Batcher {
	if slots < 1 || maxLen < 1 {
		panic(fmt.Sprintf("decoder: NewBatcher of %d slots × %d positions", slots, maxLen))
	}
	return &Batcher{m: m, cache: m.NewKVCache(slots, maxLen), seqs: make([]*Sequence, slots),
		logits: make([]float32, slots*m.Config.VocabSize)}
}

// Close releases the cache; the batcher must not be used afterwards.
func (b *Batcher) Close() { b.m.FreeKVCache(b.cache) }

// MaxLen is the most positions (prompt and new tokens) a sequence can
// hold.
func (b *Batcher) MaxLen() int { return b.cache.Len }

// Running counts the sequences that have not ended.
func (b *Batcher) Running() int {
	n := 0
	for _, s := range b.seqs {
		if s != nil {
			n++
		}
	}
	return n
}

// FreeSlots counts the slots Add can fill.
func (b *Batcher) FreeSlots() int { return len(b.seqs) - b.Running() }

// Add checks s, prefills its prompt into a free slot and chooses its
// first token. It returns an error, and s does not join, for an empty
// prompt, an id outside the vocabulary, settings out of range, a prompt
// and Gen.MaxNewTokens that do not fit the slot or
// max_position_embeddings, or no free slot. s may end at once (its first
// token is an eos id, or MaxNewTokens is 0 or 1).
func (b *Batcher) Add(s *Sequence) error {
	if err := s.Gen.Validate(); err != nil {
		return err
	}
	n := len(s.Prompt)
	if n == 0 {
		return fmt.Errorf("the prompt is empty")
	}
	if err := b.m.Config.CheckIDs(s.Prompt); err != nil {
		return err
	}
	if total := n + s.Gen.MaxNewTokens; total > b.m.Config.MaxPositionEmbeddings {
		return fmt.Errorf("prompt of %d tokens plus %d new tokens exceeds max_position_embeddings %d", n, s.Gen.MaxNewTokens, b.m.Config.MaxPositionEmbeddings)
	}
	// The last new token is never fed back, so it needs no position.
	if need := n + max(s.Gen.MaxNewTokens, 1) - 1; need > b.cache.Len {
		return fmt.Errorf("prompt of %d tokens plus %d new tokens needs %d positions, the batch holds %d per sequence", n, s.Gen.MaxNewTokens, need, b.cache.Len)
	}
	slot := -1
	for i, o := range b.seqs {
		if o == nil {
			slot = i
			break
		}
	}
	if slot < 0 {
		return fmt.Errorf("all %d sequences of the batch are running", len(b.seqs))
	}
	s.slot, s.tokens, s.finish, s.err = slot, nil, Running, nil
	s.seen = append(make([]int32, 0, n+s.Gen.MaxNewTokens), s.Prompt...)
	s.rng = rand.New(rand.NewPCG(s.Gen.Seed, 0x7475_6e65))
	if s.Gen.MaxNewTokens == 0 {
		s.finish = FinishLength
		return nil
	}
	b.seqs[slot] = s
	pos := make([]int32, n)
	for i := range pos {
		pos[i] = int32(i)
	}
	b.choose([]*Sequence{s}, Input{IDs: s.Prompt, Pos: pos, Batch: 1, T: n, Cache: b.cache, Slots: []int{slot}, Starts: []int{0},
		Adapters: []*DeviceAdapter{s.Adapter}, LogitRows: []int{n - 1}})
	return nil
}

// Step chooses the next token of every running sequence in one pass;
// the sequences that end leave the batch.
func (b *Batcher) Step() {
	var rows []*Sequence
	for _, s := range b.seqs {
		if s != nil {
			rows = append(rows, s)
		}
	}
	if len(rows) == 0 {
		return
	}
	// Rows of one adapter side by side share each projection's call.
	sort.SliceStable(rows, func(i, j int) bool { return adapterOrder(rows[i].Adapter) < adapterOrder(rows[j].Adapter) })
	st := Input{IDs: make([]int32, len(rows)), Pos: make([]int32, len(rows)), Batch: len(rows), T: 1, Cache: b.cache,
		Slots: make([]int, len(rows)), Starts: make([]int, len(rows)), Adapters: make([]*DeviceAdapter, len(rows))}
	for r, s := range rows {
		at := len(s.seen) - 1 // the last token's position: it is fed now
		st.IDs[r], st.Pos[r], st.Slots[r], st.Starts[r], st.Adapters[r] = s.seen[at], int32(at), s.slot, at, s.Adapter
	}
	b.choose(rows, st)
}

// adapterOrder sorts rows by adapter: the model's own first, then in the
// order the adapters were uploaded.
func adapterOrder(d *DeviceAdapter) uint64 {
	if d == nil {
		return 0
	}
	return d.id
}

// choose runs st, whose row r (the last logit row of it) belongs to
// rows[r], and picks each row's next token.
func (b *Batcher) choose(rows []*Sequence, st Input) {
	v := b.m.Config.VocabSize
	logits := b.logits[:len(rows)*v]
	b.m.Backend.Download(logits, b.m.Forward(st))
	for r, s := range rows {
		row := logits[r*v : (r+1)*v]
		if err := checkLogits(row); err != nil {
			b.end(s, FinishError, fmt.Errorf("new token %d: %w", len(s.tokens)+1, err))
			continue
		}
		id := pick(row, s.seen, &s.Gen, s.rng)
		s.tokens = append(s.tokens, id)
		s.seen = append(s.seen, id)
		switch {
		case s.Gen.isEOS(id):
			b.end(s, FinishEOS, nil)
		case s.OnToken != nil && !s.OnToken(id):
			b.end(s, FinishStopped, nil)
		case len(s.tokens) == s.Gen.MaxNewTokens:
			b.end(s, FinishLength, nil)
		}
	}
}

// Remove ends s, if it is running, and frees its slot at once.
func (b *Batcher) Remove(s *Sequence) {
	if s.finish == Running && b.seqs[s.slot] == s {
		b.end(s, FinishRemoved, nil)
	}
}

func (b *Batcher) end(s *Sequence, f Finish, err error) {
	s.finish, s.err = f, err
	b.seqs[s.slot] = nil
}
