package contract

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode"
)

// CUADExample is one row of cuad_qa.jsonl.
type CUADExample struct {
	ID           string         `json:"id"`
	ContractID   string         `json:"contract_id"`
	Category     string         `json:"category"`
	Answer       string         `json:"answer"`
	IsImpossible bool           `json:"is_impossible"`
	Evidence     []CUADEvidence `json:"evidence"`
}

// CUADEvidence is a gold evidence span, offsets into the contract text.
type CUADEvidence struct {
	Text  string `json:"text"`
	Start int    `json:"char_start"`
	End   int    `json:"char_end"`
}

// LoadCUADQA reads a CUAD Q&A JSONL file.
func LoadCUADQA(path string) ([]CUADExample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	defer f.Close()
	var out []CUADExample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var ex CUADExample
		if err := json.Unmarshal(sc.Bytes(), &ex); err != nil {
			return nil, fmt.Errorf("contract: %s:%d: %w", path, line, err)
		}
		out = append(out, ex)
	}
	return out, sc.Err()
}

// Key-fact matchers for CUAD gold answers.
const (
	matchText     = "text"     // normalised gold answer appears in the output
	matchDate     = "date"     // the gold date appears (as a date) in the output
	matchDuration = "duration" // a gold duration (number + unit) appears in the output
	matchParties  = "parties"  // at least half the gold party names appear in the output
)

// CUADCategory maps a CUAD category to the fact types that answer it and
// the key-fact matcher used for recall. Claimed categories are those the
// generator claims to cover (recall of at least 80% on testdata/cuad); the
// others it answers only where its rules are sure, so their answers count
// for precision but their recall is not a promise.
type CUADCategory struct {
	Name      string
	FactTypes []string
	Match     string
	Claimed   bool
}

// CUADCategories are the CUAD categories our rules answer. Expiration
// dates in CUAD are mostly computed (start plus term) and never appear in
// the text; liquidated damages and non-compete covenants take forms the
// rules leave alone rather than guess (forfeitures, credits, "will not
// develop any Product").
var CUADCategories = []CUADCategory{
	{"Document Name", []string{FactTitle}, matchText, true},
	{"Parties", []string{FactParties}, matchParties, true},
	{"Agreement Date", []string{FactAgreementDate}, matchDate, true},
	{"Effective Date", []string{FactEffectiveDate}, matchDate, true},
	{"Expiration Date", []string{FactTerm}, matchDate, false},
	{"Renewal Term", []string{FactRenewalTerm}, matchDuration, true},
	{"Notice Period To Terminate Renewal", []string{FactRenewalNotice}, matchDuration, true},
	{"Governing Law", []string{FactGoverningLaw}, matchText, true},
	{"Termination For Convenience", []string{FactTerminationConvenience}, matchText, true},
	{"Anti-Assignment", []string{FactAssignment}, matchText, true},
	{"Audit Rights", []string{FactAuditRights}, matchText, true},
	{"Cap On Liability", []string{FactLiabilityCap, FactConsequential}, matchText, true},
	{"Liquidated Damages", []string{FactLiquidatedDamages}, matchText, false},
	{"Warranty Duration", []string{FactWarrantyPeriod}, matchText, true},
	{"Insurance", []string{FactInsurance}, matchText, true},
	{"Non-Compete", []string{FactNonCompete}, matchText, false},
	{"Exclusivity", []string{FactExclusivity}, matchText, true},
	{"No-Solicit Of Employees", []string{FactNonSolicit}, matchText, true},
}

// CategoryScore is the quality of one CUAD category.
type CategoryScore struct {
	Category  string
	Claimed   bool
	Gold      int // non-impossible gold rows
	Found     int // of which found in our answers
	Answers   int // our base answers of the matching fact types
	Precise   int // of which cite a clause overlapping gold evidence
	Wrong     int // answers that cite no gold evidence, or state a key fact the gold answer contradicts
	Recall    float64
	Precision float64
}

var reAlnum = regexp.MustCompile(`[^a-z0-9]+`)

func keyNorm(s string) string {
	return strings.TrimSpace(reAlnum.ReplaceAllString(strings.ToLower(s), " "))
}

// EvaluateCUAD scores records against CUAD gold rows. contracts maps CUAD
// contract ids to the parsed contracts the records came from.
//
// Recall: a non-impossible gold row is found when some answerable record of
// the category's fact types, for that contract, matches it. Gold answers
// that are only "Yes", empty or "[]" carry no key fact, so such a row is
// found when a record cites a clause whose span [Start,End) overlaps one of
// the row's evidence spans. Otherwise the category's matcher applies to the
// record output: text (normalised gold text contained), date (the gold
// m/d/yy date appears as a date), duration (a number+unit of the gold
// appears) or parties (at least half the names before each "(" appear).
//
// Citation precision: among base-variant answerable records of those fact
// types, the share whose cited clause span overlaps a gold evidence span of
// the category in that contract (none when the gold row is impossible).
//
// Wrong answers: base answers whose citation is not precise, plus precise
// ones whose key fact (date, duration, party names) disagrees with a gold
// answer that states one.
func EvaluateCUAD(contracts map[string]*Contract, records []Record, gold []CUADExample) []CategoryScore {
	idBySource := map[string]string{}
	for id, c := range contracts {
		idBySource[c.Source] = id
	}
	type key struct{ contract, category string }
	rows := map[key]CUADExample{}
	for _, g := range gold {
		if contracts[g.ContractID] != nil {
			rows[key{g.ContractID, g.Category}] = g
		}
	}
	var out []CategoryScore
	for _, cat := range CUADCategories {
		types := map[string]bool{}
		for _, t := range cat.FactTypes {
			types[t] = true
		}
		byContract := map[string][]Record{}
		sc := CategoryScore{Category: cat.Name, Claimed: cat.Claimed}
		for _, r := range records {
			id, ok := idBySource[r.Source]
			if !ok || r.Unanswerable || !types[r.FactType] {
				continue
			}
			byContract[id] = append(byContract[id], r)
			if r.Variant != baseVariant {
				continue
			}
			sc.Answers++
			g := rows[key{id, cat.Name}]
			if cl := contracts[id].Clause(r.ClauseID); cl != nil && !g.IsImpossible && overlaps(cl, g.Evidence) {
				sc.Precise++
				if contradicts(cat.Match, g, r) && !goldFound(cat.Match, g, r, contracts[id]) {
					sc.Wrong++
				}
			} else {
				sc.Wrong++
			}
		}
		for k, g := range rows {
			if k.category != cat.Name || g.IsImpossible {
				continue
			}
			sc.Gold++
			for _, r := range byContract[k.contract] {
				if goldFound(cat.Match, g, r, contracts[k.contract]) {
					sc.Found++
					break
				}
			}
		}
		if sc.Gold > 0 {
			sc.Recall = float64(sc.Found) / float64(sc.Gold)
		}
		if sc.Answers > 0 {
			sc.Precision = float64(sc.Precise) / float64(sc.Answers)
		}
		out = append(out, sc)
	}
	return out
}

// contradicts reports whether the answer states a key fact of the kind the
// gold answer gives (a date, a duration, party names), so that a mismatch
// is a contradiction rather than a different way of saying it (a term of
// "ten (10) years" does not contradict an expiration date).
func contradicts(match string, g CUADExample, r Record) bool {
	if noKeyFact(g.Answer) {
		return false
	}
	switch match {
	case matchDate:
		return len(FindDates(r.Output)) > 0
	case matchDuration:
		return len(FindDurations(r.Output)) > 0
	case matchParties:
		return true
	}
	return false
}

// noKeyFact reports whether a gold answer carries no key fact to compare:
// empty, "[]", "Yes" or "No".
func noKeyFact(answer string) bool {
	ans := strings.TrimSpace(answer)
	return ans == "" || ans == "[]" || strings.EqualFold(ans, "yes") || strings.EqualFold(ans, "no")
}

// overlaps reports whether a clause's span overlaps one of the evidence
// spans.
func overlaps(cl *Clause, ev []CUADEvidence) bool {
	for _, e := range ev {
		if cl.Start < e.End && e.Start < cl.End {
			return true
		}
	}
	return false
}

func goldFound(match string, g CUADExample, r Record, c *Contract) bool {
	if noKeyFact(g.Answer) {
		cl := c.Clause(r.ClauseID)
		return cl != nil && overlaps(cl, g.Evidence)
	}
	ans := strings.TrimSpace(g.Answer)
	out := keyNorm(r.Output)
	switch match {
	case matchDate:
		var m, d, y int
		if _, err := fmt.Sscanf(ans, "%d/%d/%d", &m, &d, &y); err != nil {
			return strings.Contains(out, keyNorm(ans))
		}
		y = fullYear(y)
		for _, dt := range FindDates(r.Output) {
			if dt.Y == y && dt.M == m && dt.D == d {
				return true
			}
		}
		return false
	case matchDuration:
		outDurs := map[string]bool{}
		for _, d := range FindDurations(r.Output) {
			outDurs[d.Normal()] = true
		}
		for _, d := range FindDurations(ans) {
			if outDurs[d.Normal()] {
				return true
			}
		}
		return false
	case matchParties:
		names := strings.Split(ans, ";")
		hit, n := 0, 0
		for _, name := range names {
			name, _, _ = strings.Cut(name, "(")
			name = keyNorm(name)
			if name == "" {
				continue
			}
			n++
			if strings.Contains(out, name) {
				hit++
			}
		}
		return n > 0 && 2*hit >= n
	}
	return strings.Contains(out, keyNorm(ans))
}

// WrongRate is the share of wrong answers over all scored categories.
func WrongRate(scores []CategoryScore) (wrong, answers int) {
	for _, s := range scores {
		wrong += s.Wrong
		answers += s.Answers
	}
	return wrong, answers
}

// FormatCUADScores renders the scores as a table: a category the generator
// does not claim to cover is marked with "*" (its recall is no promise),
// and the last line gives the overall wrong-answer rate.
func FormatCUADScores(scores []CategoryScore) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-37s %6s %8s %8s %10s %6s\n", "category", "gold", "recall", "answers", "cite-prec", "wrong")
	for _, s := range scores {
		name := s.Category
		if !s.Claimed {
			name += " *"
		}
		prec := "-"
		if s.Answers > 0 {
			prec = fmt.Sprintf("%.0f%%", 100*s.Precision)
		}
		fmt.Fprintf(&sb, "%-37s %6d %7.0f%% %8d %10s %6d\n", name, s.Gold, 100*s.Recall, s.Answers, prec, s.Wrong)
	}
	w, n := WrongRate(scores)
	if n > 0 {
		fmt.Fprintf(&sb, "wrong answers: %d of %d (%.1f%%); * = answered but not claimed\n", w, n, 100*float64(w)/float64(n))
	}
	return sb.String()
}

// CUADContractID returns the CUAD id ("cuad_07") prefixing a file name such
// as "cuad_07__VAPOTHERM....txt", or "".
func CUADContractID(path string) string {
	base := path[strings.LastIndexAny(path, `/\`)+1:]
	id, _, ok := strings.Cut(base, "__")
	if !ok || !strings.HasPrefix(id, "cuad_") || strings.IndexFunc(id[5:], func(r rune) bool { return !unicode.IsDigit(r) }) >= 0 {
		return ""
	}
	return id
}
