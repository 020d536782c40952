package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// Example is one tokenized training record.
type Example struct {
	// IDs and Labels are aligned, with Hugging Face semantics: Labels[i]
	// is the target of position i before the in-loss causal shift (so the
	// token at i-1 predicts it), and backend.IgnoreIndex (-100) is ignored.
	IDs, Labels []int32
	// Line is the record's 1-based line in its file, for messages.
	Line int
}

// Targets is the number of counted targets: labels that are not
// backend.IgnoreIndex after the causal shift (positions 1..n-1; the label
// of position 0 has no token before it and never counts).
func (e Example) Targets() int {
	n := 0
	for i := 1; i < len(e.Labels); i++ {
		if e.Labels[i] != backend.IgnoreIndex {
			n++
		}
	}
	return n
}

// Dataset is a tokenized JSONL file.
type Dataset struct {
	Path     string
	Examples []Example
	// Truncated counts the records cut to the maximum length (kept when a
	// target is left).
	Truncated int
	// Skipped counts the records with no target left (after truncation,
	// or none to begin with): they are dropped.
	Skipped int
	// EmptyAnswers are the lines of the chat records whose answers are
	// all blank: they are dropped, since they would only teach the model
	// to answer nothing.
	EmptyAnswers []int
	// systems are the distinct system turns of the kept chat records in
	// the order first seen, with their counts in systemCount.
	systems     []string
	systemCount map[string]int
}

// LoadDataset reads a JSONL file of instruction/input/output, messages or
// input_ids/labels records (mixed in one file is fine) and tokenizes it
// with tok. tok may be nil when every record is pre-tokenized; a text
// record without a tokenizer is an error naming file:line. Records longer
// than maxLength tokens keep their first maxLength tokens (maxLength <= 0
// keeps everything) and are counted in Truncated; records left with no
// target are dropped and counted in Skipped, and chat records whose answers
// are all blank are dropped and listed in EmptyAnswers. An empty file, or
// one with no usable record, is an error naming the file.
func LoadDataset(path string, tok *tokenizer.Tokenizer, maxLength int) (*Dataset, error) {
	ds := &Dataset{Path: path, systemCount: map[string]int{}}
	records := 0
	err := ReadJSONL(path, func(line int, r Record) error {
		records++
		if r.emptyAnswer() {
			ds.EmptyAnswers = append(ds.EmptyAnswers, line)
			return nil
		}
		ids, labels, err := r.Tokenize(tok)
		if err != nil {
			return err
		}
		if maxLength > 0 && len(ids) > maxLength {
			ids = slices.Clone(ids[:maxLength])
			labels = slices.Clone(labels[:maxLength])
			ds.Truncated++
		}
		ex := Example{IDs: ids, Labels: labels, Line: line}
		if ex.Targets() == 0 {
			ds.Skipped++
			return nil
		}
		ds.Examples = append(ds.Examples, ex)
		if sys, ok := r.System(tok); ok {
			if ds.systemCount[sys] == 0 {
				ds.systems = append(ds.systems, sys)
			}
			ds.systemCount[sys]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if records == 0 {
		return nil, fmt.Errorf("%s: no records (the file is empty)", path)
	}
	if len(ds.Examples) == 0 {
		return nil, fmt.Errorf("%s: none of the %d records has a target left (%d with an empty answer, max length %d); nothing to train on", path, records, len(ds.EmptyAnswers), maxLength)
	}
	return ds, nil
}

// SystemPrompt is the system prompt to record with an adapter trained on
// d: the most common system turn of its kept chat records (the first seen
// among equals), with counts; nil when d holds no chat record.
func (d *Dataset) SystemPrompt() *lora.SystemPrompt {
	if len(d.systems) == 0 {
		return nil
	}
	p := &lora.SystemPrompt{Distinct: len(d.systems)}
	for _, s := range d.systems {
		n := d.systemCount[s]
		p.ChatRecords += n
		if n > p.Records {
			p.Prompt, p.Records = s, n
		}
	}
	return p
}

// DatasetStats summarizes a dataset for printing.
type DatasetStats struct {
	Records    int     // examples kept
	Tokens     int     // tokens over all examples
	Targets    int     // counted targets over all examples
	Truncated  int     // records cut to the maximum length
	Skipped    int     // records dropped for having no target
	Empty      int     // records dropped for an empty answer
	MeanLength float64 // mean example length in tokens
	MaxLength  int     // longest example in tokens
}

// String formats the statistics on one line.
func (s DatasetStats) String() string {
	return fmt.Sprintf("%d records, %d tokens, %d targets, mean length %.1f, max length %d, %d truncated, %d skipped with no target, %d skipped with an empty answer",
		s.Records, s.Tokens, s.Targets, s.MeanLength, s.MaxLength, s.Truncated, s.Skipped, s.Empty)
}

// Stats returns the dataset's statistics.
func (d *Dataset) Stats() DatasetStats {
	s := DatasetStats{Records: len(d.Examples), Truncated: d.Truncated, Skipped: d.Skipped, Empty: len(d.EmptyAnswers)}
	for _, e := range d.Examples {
		s.Tokens += len(e.IDs)
		s.Targets += e.Targets()
		s.MaxLength = max(s.MaxLength, len(e.IDs))
	}
	if s.Records > 0 {
		s.MeanLength = float64(s.Tokens) / float64(s.Records)
	}
	return s
}

// Batch is one right-padded micro-batch: the model's batch (the slices
// hold Rows*T entries, row-major) and its counts. Pos are the RoPE
// position ids: 0, 1, ... restarting at 0 for each packed sequence; 0 on
// padding. AttentionMask is 0 on padding and otherwise the 1-based
// segment id of the sequence the token belongs to within its row (1 for
// every real token when not packing), so attention can stay inside each
// sequence.
type Batch struct {
	decoder.Batch
	// Targets counts the targets in the micro-batch after the causal
	// shift. The label of the first token of every sequence is set to
	// backend.IgnoreIndex, so no target crosses a sequence boundary and
	// Targets is the sum of the examples' Targets.
	Targets int
	// Tokens counts the real (non-padding) tokens.
	Tokens int
}

// LoaderConfig sets how a Loader forms micro-batches.
type LoaderConfig struct {
	// BatchSize is the number of rows per micro-batch (examples, or packed
	// rows with Pack). It must be at least 1.
	BatchSize int
	// Pack concatenates examples into rows of up to MaxLength tokens.
	Pack bool
	// MaxLength is the packed row length; <= 0 means the longest example.
	// An example longer than MaxLength gets a row of its own (it is never
	// split). Unused without Pack.
	MaxLength int
	// Seed seeds the shuffles.
	Seed uint64
	// Shuffle permutes the rows every epoch; without it every epoch runs
	// in file order.
	Shuffle bool
	// PadID fills the IDs of padding positions.
	PadID int32
}

// Position is a data position for checkpoints: the next micro-batch to
// train on is Batch(Epoch, Index).
type Position struct {
	Epoch int `json:"epoch"`
	Index int `json:"index"`
}

// Loader cuts a dataset into micro-batches. Its output depends only on the
// dataset, the config and (epoch, index), so a run resumes from a Position
// alone. It is safe for concurrent use.
type Loader struct {
	ds   *Dataset
	cfg  LoaderConfig
	rows [][]int // each row's examples, in order

	mu        sync.Mutex
	permEpoch int
	perm      []int // row order of permEpoch; nil before the first use
}

// packStream is the PCG stream that orders the examples before packing,
// apart from every epoch's stream (epochs are non-negative).
const packStream = math.MaxUint64

// NewLoader returns a loader over ds. It panics when cfg.BatchSize < 1 or
// the dataset is empty.
//
// Without Pack every row is one example. With Pack the examples are
// concatenated greedily, in a seeded order (file order without Shuffle),
// into rows of up to MaxLength tokens, each row holding whole examples.
// The packing is fixed for the run so that BatchesPerEpoch does not depend
// on the epoch; the epochs then shuffle the rows.
func NewLoader(ds *Dataset, cfg LoaderConfig) *Loader {
	if cfg.BatchSize < 1 {
		panic(fmt.Sprintf("data: batch size %d < 1", cfg.BatchSize))
	}
	if len(ds.Examples) == 0 {
		panic("data: empty dataset")
	}
	l := &Loader{ds: ds, cfg: cfg}
	n := len(ds.Examples)
	if !cfg.Pack {
		l.rows = make([][]int, n)
		for i := range l.rows {
			l.rows[i] = []int{i}
		}
		return l
	}
	order := identity(n)
	if cfg.Shuffle {
		order = rand.New(rand.NewPCG(cfg.Seed, packStream)).Perm(n)
	}
	limit := cfg.MaxLength
	if limit <= 0 {
		for _, e := range ds.Examples {
			limit = max(limit, len(e.IDs))
		}
	}
	var row []int
	used := 0
	for _, i := range order {
		k := len(ds.Examples[i].IDs)
		if len(row) > 0 && used+k > limit {
			l.rows = append(l.rows, row)
			row, used = nil, 0
		}
		row = append(row, i)
		used += k
	}
	l.rows = append(l.rows, row)
	return l
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// Rows is the number of rows per epoch (examples, or packed rows).
func (l *Loader) Rows() int { return len(l.rows) }

// BatchesPerEpoch is the number of micro-batches in an epoch; the last one
// may hold fewer than BatchSize rows.
func (l *Loader) BatchesPerEpoch() int {
	return (len(l.rows) + l.cfg.BatchSize - 1) / l.cfg.BatchSize
}

// Next returns the position after p, moving on to the next epoch after its
// last micro-batch.
func (l *Loader) Next(p Position) Position {
	p.Index++
	if p.Index >= l.BatchesPerEpoch() {
		p.Epoch, p.Index = p.Epoch+1, 0
	}
	return p
}

// order returns epoch's row order: a permutation drawn from a PCG seeded
// with (Seed, epoch), or file order without Shuffle.
func (l *Loader) order(epoch int) []int {
	if !l.cfg.Shuffle {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perm == nil || l.permEpoch != epoch {
		l.perm = rand.New(rand.NewPCG(l.cfg.Seed, uint64(epoch))).Perm(len(l.rows))
		l.permEpoch = epoch
	}
	return l.perm
}

// EpochRows returns the examples of every row of epoch, in training order
// (indices into the dataset's Examples).
func (l *Loader) EpochRows(epoch int) [][]int {
	perm := l.order(epoch)
	out := make([][]int, len(l.rows))
	for i := range out {
		r := i
		if perm != nil {
			r = perm[i]
		}
		out[i] = slices.Clone(l.rows[r])
	}
	return out
}

// Batch returns micro-batch index of epoch, padded on the right to its
// longest row (dynamic padding). It is deterministic and needs no earlier
// call. It panics when epoch < 0 or index is out of range.
func (l *Loader) Batch(epoch, index int) Batch {
	if epoch < 0 || index < 0 || index >= l.BatchesPerEpoch() {
		panic(fmt.Sprintf("data: batch (%d, %d) out of range (%d per epoch)", epoch, index, l.BatchesPerEpoch()))
	}
	perm := l.order(epoch)
	lo := index * l.cfg.BatchSize
	hi := min(lo+l.cfg.BatchSize, len(l.rows))
	rows := make([][]int, 0, hi-lo)
	T := 0
	for i := lo; i < hi; i++ {
		r := i
		if perm != nil {
			r = perm[i]
		}
		rows = append(rows, l.rows[r])
		n := 0
		for _, e := range l.rows[r] {
			n += len(l.ds.Examples[e].IDs)
		}
		T = max(T, n)
	}
	b := Batch{Batch: decoder.Batch{
		IDs:           make([]int32, len(rows)*T),
		Labels:        make([]int32, len(rows)*T),
		Pos:           make([]int32, len(rows)*T),
		AttentionMask: make([]int32, len(rows)*T),
		Rows:          len(rows),
		T:             T,
	}}
	for r, row := range rows {
		at := r * T
		for s, e := range row {
			ex := l.ds.Examples[e]
			for j := range ex.IDs {
				b.IDs[at] = ex.IDs[j]
				if j == 0 {
					b.Labels[at] = backend.IgnoreIndex
				} else {
					b.Labels[at] = ex.Labels[j]
					if ex.Labels[j] != backend.IgnoreIndex {
						b.Targets++
					}
				}
				b.Pos[at] = int32(j)
				b.AttentionMask[at] = int32(s + 1)
				at++
			}
			b.Tokens += len(ex.IDs)
		}
		for ; at < (r+1)*T; at++ {
			b.IDs[at] = l.cfg.PadID
			b.Labels[at] = backend.IgnoreIndex
		}
	}
	return b
}
