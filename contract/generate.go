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

// Record is one training example.
type Record struct {
	Instruction  string `json:"instruction"`
	Input        string `json:"input"`
	Output       string `json:"output"`
	ClauseID     string `json:"clause_id,omitempty"`
	FactType     string `json:"fact_type,omitempty"`
	Source       string `json:"source,omitempty"`
	Variant      string `json:"variant,omitempty"`
	Unanswerable bool   `json:"unanswerable,omitempty"`
}

// GenOptions controls Generate.
type GenOptions struct {
	Augment           bool       // add NumAugmentations variants per fact
	NumAugmentations  int        // extra variants per fact when Augment is set
	Seed              int64      // seeds every random choice
	Split             [3]float64 // train/validation/test ratios (used by callers with SplitRecords)
	UnanswerableRatio float64    // unanswerable questions per answerable fact, per contract
}

// DefaultGenOptions are the defaults of `tune gen-data`.
func DefaultGenOptions() GenOptions {
	return GenOptions{Augment: true, NumAugmentations: 2, Seed: 42, Split: [3]float64{0.8, 0.1, 0.1}, UnanswerableRatio: 0.1}
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

// absentPhrases completes "The contract does not specify ..." per fact type.
var absentPhrases = map[string]string{
	FactTitle: "a title", FactParties: "the parties", FactAgreementDate: "the date of the agreement",
	FactEffectiveDate: "an effective date", FactTerm: "an initial term", FactRenewalTerm: "a renewal term",
	FactRenewalNotice: "a notice period to prevent renewal", FactTerminationNotice: "a notice period for termination",
	FactTerminationConvenience: "a right to terminate for convenience", FactCurePeriod: "a cure period",
	FactWarrantyPeriod: "a warranty period", FactDefectLiability: "a defect liability period",
	FactPaymentTerms: "payment terms",
	FactGoverningLaw: "a governing law", FactJurisdiction: "a forum or jurisdiction for disputes",
	FactLiabilityCap: "a cap on liability", FactConsequential: "an exclusion of consequential damages",
	FactLiquidatedDamages: "liquidated damages or a termination fee", FactInsurance: "insurance requirements",
	FactConfidentiality: "confidentiality obligations", FactAssignment: "restrictions on assignment",
	FactAuditRights: "audit or inspection rights", FactIndemnification: "indemnification obligations",
	FactNonCompete: "a non-compete restriction", FactNonSolicit: "a restriction on soliciting or hiring employees",
	FactExclusivity: "exclusivity", FactForceMajeure: "a force majeure clause", FactNotices: "how notices are to be given",
}

// Context windows used for augmentation.
const (
	ctxClause     = "clause"
	ctxNeighbours = "neighbours"
	ctxParent     = "parent"
	maxBlock      = 1800
)

var ctxKinds = []string{ctxClause, ctxNeighbours, ctxParent}

// Generate turns contracts into deduplicated Q&A records: one base record
// per fact and per clause summary, opts.NumAugmentations extra variants
// (other question paraphrases, other context windows, same answer) when
// opts.Augment is set, and unanswerable questions for fact types a contract
// lacks. Output depends only on the contracts and opts.
func Generate(contracts []*Contract, opts GenOptions) ([]Record, Stats) {
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x7475_6e65))
	var out []Record
	for _, c := range contracts {
		out = append(out, generateContract(c, opts, rng)...)
	}
	deduped := Dedup(out)
	st := newStats(deduped)
	st.Contracts = len(contracts)
	st.Duplicates = len(out) - len(deduped)
	return deduped, st
}

func generateContract(c *Contract, opts GenOptions, rng *rand.Rand) []Record {
	flat := c.Flatten()
	index := map[*Clause]int{}
	for i, cl := range flat {
		index[cl] = i
	}
	var recs []Record
	emit := func(typ string, cl *Clause, evidence, question, answer string, unanswerable bool, variants int) {
		qs := questions[typ]
		order := rng.Perm(len(qs) - 1)
		for v := 0; v <= variants; v++ {
			qi, kind := 0, ctxClause
			if v > 0 {
				qi = 1 + order[(v-1)%len(order)]
				kind = ctxKinds[v%len(ctxKinds)]
			}
			q := question
			if q == "" {
				q = qs[qi]
				if strings.Contains(q, "%s") {
					q = fmt.Sprintf(q, cl.Label)
				}
			}
			recs = append(recs, Record{
				Instruction:  Instruction,
				Input:        "Contract Context: " + contextFor(c, flat, index[cl], kind, evidence) + "\n\nQuestion: " + q,
				Output:       answer,
				ClauseID:     cl.ID,
				FactType:     typ,
				Source:       c.Source,
				Variant:      fmt.Sprintf("%s/q%d", kind, qi),
				Unanswerable: unanswerable,
			})
		}
	}
	variants := 0
	if opts.Augment {
		variants = max(opts.NumAugmentations, 0)
	}
	facts := ExtractFacts(c)
	present := map[string]bool{}
	for _, f := range facts {
		present[f.Type] = true
		emit(f.Type, f.Clause, f.Evidence, "", f.Answer, false, variants)
	}
	for _, cl := range flat {
		if s, ok := summarize(cl); ok {
			emit(FactSummary, cl, "", "", s, false, variants)
		}
	}
	// unanswerable questions for absent fact types, context drawn at random
	var absent []string
	for _, t := range sortedKeys(absentPhrases) {
		if !present[t] {
			absent = append(absent, t)
		}
	}
	n := int(math.Round(opts.UnanswerableRatio * float64(len(facts))))
	if len(absent) > 0 && len(flat) > 0 {
		rng.Shuffle(len(absent), func(i, j int) { absent[i], absent[j] = absent[j], absent[i] })
		for i := 0; i < min(n, len(absent)); i++ {
			t := absent[i]
			cl := flat[rng.IntN(len(flat))]
			qs := questions[t]
			emit(t, cl, "", qs[rng.IntN(len(qs))], "The contract does not specify "+absentPhrases[t]+".", true, 0)
		}
	}
	return recs
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
		if sb.Len() > 0 && sb.Len()+len(u) > 350 {
			break
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
	return head + " provides: " + sb.String(), true
}

// block renders a clause for a context, at most maxBlock bytes, keeping the
// evidence sentence inside the window.
func block(cl *Clause, evidence string) string {
	t := cl.Text
	if !strings.HasPrefix(t, cl.ID) {
		t = cl.Label + ": " + t
	}
	if len(t) <= maxBlock {
		return t
	}
	start := 0
	if i := strings.Index(t, evidence); evidence != "" && i+len(evidence) > maxBlock {
		start = max(0, i-maxBlock/3)
		for start > 0 && t[start] != ' ' {
			start--
		}
	}
	end := min(len(t), start+maxBlock)
	for end < len(t) && t[end] != ' ' {
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

func contextFor(c *Contract, flat []*Clause, i int, kind, evidence string) string {
	cl := flat[i]
	switch kind {
	case ctxNeighbours:
		parts := []string{}
		if i > 0 {
			parts = append(parts, block(flat[i-1], ""))
		}
		parts = append(parts, block(cl, evidence))
		if i+1 < len(flat) {
			parts = append(parts, block(flat[i+1], ""))
		}
		return strings.Join(parts, "\n\n")
	case ctxParent:
		head := c.Title
		if p := cl.Parent(); p != nil {
			head = strings.TrimSpace(p.Label + " " + p.Title)
		}
		return head + "\n\n" + block(cl, evidence)
	}
	return block(cl, evidence)
}

// Dedup drops records whose normalised input and output repeat an earlier
// record (case-folded, whitespace collapsed).
func Dedup(records []Record) []Record {
	seen := map[string]bool{}
	var out []Record
	for _, r := range records {
		k := normalize(r.Input) + "\x00" + normalize(r.Output)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, r)
	}
	return out
}

func normalize(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}
