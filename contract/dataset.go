package contract

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// ParseSplit parses "0.8,0.1,0.1" into train/validation/test ratios. Each
// must be in [0,1] and they must sum to 1 within 1e-6.
func ParseSplit(s string) ([3]float64, error) {
	var r [3]float64
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return r, fmt.Errorf("split %q: want three comma-separated ratios like 0.8,0.1,0.1", s)
	}
	sum := 0.0
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v > 1 || math.IsNaN(v) {
			return r, fmt.Errorf("split %q: ratio %q is not a number in [0,1]", s, p)
		}
		r[i] = v
		sum += v
	}
	if math.Abs(sum-1) > 1e-6 {
		return r, fmt.Errorf("split %q: ratios sum to %g, want 1", s, sum)
	}
	return r, nil
}

// SplitRecords splits records into train, validation and test. Records are
// grouped by (source, clause id), so a clause and all its variants land in
// one split; groups are shuffled with the seed and each goes to the split
// furthest below its target share. Order inside a split follows the input.
func SplitRecords(records []Record, split [3]float64, seed int64) (train, val, test []Record) {
	groups := map[string][]int{}
	for i, r := range records {
		k := r.Source + "\x00" + r.ClauseID
		groups[k] = append(groups[k], i)
	}
	keys := sortedKeys(groups)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x73706c74))
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	assign := make([]int, len(records))
	var count [3]float64
	done := 0.0
	for _, k := range keys {
		g := float64(len(groups[k]))
		best, bestGap := -1, math.Inf(-1)
		for s := 0; s < 3; s++ {
			if split[s] <= 0 {
				continue
			}
			if gap := split[s]*(done+g) - count[s]; gap > bestGap {
				best, bestGap = s, gap
			}
		}
		if best < 0 {
			best = 0
		}
		for _, i := range groups[k] {
			assign[i] = best
		}
		count[best] += g
		done += g
	}
	for i, r := range records {
		switch assign[i] {
		case 0:
			train = append(train, r)
		case 1:
			val = append(val, r)
		default:
			test = append(test, r)
		}
	}
	return train, val, test
}

// WriteDataset writes outputPath (X.jsonl, all records), X_train.jsonl,
// X_val.jsonl, X_test.jsonl and, in the same folder, train.jsonl,
// validation.jsonl and test.jsonl. Each file is written under a temporary
// name and renamed into place.
func WriteDataset(outputPath string, all, train, val, test []Record) error {
	dir := filepath.Dir(outputPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("contract: %w", err)
	}
	base := strings.TrimSuffix(outputPath, ".jsonl")
	files := []struct {
		path string
		recs []Record
	}{
		{base + ".jsonl", all},
		{base + "_train.jsonl", train},
		{base + "_val.jsonl", val},
		{base + "_test.jsonl", test},
		{filepath.Join(dir, "train.jsonl"), train},
		{filepath.Join(dir, "validation.jsonl"), val},
		{filepath.Join(dir, "test.jsonl"), test},
	}
	for _, f := range files {
		if err := writeJSONL(f.path, f.recs); err != nil {
			return err
		}
	}
	return nil
}

func writeJSONL(path string, recs []Record) error {
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("contract: write %s: %w", path, err)
	}
	return nil
}

// TypeCount counts records of one fact type, overall and per split.
type TypeCount struct {
	All, Train, Val, Test int
}

// Stats summarises a generated data set.
type Stats struct {
	Contracts  int
	Duplicates int                   // records dropped as duplicates
	ByType     map[string]*TypeCount // by Record.FactType ("unanswerable" for those)
}

func statsKey(r Record) string {
	if r.Unanswerable {
		return "unanswerable"
	}
	return r.FactType
}

func newStats(all []Record) Stats {
	st := Stats{ByType: map[string]*TypeCount{}}
	for _, r := range all {
		k := statsKey(r)
		if st.ByType[k] == nil {
			st.ByType[k] = &TypeCount{}
		}
		st.ByType[k].All++
	}
	return st
}

// CountSplits fills the per-split counts.
func (s *Stats) CountSplits(train, val, test []Record) {
	for i, recs := range [][]Record{train, val, test} {
		for _, r := range recs {
			k := statsKey(r)
			if s.ByType[k] == nil {
				s.ByType[k] = &TypeCount{}
			}
			switch i {
			case 0:
				s.ByType[k].Train++
			case 1:
				s.ByType[k].Val++
			default:
				s.ByType[k].Test++
			}
		}
	}
}

// FormatStats renders the counts as a table, fact types sorted by name, with
// a total row.
func FormatStats(s Stats) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-26s %7s %7s %7s %7s\n", "fact type", "all", "train", "val", "test")
	var tot TypeCount
	for _, k := range sortedKeys(s.ByType) {
		c := s.ByType[k]
		fmt.Fprintf(&sb, "%-26s %7d %7d %7d %7d\n", k, c.All, c.Train, c.Val, c.Test)
		tot.All += c.All
		tot.Train += c.Train
		tot.Val += c.Val
		tot.Test += c.Test
	}
	fmt.Fprintf(&sb, "%-26s %7d %7d %7d %7d\n", "total", tot.All, tot.Train, tot.Val, tot.Test)
	fmt.Fprintf(&sb, "contracts: %d, duplicates dropped: %d\n", s.Contracts, s.Duplicates)
	return sb.String()
}
