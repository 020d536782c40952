package contract

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// Dataset is a generated, split data set.
type Dataset struct {
	All, Train, Validation, Test []Record
	Options                      GenOptions
	Stats                        Stats
}

// ParseSplit parses "0.8,0.1,0.1" into train/validation/test ratios. Each
// must be in [0,1] and they must sum to 1 within 1e-6.
func ParseSplit(s string) ([3]float64, error) {
	var r [3]float64
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return r, fmt.Errorf("%q: want three comma-separated ratios like 0.8,0.1,0.1", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return r, fmt.Errorf("%q: ratio %q is not a number", s, p)
		}
		r[i] = v
	}
	if err := checkSplit(r); err != nil {
		return r, fmt.Errorf("%q: %w", s, err)
	}
	return r, nil
}

func checkSplit(r [3]float64) error {
	sum := 0.0
	for _, v := range r {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("ratio %g is not in [0,1]", v)
		}
		sum += v
	}
	if !(math.Abs(sum-1) <= 1e-6) {
		return fmt.Errorf("ratios sum to %g, want 1", sum)
	}
	return nil
}

// assignSplits puts every group (a clause with its questions) into train
// (0), validation (1) or test (2), stratified: each group goes to the split
// whose share falls furthest short on the kinds of records the group holds
// (facts, summaries, unanswerable questions, and each fact type), weighted
// by how many it holds, so that validation and test hold every kind in
// about its share of the whole set. Groups are taken rarest fact type
// first, then unanswerable ones, then summaries only, which fill the last
// gaps; within each stratum in an order shuffled with the seed. Then, while
// some validation or test group's clause text or answer appears verbatim
// in a clause a train record can show (boilerplate repeated across
// contracts), that group moves to train; the number moved is returned.
func assignSplits(groups []*group, split [3]float64, variants int, seed int64) int {
	typeGroups := map[string]int{}
	for _, g := range groups {
		seen := map[string]bool{}
		for _, q := range g.questions {
			if q.kind == KindFact && !seen[q.typ] {
				seen[q.typ] = true
				typeGroups[q.typ]++
			}
		}
	}
	strata := map[string][]*group{}
	comp := map[*group]map[string]float64{}
	for _, g := range groups {
		key, rarest := "", ""
		c := map[string]float64{}
		for _, q := range g.questions {
			n := float64(1 + variants)
			if q.unanswerable {
				n = 1
			}
			c[q.kind] += n
			if q.kind == KindFact {
				c["fact:"+q.typ] += n
				if rarest == "" || typeGroups[q.typ] < typeGroups[rarest] || (typeGroups[q.typ] == typeGroups[rarest] && q.typ < rarest) {
					rarest = q.typ
				}
			}
		}
		switch {
		case rarest != "":
			key = fmt.Sprintf("0 %06d %s", typeGroups[rarest], rarest)
		case c[KindUnanswerable] > 0:
			key = "1 " + KindUnanswerable
		default:
			key = "2 " + KindSummary
		}
		strata[key] = append(strata[key], g)
		comp[g] = c
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x73706c74))
	count := map[string]*[3]float64{}
	done := map[string]float64{}
	for _, key := range sortedKeys(strata) {
		gs := strata[key]
		rng.Shuffle(len(gs), func(i, j int) { gs[i], gs[j] = gs[j], gs[i] })
		for _, g := range gs {
			kinds := sortedKeys(comp[g]) // a fixed order keeps the sums, and the split, deterministic
			for _, d := range kinds {
				if count[d] == nil {
					count[d] = &[3]float64{}
				}
			}
			best, bestGap := 0, math.Inf(-1)
			for s := 0; s < 3; s++ {
				if split[s] <= 0 {
					continue
				}
				gap := 0.0
				for _, d := range kinds {
					n := comp[g][d]
					gap += n * (split[s]*(done[d]+n) - count[d][s])
				}
				if gap > bestGap {
					best, bestGap = s, gap
				}
			}
			g.split = best
			for d, n := range comp[g] {
				count[d][best] += n
				done[d] += n
			}
		}
	}
	moved := 0
	for {
		pool := trainPool(groups)
		n := 0
		for _, g := range groups {
			if g.split != 0 && leaksInto(g, pool) {
				g.split = 0
				n++
			}
		}
		if n == 0 {
			return moved
		}
		moved += n
	}
}

// minLeakSpan is the shortest text (normalised bytes) whose verbatim
// repetition counts as a leak; shorter ones are headings and stock phrases.
const minLeakSpan = 40

// trainPool indexes the normalised texts of every clause a train record
// can show: those of train groups and those no question is asked about.
func trainPool(groups []*group) *textIndex {
	x := newTextIndex()
	seen := map[*contractQA]bool{}
	for _, g := range groups {
		if seen[g.c] {
			continue
		}
		seen[g.c] = true
		for i, cl := range g.c.flat {
			if og := g.c.groupOf[i]; og == nil || og.split == 0 {
				x.add(normalize(cl.Text))
			}
		}
	}
	return x
}

// leaksInto reports whether a group's clause text or one of its answers
// appears in the train pool.
func leaksInto(g *group, pool *textIndex) bool {
	if t := normalize(g.c.flat[g.idx].Text); len(t) >= minLeakSpan && pool.has(t) {
		return true
	}
	for _, q := range g.questions {
		for _, sp := range answerSpans(q.answer) {
			if pool.has(sp) {
				return true
			}
		}
	}
	return false
}

// textIndex answers "does this text occur in any of these texts?" quickly:
// a span is looked for (strings.Contains) only when every run of
// shingleWords words of it occurs somewhere in the texts.
type textIndex struct {
	texts strings.Builder
	grams map[uint64]bool
}

const shingleWords = 5

func newTextIndex() *textIndex { return &textIndex{grams: map[uint64]bool{}} }

// shingles visits the hash of every run of shingleWords words of t, words
// stripped of punctuation (a span may end where its text goes on).
func shingles(t string, visit func(uint64) bool) {
	words := strings.FieldsFunc(t, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i := 0; i+shingleWords <= len(words); i++ {
		h := fnv.New64a()
		for _, w := range words[i : i+shingleWords] {
			h.Write([]byte(w))
			h.Write([]byte{' '})
		}
		if !visit(h.Sum64()) {
			return
		}
	}
}

func (x *textIndex) add(t string) {
	x.texts.WriteString(t)
	x.texts.WriteByte(0)
	shingles(t, func(h uint64) bool { x.grams[h] = true; return true })
}

func (x *textIndex) has(span string) bool {
	all := true
	shingles(span, func(h uint64) bool { all = x.grams[h]; return all })
	return all && strings.Contains(x.texts.String(), span)
}

// answerSpans lists the normalised passages of an answer that carry its
// content: the text after "Based on <clause>, " or "<clause> provides: ",
// and a quoted clause sentence, each when at least minLeakSpan long.
func answerSpans(answer string) []string {
	body := answer
	if _, st, ok := citation(answer); ok {
		body = st
	} else if _, st, ok := strings.Cut(answer, summaryLead); ok {
		body = st
	}
	var out []string
	for _, p := range strings.Split(body, " The clause states: \"") {
		p = normalize(strings.Trim(p, "\". "))
		if len(p) >= minLeakSpan {
			out = append(out, p)
		}
	}
	return out
}

// Leaks counts what of the validation and test records can be seen in
// training inputs. Each count must be zero for a leak-free split.
type Leaks struct {
	// SharedClauses: clauses with records in train and in validation or test.
	SharedClauses int `json:"shared_clauses"`
	// ClausesInTrainInputs: validation or test clauses whose text is a block
	// of some train record's context.
	ClausesInTrainInputs int `json:"clauses_in_train_inputs"`
	// AnswersInTrainInputs: validation or test records whose answer text
	// appears verbatim in some train record's context.
	AnswersInTrainInputs int `json:"answers_in_train_inputs"`
}

// CheckLeaks measures leakage from train into the evaluation records
// (validation and test) on the rendered records themselves, independently
// of how the split was made.
func CheckLeaks(train, eval []Record) Leaks {
	var lk Leaks
	trainClauses := map[string]bool{}
	blocks := map[string]bool{}
	pool := newTextIndex()
	for _, r := range train {
		trainClauses[r.Source+"\x00"+r.ClauseID] = true
		for _, b := range contextBlocks(r.Input) {
			if !blocks[b] {
				blocks[b] = true
				pool.add(b)
			}
		}
	}
	shared := map[string]bool{}
	seenClause := map[string]bool{}
	for _, r := range eval {
		k := r.Source + "\x00" + r.ClauseID
		if trainClauses[k] && !shared[k] {
			shared[k] = true
			lk.SharedClauses++
		}
		if r.Variant == baseVariant && !seenClause[k] {
			seenClause[k] = true
			if bs := contextBlocks(r.Input); len(bs) == 1 && len(bs[0]) >= minLeakSpan && pool.has(bs[0]) {
				lk.ClausesInTrainInputs++
			}
		}
		for _, sp := range answerSpans(r.Output) {
			if pool.has(sp) {
				lk.AnswersInTrainInputs++
				break
			}
		}
	}
	return lk
}

// contextBlocks splits a record input into its normalised context blocks.
func contextBlocks(input string) []string {
	ctx, _ := splitInput(input)
	var out []string
	for _, b := range strings.Split(ctx, "\n\n") {
		if b = normalize(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// SplitNames are the splits in order, as named in the summary.
var SplitNames = [3]string{"train", "validation", "test"}

// Counts counts records of one fact type or kind, overall and per split.
type Counts struct {
	All        int `json:"all"`
	Train      int `json:"train"`
	Validation int `json:"validation"`
	Test       int `json:"test"`
}

// Stats summarises a generated data set.
type Stats struct {
	Contracts       int                `json:"contracts"`
	Duplicates      int                `json:"duplicates_dropped"`
	MovedForLeakage int                `json:"groups_moved_to_train_for_leakage"`
	ByKind          map[string]*Counts `json:"kinds"`
	ByType          map[string]*Counts `json:"fact_types"`
	Leaks           Leaks              `json:"leakage"`
	// Teacher counts the records a teacher model added (Teach); nil
	// without one.
	Teacher *TeachStats `json:"teacher,omitempty"`
}

func (s *Stats) count(ds *Dataset) {
	s.ByKind, s.ByType = map[string]*Counts{}, map[string]*Counts{}
	for i, recs := range [][]Record{ds.Train, ds.Validation, ds.Test} {
		for _, r := range recs {
			cs := []*Counts{counter(s.ByKind, r.Kind)}
			if r.Kind == KindFact {
				cs = append(cs, counter(s.ByType, r.FactType))
			}
			for _, c := range cs {
				c.All++
				switch i {
				case 0:
					c.Train++
				case 1:
					c.Validation++
				default:
					c.Test++
				}
			}
		}
	}
	s.Leaks = CheckLeaks(ds.Train, append(append([]Record{}, ds.Validation...), ds.Test...))
}

func counter(m map[string]*Counts, k string) *Counts {
	if m[k] == nil {
		m[k] = &Counts{}
	}
	return m[k]
}

// share is n/total, or 0 for an empty total.
func share(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return float64(n) / float64(total)
}

// FormatStats renders the split sizes, the kind mix of each split (count
// and share), the fact types and the leakage check.
func FormatStats(ds *Dataset) string {
	s := ds.Stats
	var sb strings.Builder
	sizes := [3]int{len(ds.Train), len(ds.Validation), len(ds.Test)}
	fmt.Fprintf(&sb, "%-26s %7s %16s %16s %16s\n", "", "all", "train", "validation", "test")
	row := func(name string, c Counts) {
		cells := [3]int{c.Train, c.Validation, c.Test}
		fmt.Fprintf(&sb, "%-26s %7d", name, c.All)
		for i, n := range cells {
			fmt.Fprintf(&sb, " %8d (%4.1f%%)", n, 100*share(n, sizes[i]))
		}
		sb.WriteString("\n")
	}
	row("records", Counts{len(ds.All), sizes[0], sizes[1], sizes[2]})
	for _, k := range []string{KindFact, KindSummary, KindUnanswerable} {
		row("  "+k, valueOr(s.ByKind[k]))
	}
	sb.WriteString("fact types:\n")
	for _, k := range sortedKeys(s.ByType) {
		row("  "+k, *s.ByType[k])
	}
	fmt.Fprintf(&sb, "contracts: %d, duplicates dropped: %d, clauses moved to train to keep their text out of train inputs: %d\n",
		s.Contracts, s.Duplicates, s.MovedForLeakage)
	fmt.Fprintf(&sb, "leakage into validation/test: %d shared clauses, %d clauses and %d answers seen in train inputs\n",
		s.Leaks.SharedClauses, s.Leaks.ClausesInTrainInputs, s.Leaks.AnswersInTrainInputs)
	if t := s.Teacher; t != nil {
		fmt.Fprintf(&sb, "teacher: asked about %d facts; kept %d question paraphrases and %d answers, dropped %d and %d (%d duplicates)\n",
			t.Facts, t.Questions, t.Answers, sum(t.DroppedQuestions), sum(t.DroppedAnswers), t.Duplicates)
		for _, d := range []struct {
			what string
			m    map[string]int
		}{{"question", t.DroppedQuestions}, {"answer", t.DroppedAnswers}} {
			for _, why := range sortedKeys(d.m) {
				fmt.Fprintf(&sb, "  %s dropped, %s: %d\n", d.what, why, d.m[why])
			}
		}
	}
	return sb.String()
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func valueOr(c *Counts) Counts {
	if c == nil {
		return Counts{}
	}
	return *c
}

// Summary is the JSON written beside the data set files.
type Summary struct {
	Options struct {
		Seed              int64      `json:"seed"`
		Split             [3]float64 `json:"split"`
		Augment           bool       `json:"augment"`
		NumAugmentations  int        `json:"num_augmentations"`
		UnanswerableRatio float64    `json:"unanswerable_ratio"`
	} `json:"options"`
	Files   map[string]string  `json:"files"`
	Records map[string]int     `json:"records"`
	Share   map[string]float64 `json:"kind_share"` // "<split>/<kind>": share of the split's records
	Stats
}

// SetPaths are the files of a data set written for outputPath X.jsonl:
// X.jsonl (all records), X_train.jsonl, X_val.jsonl, X_test.jsonl,
// X_summary.json and, in the same folder, train.jsonl, validation.jsonl and
// test.jsonl. It refuses an output path whose own name is one of the split
// file names, or any other collision, so that no file of the set
// overwrites another.
func SetPaths(outputPath string) (map[string]string, error) {
	if filepath.Ext(outputPath) != ".jsonl" {
		return nil, fmt.Errorf("%s: the data set file must end in .jsonl", outputPath)
	}
	dir := filepath.Dir(outputPath)
	base := strings.TrimSuffix(outputPath, ".jsonl")
	paths := map[string]string{
		"all":              outputPath,
		"train":            base + "_train.jsonl",
		"validation":       base + "_val.jsonl",
		"test":             base + "_test.jsonl",
		"summary":          base + "_summary.json",
		"train_alias":      filepath.Join(dir, "train.jsonl"),
		"validation_alias": filepath.Join(dir, "validation.jsonl"),
		"test_alias":       filepath.Join(dir, "test.jsonl"),
	}
	owner := map[string]string{}
	for _, k := range sortedKeys(paths) {
		p := filepath.Clean(paths[k])
		if other, ok := owner[p]; ok {
			return nil, fmt.Errorf("%s: the %s file and the %s file would both be %s; choose another name", outputPath, other, k, p)
		}
		owner[p] = k
	}
	return paths, nil
}

// writeSet writes a set of files all or nothing; tests replace it to
// inject failures.
var writeSet = atomicfile.WriteSet

// WriteDataset writes the data set files (see SetPaths) as a set: if any
// file cannot be written (a full disk), every file keeps its earlier
// content.
func WriteDataset(outputPath string, ds *Dataset) error {
	paths, err := SetPaths(outputPath)
	if err != nil {
		return fmt.Errorf("contract: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(outputPath), 0o755); err != nil {
		return fmt.Errorf("contract: %w", err)
	}
	sum := summaryOf(ds, paths)
	files := []atomicfile.File{
		jsonl(paths["all"], ds.All),
		jsonl(paths["train"], ds.Train),
		jsonl(paths["validation"], ds.Validation),
		jsonl(paths["test"], ds.Test),
		jsonl(paths["train_alias"], ds.Train),
		jsonl(paths["validation_alias"], ds.Validation),
		jsonl(paths["test_alias"], ds.Test),
		{Path: paths["summary"], Perm: 0o644, Write: func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(sum)
		}},
	}
	if err := writeSet(files); err != nil {
		return fmt.Errorf("contract: %w (no file of the data set was changed)", err)
	}
	return nil
}

func jsonl(path string, recs []Record) atomicfile.File {
	return atomicfile.File{Path: path, Perm: 0o644, Write: func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}}
}

func summaryOf(ds *Dataset, paths map[string]string) Summary {
	var s Summary
	o := ds.Options
	s.Options.Seed, s.Options.Split, s.Options.Augment = o.Seed, o.Split, o.Augment
	s.Options.NumAugmentations, s.Options.UnanswerableRatio = o.NumAugmentations, o.UnanswerableRatio
	s.Files = map[string]string{}
	for k, p := range paths {
		s.Files[k] = filepath.Base(p)
	}
	sizes := [3]int{len(ds.Train), len(ds.Validation), len(ds.Test)}
	s.Records = map[string]int{"all": len(ds.All)}
	s.Share = map[string]float64{}
	for i, name := range SplitNames {
		s.Records[name] = sizes[i]
		for kind, c := range ds.Stats.ByKind {
			n := [3]int{c.Train, c.Validation, c.Test}[i]
			s.Share[name+"/"+kind] = math.Round(1e4*share(n, sizes[i])) / 1e4
		}
	}
	for kind, c := range ds.Stats.ByKind {
		s.Share["all/"+kind] = math.Round(1e4*share(c.All, len(ds.All))) / 1e4
	}
	s.Stats = ds.Stats
	return s
}
