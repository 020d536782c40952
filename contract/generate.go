package contract

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
)

// Instruction is the system prompt of every generated record.
const Instruction = "You are a careful legal analyst reviewing a commercial contract. Answer the question using only the contract text provided, cite the clause your answer relies on, and say plainly when the contract does not address the question."

// Record kinds (Record.Kind).
const (
	KindFact         = "fact"
	KindSummary      = "summary"
	KindUnanswerable = "unanswerable"
)

// Record is one training example.
type Record struct {
	Instruction  string `json:"instruction"`
	Input        string `json:"input"`
	Output       string `json:"output"`
	Kind         string `json:"kind"`
	ClauseID     string `json:"clause_id,omitempty"`
	FactType     string `json:"fact_type,omitempty"`
	Source       string `json:"source,omitempty"`
	Variant      string `json:"variant,omitempty"`
	Unanswerable bool   `json:"unanswerable,omitempty"`
}

// A record's input is its context window and its question, as
// recordInput writes them and splitInput reads them back.
const (
	inputContext  = "Contract Context: "
	inputQuestion = "\n\nQuestion: "
)

func recordInput(context, question string) string {
	return inputContext + context + inputQuestion + question
}

// splitInput splits a record's input into its context and its question.
func splitInput(input string) (context, question string) {
	i := strings.LastIndex(input, inputQuestion)
	if i < 0 {
		return strings.TrimPrefix(input, inputContext), ""
	}
	return strings.TrimPrefix(input[:i], inputContext), input[i+len(inputQuestion):]
}

// recordKey is what makes two records the same: their input and output,
// normalised (see Generate's deduplication).
func recordKey(r Record) string { return normalize(r.Input) + "\x00" + normalize(r.Output) }

// GenOptions controls Generate.
type GenOptions struct {
	Augment           bool       // add NumAugmentations variants per question
	NumAugmentations  int        // extra variants per question when Augment is set, at most MaxAugmentations
	Seed              int64      // seeds every random choice
	Split             [3]float64 // train/validation/test ratios
	UnanswerableRatio float64    // unanswerable questions per answerable fact, per contract
}

// DefaultGenOptions are the defaults of `tune gen-data`.
func DefaultGenOptions() GenOptions {
	return GenOptions{Augment: true, NumAugmentations: 2, Seed: 42, Split: [3]float64{0.8, 0.1, 0.1}, UnanswerableRatio: 0.1}
}

// paraphrases is the number of phrasings of every question; with the
// three context windows it bounds the distinct variants of a question.
const paraphrases = 3

// MaxAugmentations is the number of distinct variants a question has
// besides its base record (every paraphrase in every context window):
// asking for more adds nothing.
const MaxAugmentations = paraphrases*contextWindows - 1

// MaxUnanswerableRatio bounds UnanswerableRatio: more than one absence
// question per answered fact would teach a model to deny.
const MaxUnanswerableRatio = 1.0

// Check reports the first option out of range, naming it as the gen-data
// flag does.
func (o GenOptions) Check() error {
	if o.NumAugmentations < 0 || o.NumAugmentations > MaxAugmentations {
		return fmt.Errorf("num_augmentations %d: want 0 to %d (the distinct paraphrase and context variants of a question)", o.NumAugmentations, MaxAugmentations)
	}
	if !(o.UnanswerableRatio >= 0 && o.UnanswerableRatio <= MaxUnanswerableRatio) {
		return fmt.Errorf("unanswerable_ratio %g: want a number from 0 to %g", o.UnanswerableRatio, MaxUnanswerableRatio)
	}
	if err := checkSplit(o.Split); err != nil {
		return fmt.Errorf("split: %w", err)
	}
	return nil
}

// questions holds the paraphrases asked for each fact type; the first is the
// base question.
var questions = map[string][]string{
	FactTitle:                  {"What is the title of this contract?", "What is this agreement called?", "Under what name was this contract executed?"},
	FactParties:                {"Who are the parties to this agreement?", "Which entities signed this contract?", "Between whom is this agreement made?"},
	FactAgreementDate:          {"What is the date of this agreement?", "When was this contract entered into?", "On what date was the agreement made?"},
	FactEffectiveDate:          {"When does this agreement become effective?", "What is the effective date of the contract?", "From what date does the agreement take effect?"},
	FactTerm:                   {"What is the initial term of the agreement?", "How long does the agreement last before any renewal?", "For how long is the contract in force initially?"},
	FactRenewalTerm:            {"How long is each renewal term?", "For what period does the agreement renew?", "What renewal period does the contract provide?"},
	FactRenewalNotice:          {"How much notice is needed to prevent the agreement from renewing?", "What is the notice period to terminate renewal?", "By when must a party object to avoid automatic renewal?"},
	FactTerminationNotice:      {"What notice is required to terminate the agreement?", "How much notice must be given for termination?", "What are the notice requirements for terminating the contract?"},
	FactTerminationConvenience: {"Can a party terminate the agreement for convenience?", "May the contract be terminated without cause?", "Is there a right to terminate the agreement at will?"},
	FactCurePeriod:             {"How long does a party have to cure a breach?", "What is the cure period for a breach?", "How much time is allowed to remedy a default?"},
	FactWarrantyPeriod:         {"What is the warranty period?", "How long does the warranty last?", "For what duration are the products warranted?"},
	FactDefectLiability:        {"What is the defect liability period?", "How long is the contractor liable for defects?", "For how long must defects be remedied?"},
	FactPaymentTerms:           {"What are the payment terms?", "When is payment due under the agreement?", "Within what time must invoices be paid?"},
	FactGoverningLaw:           {"Which law governs this agreement?", "What is the governing law of the contract?", "Under which jurisdiction's laws is the agreement construed?"},
	FactJurisdiction:           {"Where must disputes be resolved?", "Which courts or forum have jurisdiction over disputes?", "What is the venue for disputes under the agreement?"},
	FactLiabilityCap:           {"Is there a cap on liability?", "What limits apply to a party's liability?", "How is liability limited under the agreement?"},
	FactConsequential:          {"Are consequential or indirect damages excluded?", "Can a party recover indirect or consequential damages?", "What does the contract say about consequential damages?"},
	FactLiquidatedDamages:      {"Does the contract provide for liquidated damages?", "Is there a termination fee or liquidated damages clause?", "What pre-agreed damages or fees apply?"},
	FactInsurance:              {"What insurance must be maintained?", "What are the insurance requirements?", "Which party must carry insurance, and what kind?"},
	FactConfidentiality:        {"What confidentiality obligations apply?", "How must confidential information be treated?", "What does the contract require regarding confidentiality?"},
	FactAssignment:             {"Can the agreement be assigned?", "What restrictions apply to assignment of the contract?", "May a party transfer its rights under the agreement?"},
	FactAuditRights:            {"Does a party have audit or inspection rights?", "What audit rights does the contract grant?", "Can records or facilities be inspected?"},
	FactIndemnification:        {"What indemnification obligations does the contract impose?", "Who must indemnify whom under the agreement?", "What does the indemnity cover?"},
	FactNonCompete:             {"Is there a non-compete restriction?", "Does the contract restrict competing activities?", "What competition restrictions apply?"},
	FactNonSolicit:             {"Is there a restriction on soliciting or hiring employees?", "Does the contract restrict hiring the other party's employees?", "What non-solicitation obligations apply to employees?"},
	FactExclusivity:            {"Does the contract grant exclusivity?", "What exclusive rights are granted?", "Is the appointment or licence exclusive?"},
	FactForceMajeure:           {"What happens in a force majeure event?", "Does the contract excuse performance for events beyond a party's control?", "How does the force majeure clause operate?"},
	FactNotices:                {"How must notices be given under the agreement?", "What are the requirements for sending notices?", "Where and how should formal notices be delivered?"},
	FactSummary:                {"What does %s specify?", "Summarize %s.", "What is provided in %s?"},
}

// absence says, per fact type, how to state that a contract lacks it and
// which words (lower case) anywhere in the contract make that claim unsafe.
// Title, parties and the agreement's date are never claimed absent: every
// contract has them, and not finding them is the parser's failure.
var absence = map[string]struct {
	phrase string
	traces []string
}{
	FactEffectiveDate:          {"an effective date", []string{"effective"}},
	FactTerm:                   {"an initial term", []string{"term of this", "term of the", "initial term", "the term ", "in full force", "in force", "in effect", "shall expire", "terminate on", "terminate at", "perpetu", "until terminated", "until the"}},
	FactRenewalTerm:            {"a renewal term", []string{"renew", "extend", "extension"}},
	FactRenewalNotice:          {"a notice period to prevent renewal", []string{"renew", "extend", "extension"}},
	FactTerminationNotice:      {"a notice period for termination", []string{"terminat"}},
	FactTerminationConvenience: {"a right to terminate for convenience", []string{"terminat"}},
	FactCurePeriod:             {"a cure period", []string{"cure", "remed"}},
	FactWarrantyPeriod:         {"a warranty period", []string{"warrant"}},
	FactDefectLiability:        {"a defect liability period", []string{"defect"}},
	FactPaymentTerms:           {"payment terms", []string{"pay", "invoice", "fee", "price"}},
	FactGoverningLaw:           {"a governing law", []string{"govern", "law of", "laws of", "constru"}},
	FactJurisdiction:           {"a forum or jurisdiction for disputes", []string{"jurisdiction", "venue", "court", "arbitrat", "tribunal", "forum"}},
	FactLiabilityCap:           {"a cap on liability", []string{"liab", "exceed", "limit"}},
	FactConsequential:          {"an exclusion of consequential damages", []string{"consequential", "indirect", "incidental", "special damages", "punitive", "lost profits"}},
	FactLiquidatedDamages:      {"liquidated damages or a termination fee", []string{"liquidated", "penalt", "termination fee", "break fee", "credit"}},
	FactInsurance:              {"insurance requirements", []string{"insur"}},
	FactConfidentiality:        {"confidentiality obligations", []string{"confiden", "secre", "disclos", "proprietary"}},
	FactAssignment:             {"restrictions on assignment", []string{"assign", "transfer"}},
	FactAuditRights:            {"audit or inspection rights", []string{"audit", "inspect", "examin", "books and records", "access to"}},
	FactIndemnification:        {"indemnification obligations", []string{"indemn", "harmless", "defend"}},
	FactNonCompete:             {"a non-compete restriction", []string{"compet", "exclusiv", "restrict"}},
	FactNonSolicit:             {"a restriction on soliciting or hiring employees", []string{"solicit", "hire", "employ", "recruit"}},
	FactExclusivity:            {"exclusivity", []string{"exclusiv", " sole ", "solely"}},
	FactForceMajeure:           {"a force majeure clause", []string{"force majeure", "act of god", "acts of god", "beyond its", "beyond the", "beyond their", "reasonable control"}},
	FactNotices:                {"how notices are to be given", []string{"notice", "notif"}},
}

// Absent lists the fact types c lacks, sorted: no rule found the fact, and
// no trace of it is anywhere in the contract's text (its title, preamble,
// clauses and exhibits), so "the contract does not specify" is true.
func Absent(c *Contract, facts []Fact) []string {
	present := map[string]bool{}
	for _, f := range facts {
		present[f.Type] = true
	}
	text := strings.ToLower(c.Title + "\n" + c.Text)
	var out []string
	for _, t := range sortedKeys(absence) {
		if !present[t] && !hasAny(text, absence[t].traces...) {
			out = append(out, t)
		}
	}
	return out
}

// Context windows used for augmentation.
const (
	ctxClause     = "clause"
	ctxNeighbours = "neighbours"
	ctxParent     = "parent"
	maxBlock      = 1800
)

var ctxKinds = [contextWindows]string{ctxClause, ctxNeighbours, ctxParent}

// baseVariant is the Record.Variant of a question's base record: its first
// paraphrase with the clause alone (render names variants
// "<context window>/q<paraphrase>").
const baseVariant = ctxClause + "/q0"

const contextWindows = 3

// question is one thing the generator asks about a clause, before it is
// rendered into records.
type question struct {
	typ          string
	kind         string
	answer       string
	evidence     string
	asked        string // the question, when fixed (unanswerable ones)
	unanswerable bool
}

// group is a clause with every question asked about it; a group goes to
// one split as a whole.
type group struct {
	c         *contractQA
	idx       int // clause index in c.flat
	questions []question
	split     int
}

// contractQA holds one contract's clauses in document order and the group
// of each clause that is asked about.
type contractQA struct {
	c       *Contract
	flat    []*Clause
	index   map[*Clause]int
	groupOf map[int]*group
}

// visible reports whether clause j may appear in a context window of group
// g: a train record shows only clauses of train groups or clauses no
// question is asked about; validation and test records show any.
func (cq *contractQA) visible(g *group, j int) bool {
	og := cq.groupOf[j]
	return g.split != 0 || og == nil || og.split == 0
}

// Generate turns contracts into a split data set of deduplicated Q&A
// records: one base record per fact and per clause summary,
// opts.NumAugmentations extra variants (other question paraphrases, other
// context windows, same answer) when opts.Augment is set, and unanswerable
// questions for fact types a contract lacks (see Absent). Clauses are
// assigned to splits first (see assignSplits), so that context windows are
// drawn knowing the split: a train record never shows a clause that
// belongs to validation or test. Output depends only on the contracts and
// opts. Options out of range are a programmer error (check them with
// GenOptions.Check).
func Generate(contracts []*Contract, opts GenOptions) *Dataset {
	if err := opts.Check(); err != nil {
		panic("contract: Generate: " + err.Error())
	}
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x7475_6e65))
	var groups []*group
	for _, c := range contracts {
		groups = append(groups, contractGroups(c, opts, rng)...)
	}
	variants := 0
	if opts.Augment {
		variants = opts.NumAugmentations
	}
	moved := assignSplits(groups, opts.Split, variants, opts.Seed)
	var all []Record
	var splitOf []int
	for _, g := range groups {
		for _, q := range g.questions {
			for _, r := range render(g, q, variants, rng) {
				all = append(all, r)
				splitOf = append(splitOf, g.split)
			}
		}
	}
	ds := &Dataset{Options: opts}
	seen := map[string]bool{}
	for i, r := range all {
		k := recordKey(r)
		if seen[k] {
			ds.Stats.Duplicates++
			continue
		}
		seen[k] = true
		ds.All = append(ds.All, r)
		switch splitOf[i] {
		case 0:
			ds.Train = append(ds.Train, r)
		case 1:
			ds.Validation = append(ds.Validation, r)
		default:
			ds.Test = append(ds.Test, r)
		}
	}
	ds.Stats.Contracts = len(contracts)
	ds.Stats.MovedForLeakage = moved
	ds.Stats.count(ds)
	return ds
}

// contractGroups lists the questions asked about one contract, grouped by
// clause: its facts, a summary per clause, and unanswerable questions for
// absent fact types, UnanswerableRatio per fact, each shown with a clause
// drawn at random.
func contractGroups(c *Contract, opts GenOptions, rng *rand.Rand) []*group {
	cq := &contractQA{c: c, flat: c.Flatten(), index: map[*Clause]int{}, groupOf: map[int]*group{}}
	for i, cl := range cq.flat {
		cq.index[cl] = i
	}
	var order []*group
	add := func(idx int, q question) {
		g := cq.groupOf[idx]
		if g == nil {
			g = &group{c: cq, idx: idx}
			cq.groupOf[idx] = g
			order = append(order, g)
		}
		g.questions = append(g.questions, q)
	}
	facts := ExtractFacts(c)
	for _, f := range facts {
		add(cq.index[f.Clause], question{typ: f.Type, kind: KindFact, answer: f.Answer, evidence: f.Evidence})
	}
	for i, cl := range cq.flat {
		if s, ok := summarize(cl); ok {
			add(i, question{typ: FactSummary, kind: KindSummary, answer: s})
		}
	}
	absent := Absent(c, facts)
	n := min(int(math.Round(opts.UnanswerableRatio*float64(len(facts)))), len(absent))
	if n > 0 && len(cq.flat) > 0 {
		rng.Shuffle(len(absent), func(i, j int) { absent[i], absent[j] = absent[j], absent[i] })
		for _, t := range absent[:n] {
			qs := questions[t]
			add(rng.IntN(len(cq.flat)), question{typ: t, kind: KindUnanswerable, unanswerable: true,
				asked: qs[rng.IntN(len(qs))], answer: "The contract does not specify " + absence[t].phrase + "."})
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].idx < order[j].idx })
	return order
}

// render makes the records of one question: the base record (first
// paraphrase, the clause alone) and, when variants > 0, that many others
// drawn without repetition from the other paraphrase and context-window
// combinations. Unanswerable questions get the base record only.
func render(g *group, q question, variants int, rng *rand.Rand) []Record {
	type combo struct{ q, ctx int }
	combos := []combo{{0, 0}}
	if variants > 0 && !q.unanswerable {
		var rest []combo
		for qi := 0; qi < paraphrases; qi++ {
			for ci := range ctxKinds {
				if qi != 0 || ci != 0 {
					rest = append(rest, combo{qi, ci})
				}
			}
		}
		rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		combos = append(combos, rest[:min(variants, len(rest))]...)
	}
	cl := g.c.flat[g.idx]
	var out []Record
	for _, cb := range combos {
		asked := q.asked
		if asked == "" {
			asked = questions[q.typ][cb.q]
			if strings.Contains(asked, "%s") {
				asked = fmt.Sprintf(asked, cl.Label)
			}
		}
		kind := ctxKinds[cb.ctx]
		out = append(out, Record{
			Instruction:  Instruction,
			Input:        recordInput(contextFor(g, kind, q.evidence), asked),
			Output:       q.answer,
			Kind:         q.kind,
			ClauseID:     cl.ID,
			FactType:     q.typ,
			Source:       g.c.c.Source,
			Variant:      fmt.Sprintf("%s/q%d", kind, cb.q),
			Unanswerable: q.unanswerable,
		})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// reHeadingToken is a clause number at the start of clause text:
// "ARTICLE V -", "Section 3.1.", "§ 4", "10.0", "5.2(a)", "(b)".
var reHeadingToken = regexp.MustCompile(`^(?:(?:ARTICLE|Article|SECTION|Section|§)\s*)?(?:[IVXLC]+|\d{1,3}(?:\.\d{1,3})*)?\.?(?:\([a-z]\))?\s*[:.\-–—]?\s*`)

// clauseBody is the clause text without its leading number and title.
func clauseBody(cl *Clause) string {
	t := cl.Text
	if cl.Kind == KindPreamble || strings.HasPrefix(cl.ID, "¶") {
		return t
	}
	if cl.Kind == KindExhibit {
		t = strings.TrimLeft(strings.TrimPrefix(t, cl.ID), ".:-–— \t")
	} else if m := reHeadingToken.FindString(t); m != "" {
		t = t[len(m):]
	}
	if cl.Title != "" && strings.HasPrefix(t, cl.Title) {
		t = strings.TrimLeft(t[len(cl.Title):], ".:;-–— \t")
	}
	return t
}

// summaryLead joins a summary's clause heading to its sentences:
// "Section 5.2 (Term) provides: ...".
const summaryLead = " provides: "

// summarize gives the extractive summary of a clause: its heading plus its
// first whole sentences, up to about 350 bytes (always at least one; a
// sentence longer than maxQuote counts through its first part that stands
// alone). A clause with no quotable sentence gets no summary.
func summarize(cl *Clause) (string, bool) {
	if cl.Kind == KindPreamble {
		return "", false
	}
	body := clauseBody(cl)
	if len(body) < 60 {
		return "", false
	}
	var sb strings.Builder
	for _, u := range units(cl) {
		if sb.Len() > 0 && sb.Len()+len(u) > 350 || strings.HasSuffix(u, ":") {
			break // a colon opens a list that is not part of the summary
		}
		if sb.Len() > 0 {
			sb.WriteString(" ")
		}
		sb.WriteString(u)
	}
	if sb.Len() == 0 {
		return "", false
	}
	head := cl.Label
	if cl.Title != "" {
		head += " (" + cl.Title + ")"
	}
	return head + summaryLead + sb.String(), true
}

// block renders a clause for a context, at most maxBlock bytes, keeping the
// evidence inside the window.
func block(cl *Clause, evidence string) string {
	t := cl.Text
	if !strings.HasPrefix(t, cl.ID) {
		t = cl.Label + ": " + t
	}
	if len(t) <= maxBlock {
		return t
	}
	start := 0
	if i, n := locate(t, evidence); i >= 0 && i+n > maxBlock {
		start = max(0, min(i-maxBlock/3, i+n-maxBlock+40))
		for start > 0 && t[start] != ' ' {
			start--
		}
	}
	end := min(len(t), start+maxBlock)
	for end < len(t) && end > start && t[end] != ' ' {
		end--
	}
	out := strings.TrimSpace(t[start:end])
	if start > 0 {
		out = "... " + out
	}
	if end < len(t) {
		out += " ..."
	}
	return out
}

// locate finds the evidence in a clause's text and returns its offset and
// length, or -1. Evidence is quoted without list markers or run-in
// headings, so when it is not found whole, a stretch from its middle
// stands for it.
func locate(t, evidence string) (int, int) {
	if evidence == "" {
		return -1, 0
	}
	if i := strings.Index(t, evidence); i >= 0 {
		return i, len(evidence)
	}
	if len(evidence) > 80 {
		mid := evidence[len(evidence)/2-30 : len(evidence)/2+30]
		if i := strings.Index(t, mid); i >= 0 {
			return max(0, i-(len(evidence)/2-30)), len(evidence)
		}
	}
	return -1, 0
}

// contextFor renders the context window of a record of group g: the clause
// alone; the clause with its neighbours in document order (only those in
// the group's own split when the group is in train, so that no train input
// shows a validation or test clause); or the clause under its parent's
// heading (a top-level clause has none, so that window is the clause
// alone).
func contextFor(g *group, kind, evidence string) string {
	flat, i := g.c.flat, g.idx
	cl := flat[i]
	switch kind {
	case ctxNeighbours:
		var parts []string
		if i > 0 && g.c.visible(g, i-1) {
			parts = append(parts, block(flat[i-1], ""))
		}
		parts = append(parts, block(cl, evidence))
		if i+1 < len(flat) && g.c.visible(g, i+1) {
			parts = append(parts, block(flat[i+1], ""))
		}
		return strings.Join(parts, "\n\n")
	case ctxParent:
		if p := cl.Parent(); p != nil {
			return strings.TrimSpace(p.Label+" "+p.Title) + "\n\n" + block(cl, evidence)
		}
	}
	return block(cl, evidence)
}

func normalize(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}
