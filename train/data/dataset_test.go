package data

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
)

const ignore = backend.IgnoreIndex

func writeJSONL(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	return path
}

// pretokenized returns a JSONL line with the given ids and labels (nil
// labels: the field is left out).
func pretokenized(ids, labels []int32) string {
	m := map[string]any{"input_ids": ids}
	if labels != nil {
		m["labels"] = labels
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// syntheticDataset builds a dataset of pre-tokenized examples of the given
// lengths. Example k has ids 1000k+1, 1000k+2, ... (so every token tells
// which example it comes from) and labels equal to its ids except that
// every third position is ignored.
func syntheticDataset(lengths ...int) *Dataset {
	ds := &Dataset{Path: "synthetic"}
	for k, n := range lengths {
		ex := Example{Line: k + 1}
		for j := range n {
			id := int32(1000*k + j + 1)
			ex.IDs = append(ex.IDs, id)
			if j%3 == 2 {
				ex.Labels = append(ex.Labels, ignore)
			} else {
				ex.Labels = append(ex.Labels, id)
			}
		}
		ds.Examples = append(ds.Examples, ex)
	}
	return ds
}

func TestLoadDatasetRecordKinds(t *testing.T) {
	tok := loadTokenizer(t)
	lines := []string{
		`{"instruction": "You are terse.", "input": "What is 2+2?", "output": "4"}`,
		``, // blank lines are skipped but still numbered
		`{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]}`,
		pretokenized([]int32{5, 6, 7, 8}, []int32{ignore, ignore, 7, 8}),
		pretokenized([]int32{9, 10, 11}, nil),
	}
	path := writeJSONL(t, lines...)
	ds, err := LoadDataset(path, tok, 0)
	require.NoError(t, err)
	require.Equal(t, path, ds.Path)
	require.Len(t, ds.Examples, 4)
	require.Zero(t, ds.Truncated)
	require.Zero(t, ds.Skipped)

	wantLines := []int{1, 3, 4, 5}
	for i, ex := range ds.Examples {
		require.Equal(t, wantLines[i], ex.Line)
		r, err := ParseRecord([]byte(lines[ex.Line-1]))
		require.NoError(t, err)
		ids, labels, err := r.Tokenize(tok)
		require.NoError(t, err)
		require.Equal(t, ids, ex.IDs)
		require.Equal(t, labels, ex.Labels)
		require.Positive(t, ex.Targets())
	}
	// The chat records train only on the answers and their <|im_end|>.
	imEnd, ok := tok.TokenID("<|im_end|>")
	require.True(t, ok)
	var trained []int
	for i, l := range ds.Examples[1].Labels {
		if l != ignore {
			trained = append(trained, int(l))
			require.Equal(t, ds.Examples[1].IDs[i], l)
		}
	}
	require.Equal(t, "Hello!<|im_end|>Goodbye.<|im_end|>", tok.Decode(trained, false))
	require.Equal(t, len(tok.Encode("Hello!"))+len(tok.Encode("Goodbye."))+2, ds.Examples[1].Targets())
	require.Contains(t, ds.Examples[1].IDs, int32(imEnd))

	require.Equal(t, []int32{5, 6, 7, 8}, ds.Examples[2].IDs)
	require.Equal(t, []int32{ignore, ignore, 7, 8}, ds.Examples[2].Labels)
	require.Equal(t, 2, ds.Examples[2].Targets())
	require.Equal(t, []int32{9, 10, 11}, ds.Examples[3].Labels)
	require.Equal(t, 2, ds.Examples[3].Targets(), "the first position is never a target")
}

// TestLoadDatasetEmptyAnswers drops the chat records whose answers are all
// blank and lists their lines; a record with one real answer stays.
func TestLoadDatasetEmptyAnswers(t *testing.T) {
	tok := loadTokenizer(t)
	path := writeJSONL(t,
		`{"input": "Q1", "output": "A1"}`,
		`{"input": "Q2", "output": ""}`,
		`{"input": "Q3", "output": " \n "}`,
		`{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]}`,
		`{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "?"}, {"role": "assistant", "content": "Yes"}]}`,
		pretokenized([]int32{1, 2}, []int32{ignore, ignore}))
	ds, err := LoadDataset(path, tok, 0)
	require.NoError(t, err)
	require.Equal(t, []int{2, 3, 4}, ds.EmptyAnswers)
	require.Equal(t, 1, ds.Skipped, "the pre-tokenized record has no target")
	require.Len(t, ds.Examples, 2)
	require.Equal(t, []int{1, 5}, []int{ds.Examples[0].Line, ds.Examples[1].Line})
	require.Contains(t, ds.Stats().String(), "1 skipped with no target, 3 skipped with an empty answer")

	path = writeJSONL(t, `{"input": "Q", "output": ""}`)
	_, err = LoadDataset(path, tok, 0)
	require.ErrorContains(t, err, "none of the 1 records has a target left (1 with an empty answer")
}

func TestLoadDatasetWithoutTokenizer(t *testing.T) {
	path := writeJSONL(t,
		pretokenized([]int32{1, 2, 3}, nil),
		pretokenized([]int32{4, 5}, []int32{ignore, 5}))
	ds, err := LoadDataset(path, nil, 0)
	require.NoError(t, err)
	require.Len(t, ds.Examples, 2)
	require.Equal(t, []int32{4, 5}, ds.Examples[1].IDs)

	path = writeJSONL(t,
		pretokenized([]int32{1, 2, 3}, nil),
		`{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}`)
	_, err = LoadDataset(path, nil, 0)
	require.ErrorContains(t, err, path+":2:")
	require.ErrorContains(t, err, "tokenizer")
}

func TestLoadDatasetTruncation(t *testing.T) {
	path := writeJSONL(t,
		pretokenized([]int32{1, 2, 3, 4, 5, 6}, nil),                                           // truncated, kept
		pretokenized([]int32{1, 2, 3}, nil),                                                    // fits
		pretokenized([]int32{1, 2, 3, 4, 5, 6}, []int32{ignore, ignore, ignore, ignore, 5, 6}), // truncated, no target left
		pretokenized([]int32{7}, nil),                                                          // no target at all
		pretokenized([]int32{1, 2, 3, 4}, nil),                                                 // exactly maxLength
	)
	ds, err := LoadDataset(path, nil, 4)
	require.NoError(t, err)
	require.Equal(t, 2, ds.Truncated)
	require.Equal(t, 2, ds.Skipped)
	require.Len(t, ds.Examples, 3)
	require.Equal(t, []int32{1, 2, 3, 4}, ds.Examples[0].IDs)
	require.Equal(t, []int32{1, 2, 3, 4}, ds.Examples[0].Labels)
	require.Equal(t, 1, ds.Examples[0].Line)
	require.Equal(t, 2, ds.Examples[1].Line)
	require.Equal(t, 5, ds.Examples[2].Line)

	st := ds.Stats()
	require.Equal(t, DatasetStats{Records: 3, Tokens: 11, Targets: 3 + 2 + 3, Truncated: 2, Skipped: 2, MeanLength: 11.0 / 3, MaxLength: 4}, st)
	require.Contains(t, st.String(), "3 records")

	// Without a limit nothing is truncated.
	ds, err = LoadDataset(path, nil, 0)
	require.NoError(t, err)
	require.Zero(t, ds.Truncated)
	require.Equal(t, 1, ds.Skipped)
	require.Len(t, ds.Examples[0].IDs, 6)

	// A chat record cut before its answer has no target left.
	tok := loadTokenizer(t)
	path = writeJSONL(t, `{"instruction": "", "input": "a long question that takes many tokens", "output": "yes"}`)
	_, err = LoadDataset(path, tok, 8)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "no")
}

func TestLoadDatasetErrors(t *testing.T) {
	path := writeJSONL(t, pretokenized([]int32{1, 2}, nil), pretokenized([]int32{1, 2}, nil), `{"input_ids": [1, 2`)
	_, err := LoadDataset(path, nil, 0)
	require.ErrorContains(t, err, path+":3:")

	path = writeJSONL(t, `{"output": "x", "messages": []}`)
	_, err = LoadDataset(path, nil, 0)
	require.ErrorContains(t, err, path+":1:")

	for _, body := range []string{"", "\n\n  \n"} {
		path = filepath.Join(t.TempDir(), "empty.jsonl")
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		_, err = LoadDataset(path, nil, 0)
		require.ErrorContains(t, err, path)
		require.ErrorContains(t, err, "empty")
	}

	path = writeJSONL(t, pretokenized([]int32{1}, nil), pretokenized([]int32{1, 2}, []int32{1, ignore}))
	_, err = LoadDataset(path, nil, 0)
	require.ErrorContains(t, err, path)
	require.ErrorContains(t, err, "none of the 2 records has a target")

	_, err = LoadDataset(filepath.Join(t.TempDir(), "missing.jsonl"), nil, 0)
	require.ErrorContains(t, err, "missing.jsonl")
}

func TestExampleTargets(t *testing.T) {
	for _, c := range []struct {
		labels []int32
		want   int
	}{
		{nil, 0},
		{[]int32{5}, 0},
		{[]int32{5, 6}, 1},
		{[]int32{ignore, 6, ignore, 8, 9}, 3},
		{[]int32{ignore, ignore, ignore}, 0},
	} {
		require.Equal(t, c.want, Example{Labels: c.labels}.Targets(), "%v", c.labels)
	}
	// Hand count of the synthetic example of length 7: positions 1..6,
	// of which 2 and 5 are ignored.
	require.Equal(t, 4, syntheticDataset(7).Examples[0].Targets())
}

func TestDynamicPadding(t *testing.T) {
	ds := &Dataset{Examples: []Example{
		{IDs: []int32{11, 12, 13}, Labels: []int32{11, 12, 13}},
		{IDs: []int32{21, 22, 23, 24, 25}, Labels: []int32{ignore, ignore, 23, ignore, 25}},
		{IDs: []int32{31, 32}, Labels: []int32{ignore, 32}},
	}}
	l := NewLoader(ds, LoaderConfig{BatchSize: 2, PadID: 99})
	require.Equal(t, 2, l.BatchesPerEpoch())

	b := l.Batch(0, 0)
	P := int32(99)
	require.Equal(t, 2, b.Rows)
	require.Equal(t, 5, b.T)
	require.Equal(t, []int32{11, 12, 13, P, P, 21, 22, 23, 24, 25}, b.IDs)
	require.Equal(t, []int32{ignore, 12, 13, ignore, ignore, ignore, ignore, 23, ignore, 25}, b.Labels)
	require.Equal(t, []int32{0, 1, 2, 0, 0, 0, 1, 2, 3, 4}, b.Pos)
	require.Equal(t, []int32{1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, b.AttentionMask)
	require.Equal(t, 4, b.Targets)
	require.Equal(t, ds.Examples[0].Targets()+ds.Examples[1].Targets(), b.Targets)
	require.Equal(t, 8, b.Tokens)

	// The last, partial batch is kept and padded to its own longest row.
	b = l.Batch(0, 1)
	require.Equal(t, 1, b.Rows)
	require.Equal(t, 2, b.T)
	require.Equal(t, []int32{31, 32}, b.IDs)
	require.Equal(t, []int32{ignore, 32}, b.Labels)
	require.Equal(t, []int32{0, 1}, b.Pos)
	require.Equal(t, []int32{1, 1}, b.AttentionMask)
	require.Equal(t, 1, b.Targets)
	require.Equal(t, 2, b.Tokens)

	require.Panics(t, func() { l.Batch(0, 2) })
	require.Panics(t, func() { l.Batch(-1, 0) })
	require.Panics(t, func() { NewLoader(ds, LoaderConfig{}) })
}

func TestBatchSizeLargerThanDataset(t *testing.T) {
	ds := syntheticDataset(4, 2, 6)
	for _, pack := range []bool{false, true} {
		l := NewLoader(ds, LoaderConfig{BatchSize: 10, Pack: pack, MaxLength: 6, Shuffle: true, Seed: 3})
		require.Equal(t, 1, l.BatchesPerEpoch())
		b := l.Batch(0, 0)
		require.Equal(t, l.Rows(), b.Rows)
		require.Equal(t, 12, b.Tokens)
		require.Equal(t, ds.Stats().Targets, b.Targets)
		require.Equal(t, Position{Epoch: 1}, l.Next(Position{}))
	}
}

func TestLastPartialBatch(t *testing.T) {
	ds := syntheticDataset(3, 3, 3, 3, 3, 3, 3)
	l := NewLoader(ds, LoaderConfig{BatchSize: 3, Shuffle: true, Seed: 1})
	require.Equal(t, 3, l.BatchesPerEpoch())
	rows := 0
	for i := range l.BatchesPerEpoch() {
		rows += l.Batch(0, i).Rows
	}
	require.Equal(t, 7, rows)
	require.Equal(t, 1, l.Batch(0, 2).Rows)
}

// segmentsOf splits a batch back into its sequences, checking the layout
// invariants on the way: segment ids count up from 1 within a row, padding
// only at the end of a row, positions restart at 0 for every sequence, the
// first label of every sequence is ignored, padding labels are ignored.
func segmentsOf(t *testing.T, b Batch, padID int32) (seqs []Example) {
	t.Helper()
	require.Len(t, b.IDs, b.Rows*b.T)
	require.Len(t, b.Labels, b.Rows*b.T)
	require.Len(t, b.Pos, b.Rows*b.T)
	require.Len(t, b.AttentionMask, b.Rows*b.T)
	tokens, targets := 0, 0
	for r := range b.Rows {
		seg := int32(0)
		padded := false
		for j := range b.T {
			i := r*b.T + j
			if b.Labels[i] != ignore {
				targets++
			}
			if b.AttentionMask[i] == 0 {
				padded = true
				require.Equal(t, padID, b.IDs[i])
				require.Equal(t, int32(ignore), b.Labels[i])
				continue
			}
			require.False(t, padded, "real token after padding")
			tokens++
			if b.AttentionMask[i] != seg {
				require.Equal(t, seg+1, b.AttentionMask[i], "segment ids count up")
				seg++
				require.Zero(t, b.Pos[i], "positions restart")
				require.Equal(t, int32(ignore), b.Labels[i], "no target crosses a boundary")
				seqs = append(seqs, Example{})
			} else {
				require.Equal(t, b.Pos[i-1]+1, b.Pos[i])
			}
			s := &seqs[len(seqs)-1]
			s.IDs = append(s.IDs, b.IDs[i])
			s.Labels = append(s.Labels, b.Labels[i])
		}
		require.Positive(t, seg, "every row holds a sequence")
	}
	require.Equal(t, b.Tokens, tokens)
	require.Equal(t, b.Targets, targets)
	full := false
	for r := range b.Rows {
		full = full || b.AttentionMask[r*b.T+b.T-1] != 0
	}
	require.True(t, full, "T is the longest row")
	return seqs
}

// exampleOf finds which synthetic example a sequence is and checks that it
// is that example whole.
func exampleOf(t *testing.T, ds *Dataset, s Example) int {
	t.Helper()
	k := int(s.IDs[0]-1) / 1000
	ex := ds.Examples[k]
	require.Equal(t, ex.IDs, s.IDs)
	require.Equal(t, ignore, int(s.Labels[0]))
	require.Equal(t, ex.Labels[1:], s.Labels[1:])
	return k
}

func TestPacking(t *testing.T) {
	lengths := []int{5, 3, 8, 2, 4, 4, 7, 2, 6, 3, 12, 5, 5, 3, 8}
	ds := syntheticDataset(lengths...)
	const maxLen = 10
	for _, shuffle := range []bool{false, true} {
		l := NewLoader(ds, LoaderConfig{BatchSize: 2, Pack: true, MaxLength: maxLen, Shuffle: shuffle, Seed: 42, PadID: -1})
		require.Less(t, l.Rows(), len(lengths), "packing saves rows")
		for epoch := range 3 {
			seen := make([]int, len(lengths))
			rows, segs := 0, 0
			for i := range l.BatchesPerEpoch() {
				b := l.Batch(epoch, i)
				require.LessOrEqual(t, b.Rows, 2)
				rows += b.Rows
				for r := range b.Rows {
					n := 0
					for j := range b.T {
						if b.AttentionMask[r*b.T+j] != 0 {
							n++
						}
					}
					// Rows hold up to maxLen tokens, except an example
					// longer than that, which gets a row of its own.
					if n > maxLen {
						require.Equal(t, int32(1), b.AttentionMask[r*b.T+n-1])
						require.Equal(t, 12, n)
					}
				}
				for _, s := range segmentsOf(t, b, -1) {
					seen[exampleOf(t, ds, s)]++
					segs++
				}
			}
			require.Equal(t, l.Rows(), rows)
			require.Equal(t, len(lengths), segs)
			for k, c := range seen {
				require.Equal(t, 1, c, "example %d appears once in epoch %d", k, epoch)
			}
			require.Less(t, rows, segs, "some rows hold several examples")
		}
	}

	// Greedy packing in file order without Shuffle.
	l := NewLoader(syntheticDataset(3, 4, 5, 2, 2, 9), LoaderConfig{BatchSize: 1, Pack: true, MaxLength: 9})
	require.Equal(t, [][]int{{0, 1}, {2, 3, 4}, {5}}, l.EpochRows(0))
	b := l.Batch(0, 1)
	require.Equal(t, []int32{2001, 2002, 2003, 2004, 2005, 3001, 3002, 4001, 4002}, b.IDs)
	require.Equal(t, []int32{0, 1, 2, 3, 4, 0, 1, 0, 1}, b.Pos)
	require.Equal(t, []int32{1, 1, 1, 1, 1, 2, 2, 3, 3}, b.AttentionMask)
	require.Equal(t, []int32{ignore, 2002, ignore, 2004, 2005, ignore, 3002, ignore, 4002}, b.Labels)
	require.Equal(t, 5, b.Targets)

	// MaxLength <= 0 packs up to the longest example.
	l = NewLoader(syntheticDataset(3, 4, 5, 2, 2, 9), LoaderConfig{BatchSize: 1, Pack: true})
	require.Equal(t, 3, l.Rows())
}

func TestShuffleDeterministic(t *testing.T) {
	ds := syntheticDataset(slices.Repeat([]int{2, 3, 4, 5, 6}, 8)...)
	cfg := LoaderConfig{BatchSize: 4, Shuffle: true, Seed: 7}
	a, b := NewLoader(ds, cfg), NewLoader(ds, cfg)
	cfg.Seed = 8
	c := NewLoader(ds, cfg)
	order := func(l *Loader, epoch int) []int {
		var out []int
		for _, row := range l.EpochRows(epoch) {
			out = append(out, row...)
		}
		return out
	}
	for epoch := range 3 {
		require.Equal(t, order(a, epoch), order(b, epoch))
		for i := range a.BatchesPerEpoch() {
			require.Equal(t, a.Batch(epoch, i), b.Batch(epoch, i))
		}
		require.NotEqual(t, order(a, epoch), order(c, epoch), "seed changes the order")
		require.ElementsMatch(t, order(a, epoch), identityOf(len(ds.Examples)))
	}
	require.NotEqual(t, order(a, 0), order(a, 1), "epochs differ")
	require.NotEqual(t, order(a, 1), order(a, 2), "epochs differ")
	require.NotEqual(t, order(a, 0), identityOf(len(ds.Examples)))

	// Without Shuffle every epoch is in file order.
	l := NewLoader(ds, LoaderConfig{BatchSize: 4, Seed: 7})
	require.Equal(t, identityOf(len(ds.Examples)), order(l, 0))
	require.Equal(t, identityOf(len(ds.Examples)), order(l, 5))
}

func identityOf(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestRandomAccessEqualsSequential(t *testing.T) {
	ds := syntheticDataset(slices.Repeat([]int{2, 7, 4, 9, 3, 5}, 5)...)
	for _, pack := range []bool{false, true} {
		cfg := LoaderConfig{BatchSize: 3, Pack: pack, MaxLength: 12, Shuffle: true, Seed: 11, PadID: 0}
		seq := NewLoader(ds, cfg)
		var want []Batch
		var pos []Position
		p := Position{}
		for p.Epoch < 3 {
			want = append(want, seq.Batch(p.Epoch, p.Index))
			pos = append(pos, p)
			p = seq.Next(p)
		}
		require.Len(t, want, 3*seq.BatchesPerEpoch())
		// A fresh loader, asked in reverse and interleaved epoch order
		// (as a resumed run would), gives the same batches.
		fresh := NewLoader(ds, cfg)
		for i := len(pos) - 1; i >= 0; i-- {
			require.Equal(t, want[i], fresh.Batch(pos[i].Epoch, pos[i].Index), "%+v", pos[i])
			j := (i * 7) % len(pos)
			require.Equal(t, want[j], fresh.Batch(pos[j].Epoch, pos[j].Index), "%+v", pos[j])
		}
		// Concurrent use is safe and gives the same batches.
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := g; i < len(pos); i += 4 {
					if b := fresh.Batch(pos[i].Epoch, pos[i].Index); !slices.Equal(b.IDs, want[i].IDs) {
						t.Errorf("concurrent batch %+v differs", pos[i])
					}
				}
			})
		}
		wg.Wait()
	}
}

func TestPositionJSON(t *testing.T) {
	b, err := json.Marshal(Position{Epoch: 2, Index: 17})
	require.NoError(t, err)
	require.JSONEq(t, `{"epoch": 2, "index": 17}`, string(b))
	var p Position
	require.NoError(t, json.Unmarshal(b, &p))
	require.Equal(t, Position{Epoch: 2, Index: 17}, p)

	l := NewLoader(syntheticDataset(2, 2, 2, 2, 2), LoaderConfig{BatchSize: 2})
	require.Equal(t, Position{0, 1}, l.Next(Position{0, 0}))
	require.Equal(t, Position{0, 2}, l.Next(Position{0, 1}))
	require.Equal(t, Position{1, 0}, l.Next(Position{0, 2}))
}
