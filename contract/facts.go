package contract

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// Fact types extracted from clauses (Fact.Type, Record.FactType).
const (
	FactTitle                  = "title"
	FactParties                = "parties"
	FactAgreementDate          = "agreement_date"
	FactEffectiveDate          = "effective_date"
	FactTerm                   = "term"
	FactRenewalTerm            = "renewal_term"
	FactRenewalNotice          = "renewal_notice"
	FactTerminationNotice      = "termination_notice"
	FactTerminationConvenience = "termination_convenience"
	FactCurePeriod             = "cure_period"
	FactWarrantyPeriod         = "warranty_period"
	FactDefectLiability        = "defect_liability_period"
	FactPaymentTerms           = "payment_terms"
	FactGoverningLaw           = "governing_law"
	FactJurisdiction           = "jurisdiction"
	FactLiabilityCap           = "liability_cap"
	FactConsequential          = "consequential_damages"
	FactLiquidatedDamages      = "liquidated_damages"
	FactInsurance              = "insurance"
	FactConfidentiality        = "confidentiality"
	FactAssignment             = "assignment"
	FactAuditRights            = "audit_rights"
	FactIndemnification        = "indemnification"
	FactNonCompete             = "non_compete"
	FactNonSolicit             = "non_solicitation"
	FactExclusivity            = "exclusivity"
	FactForceMajeure           = "force_majeure"
	FactNotices                = "notices"
	FactSummary                = "summary"
)

// Fact is one rule-extracted fact with the clause it comes from.
type Fact struct {
	Type     string
	Clause   *Clause
	Value    string // the key fact: "New York", "two (2) years", "September 7, 1999"
	Evidence string // the sentence(s) it was found in, as quoted
	Answer   string // the cited answer
}

// A fact's answer cites its clause: "Based on <label>, <statement>".
const citeLead = "Based on "

func citedAnswer(label, statement string) string { return citeLead + label + ", " + statement }

// citation splits a fact's answer into the label of the clause it cites
// and its statement; ok is false for other answers (summaries, absences).
func citation(answer string) (label, statement string, ok bool) {
	rest, ok := strings.CutPrefix(answer, citeLead)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ", ")
}

// maxQuote is the longest sentence (in bytes) quoted in an answer. A longer
// sentence is quoted only through one of its semicolon-separated parts that
// stands on its own and states the fact by itself; otherwise the fact is
// not asked about.
const maxQuote = 900

// singleValued fact types have one true answer per contract: when several
// clauses seem to state one, the clause whose heading names the topic
// wins, then the earliest.
var singleValued = map[string][]string{
	FactTitle: nil, FactParties: nil, FactAgreementDate: nil,
	FactEffectiveDate:   {"effective", "commencement"},
	FactTerm:            {"term", "duration"},
	FactRenewalTerm:     {"renew", "term"},
	FactRenewalNotice:   {"renew", "term"},
	FactGoverningLaw:    {"governing", "law"},
	FactJurisdiction:    {"jurisdiction", "venue", "dispute", "arbitration", "forum"},
	FactDefectLiability: {"defect"},
}

// ExtractFacts applies the rules to c: title, parties and agreement date
// from the preamble, then the sentence rules to every clause that is not an
// exhibit (an exhibit's own term or dates are not the contract's), at most
// one fact of a type per clause and one per contract for single-valued
// types. A rule answers only when the sentence it quotes states the fact by
// itself; a fact it cannot state cleanly is left out.
func ExtractFacts(c *Contract) []Fact {
	var facts []Fact
	add := func(typ string, cl *Clause, value, evidence, statement string) {
		facts = append(facts, Fact{Type: typ, Clause: cl, Value: value, Evidence: evidence,
			Answer: citedAnswer(cl.Label, statement)})
	}
	clauses := c.Flatten()
	if len(clauses) == 0 {
		return nil
	}
	first := clauses[0]
	lower := strings.ToLower(first.Text)
	if c.Title != "" && strings.Contains(strings.Join(strings.Fields(lower), " "), strings.ToLower(c.Title)) {
		add(FactTitle, first, c.Title, c.Title, "the document is titled \""+c.Title+"\".")
	}
	found := 0
	for _, p := range c.Parties {
		if strings.Contains(lower, strings.ToLower(p)) {
			found++
		}
	}
	if found >= 2 && found == len(c.Parties) {
		add(FactParties, first, strings.Join(c.Parties, "; "), first.Text, "the parties to this Agreement are "+joinAnd(c.Parties)+".")
	}
	if first.Kind == KindPreamble {
		if d, ev, ok := agreementDate(first.Text); ok {
			add(FactAgreementDate, first, d.String(), ev, "this Agreement is dated "+d.String()+".")
		} else if d, cl, ok := signatureDate(c); ok {
			add(FactAgreementDate, cl, d.String(), d.Text, "this Agreement is dated "+d.String()+", the date of its last signature.")
		} else if ev, ok := blankDate(first.Text); ok {
			add(FactAgreementDate, first, "left blank", ev, "the date of this Agreement is left blank.")
		}
	}
	for _, cl := range clauses {
		if cl.Kind == KindExhibit {
			continue
		}
		seen := map[string]bool{}
		for _, u := range units(cl) {
			if reLeans.MatchString(u) {
				continue // "The payment of such amount is ... liquidated damages": the amount is elsewhere
			}
			lu := strings.ToLower(u)
			var durs []Duration
			if hasAny(lu, "day", "week", "month", "year") {
				durs = FindDurations(u)
			}
			definition := reDefinition.MatchString(u)
			for _, r := range sentenceRules {
				if seen[r.typ] || (cl.Kind == KindPreamble && !r.preamble) || !hasAny(lu, r.needs...) {
					continue
				}
				if definition && r.typ != FactEffectiveDate {
					continue // "\"Compete\" shall mean ... hiring employees" defines, it does not bind
				}
				if v, st, ok := r.match(u, lu, durs); ok {
					if v == "" && (cl.Kind == KindPreamble || strings.HasSuffix(u, ":")) {
						// the preamble answers with a value (a date), never a quote
						// of its long opening sentence; a sentence ending in a colon
						// opens a list that is not part of it
						continue
					}
					seen[r.typ] = true
					add(r.typ, cl, v, u, st)
				}
			}
		}
	}
	return onePerContract(facts)
}

// onePerContract keeps, for each single-valued fact type, the fact whose
// clause heading names the topic, else the first.
func onePerContract(facts []Fact) []Fact {
	best := map[string]int{}
	for i, f := range facts {
		words, single := singleValued[f.Type]
		if !single {
			continue
		}
		j, ok := best[f.Type]
		if !ok || (!titleNames(facts[j].Clause, words) && titleNames(f.Clause, words)) {
			best[f.Type] = i
		}
	}
	var out []Fact
	for i, f := range facts {
		if j, single := best[f.Type]; single && j != i {
			continue
		}
		out = append(out, f)
	}
	return out
}

func titleNames(cl *Clause, words []string) bool {
	t := strings.ToLower(cl.Title)
	for _, w := range words {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

var (
	// reListMark is a list marker opening a sentence: "(a) ", "b. ",
	// "(iv) ", "(A) ", "1. ".
	reListMark = regexp.MustCompile(`^(?:\((?:[a-zA-Z]|[ivxIVX]{1,5}|\d{1,2})\)|[a-zA-Z]\.|\d{1,2}\.|[●•·▪\-–])\s+`)
	// reProviso opens a clause that qualifies the one before it.
	reProviso = regexp.MustCompile(`(?i)^\s*(?:provided|except|excepting|unless|subject to|but|save that|however)\b`)
	// reAddressBlock starts the address list that a notice clause runs
	// into without a sentence end: "...as follows: If to Kaplan: ...".
	reAddressBlock = regexp.MustCompile(`(?:as follows|below):\s+|:\s+If to\b|\bIf to [A-Z][^:]{0,60}:`)
	// reTrailingMark is the first list marker of an enumeration cut off
	// at a clause end ("...: a."); the colon before it remains.
	reTrailingMark = regexp.MustCompile(`:\s*\(?[a-zA-Z0-9]{1,3}[.)]$`)
	// reListOpen is a colon that opens an enumeration.
	reListOpen = regexp.MustCompile(`:\s*\(?(?:a|i|1|A|I)\)`)
	// reDangling opens a sentence that leans on the one before it.
	reDangling = regexp.MustCompile(`^(?:[^.]{0,120}?\b(?:this|such) (?:amount|sum)\b|Such|These|Those|It|They|Thereafter|The foregoing|In such (?:event|case)|In that (?:event|case)|This (?:right|obligation|provision|period|restriction|limitation|section|Section|paragraph|clause))\b`)
	// reLeans opens a unit whose subject is only referred to: the
	// sentence it leans on is not in the clause (units joins it when it
	// is), so the unit cannot state the fact by itself. An amount stated
	// before "such amount" is its own antecedent.
	reLeans = regexp.MustCompile(`^(?:Such|These|Those|They|The foregoing|In such (?:event|case)|In that (?:event|case)|This (?:right|obligation|restriction|limitation))\b|^[^.$\d]{0,120}?\b(?:this|such) (?:amount|sum)\b`)
	// reDebris marks table and table-of-contents text: dot leaders, pipes,
	// runs of bare numbers.
	reDebris = regexp.MustCompile(`\.{4,}|\||(?:\b\d+(?:\.\d+)*\s+){4,}`)
)

// units lists the quotable statements of a clause: its sentences (a
// sentence that leans on the one before, "Such events ...", joined to it),
// list markers and the clause heading removed. A sentence longer than
// maxQuote gives way to its semicolon-separated parts that stand alone.
// Table and table-of-contents debris is left out.
func units(cl *Clause) []string {
	sents := Sentences(clauseBody(cl))
	// a clause that ends in a colon continues in its lettered
	// paragraphs ("... at the end of any calendar month by: (a) giving
	// ... and (b) paying ..."): the last sentence takes them in
	if n := len(sents); n > 0 && strings.HasSuffix(sents[n-1], ":") && len(cl.Children) > 0 {
		var items []string
		for _, ch := range cl.Children {
			if ch.Kind != KindParagraph {
				items = nil
				break
			}
			items = append(items, ch.Text)
		}
		if whole := sents[n-1] + " " + strings.Join(items, " "); items != nil && len(whole) <= maxQuote {
			sents[n-1] = whole
		}
	}
	var out []string
	for i, s := range sents {
		s = cleanUnit(s, cl.Title)
		if s == "" {
			continue
		}
		if reDangling.MatchString(s) && i > 0 && len(out) > 0 {
			prev := out[len(out)-1]
			if len(prev)+len(s) < maxQuote+200 {
				out[len(out)-1] = prev + " " + s
			}
			continue
		}
		if len(s) <= maxQuote {
			out = append(out, s)
			continue
		}
		parts := strings.SplitAfter(s, "; ")
		for j, p := range parts {
			p = strings.TrimSpace(p)
			// a part qualified by the next one ("...; provided, however,
			// that ...") does not state the rule alone
			qualified := j+1 < len(parts) && reProviso.MatchString(parts[j+1])
			// nor one whose list goes on in the next ("... and cancelled
			// checks; tax returns, supplier invoices, ...")
			cut := j+1 < len(parts) && listGoesOn(parts[j+1])
			if standsAlone(p) && len(p) <= maxQuote && !qualified && !cut {
				out = append(out, strings.TrimRight(p, ";")+".")
			}
		}
	}
	var kept []string
	for _, u := range out {
		u = reTrailingMark.ReplaceAllString(dropHeadingTail(u), ":")
		if !reDebris.MatchString(u) && !isHeadingText(u) {
			kept = append(kept, u)
		}
	}
	return kept
}

// dropHeadingTail removes the next clause's heading when it ran onto the
// end of a sentence ("... of this Section 11. No Liability Regarding
// Confidential Information"): a sentence end after a number is no split
// for Sentences, which cannot tell it from "Section 5. Term" in a heading.
func dropHeadingTail(u string) string {
	i := strings.LastIndex(u, ". ")
	if i < 0 {
		return u
	}
	tail := strings.TrimRight(u[i+2:], ".")
	if words := strings.Fields(tail); len(words) > 0 && len(words) <= 8 && capitalShare(words) >= 0.8 && !reVerb.MatchString(tail) {
		return u[:i+1]
	}
	return u
}

// reVerb finds a finite verb of legal prose.
var reVerb = re(`\b(?:shall|will|may|must|is|are|was|were|be|has|have|agrees?|means|includes?|grants?|warrants?|represents?|acknowledges?|appoints?|can|cannot|does|do)\b`)

// isHeadingText reports whether a unit is a heading, a label or a fragment
// rather than a statement: a few words, a title-case phrase with no verb,
// or text that starts in the middle of a sentence ("pay OntoChem ...",
// "Dollars, or such ...").
func isHeadingText(u string) bool {
	words := strings.Fields(u)
	return len(words) < 4 || (capitalShare(words) >= 0.8 && !reVerb.MatchString(u)) || unicode.IsLower(rune(u[0])) || strings.HasSuffix(words[0], ",")
}

// cleanUnit strips a leading list marker and a repeated clause heading.
func cleanUnit(s, title string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < 2; i++ {
		if m := reListMark.FindString(s); m != "" && len(s) > len(m) && unicode.IsUpper(rune(s[len(m)])) {
			s = s[len(m):]
		}
	}
	// a heading run into the sentence: "GOVERNING LAW AND JURISDICTION This
	// Agreement ...", "ASSIGNMENT: This Confidentiality Agreement ..."
	words := strings.Fields(s)
	n := 0
	for n < len(words) && n < 8 && isUpperWord(strings.TrimRight(words[n], ":")) && len(words[n]) > 1 && !strings.HasSuffix(words[n], ",") {
		n++
		if strings.HasSuffix(words[n-1], ":") {
			break
		}
	}
	if n > 0 && n < len(words) && (strings.HasSuffix(words[n-1], ":") || (!isUpperWord(words[n]) && isCapitalized(words[n]))) {
		s = strings.Join(words[n:], " ")
	}
	if title != "" && strings.HasPrefix(s, title) {
		rest := strings.TrimLeft(s[len(title):], ".:;-–— ")
		if rest != "" && unicode.IsUpper(rune(rest[0])) {
			s = rest
		}
	}
	if loc := reAddressBlock.FindStringIndex(s); loc != nil && loc[0] > 0 && strings.Contains(strings.ToLower(s), "notice") {
		s = strings.TrimRight(s[:loc[0]], ":,; ") + "."
	}
	return s
}

// standsAlone reports whether a semicolon-separated part reads as a
// sentence of its own: not a list item ("(iii) Products that ...") nor the
// opening of a list ("... with respect to: (i) any materials").
func standsAlone(p string) bool {
	if p == "" || !unicode.IsUpper(rune(p[0])) || reListMark.MatchString(p) || reListOpen.MatchString(p) {
		return false
	}
	w := strings.ToLower(strings.Fields(p)[0])
	return w != "provided" && w != "and" && w != "or" && w != "but" && w != "except" && !reDangling.MatchString(p)
}

// listGoesOn reports whether a semicolon-separated part continues the
// list of the part before it: it opens in lower case and holds no verb, so
// it is more items, not a clause of its own nor the next lettered item.
func listGoesOn(p string) bool {
	p = strings.TrimSpace(p)
	return p != "" && unicode.IsLower(rune(p[0])) && !reListMark.MatchString(p) && !reVerb.MatchString(p)
}

// quote makes a unit readable after "Based on Section X, ".
func quote(s string) string {
	s = strings.TrimRight(s, ".;:, ")
	words := strings.Fields(s)
	if len(words) > 1 && (sentenceStarters[words[0]] || words[0] == "A" || words[0] == "An") && !isUpperWord(words[1]) {
		s = strings.ToLower(s[:1]) + s[1:]
	}
	return s + "."
}

// withQuote appends the quoted sentence to a value statement, so that the
// answer carries the clause's own words and conditions.
func withQuote(statement, unit string) string {
	return statement + " The clause states: \"" + strings.TrimRight(strings.TrimSpace(unit), ".;:, ") + ".\""
}

// reAgreementIntro finds the sentence that introduces this agreement:
// "This Agreement is made ...", "THIS AGREEMENT dated ...", "... entered
// into this 7th day of ...".
var reAgreementIntro = regexp.MustCompile(`(?i)\b(?:is|are|was|were|be|being|been)?\s*(?:made|entered into|executed|signed|dated|concluded)\b`)

// reOtherAgreementDate is a date that belongs to another document:
// "the Asset Purchase Agreement dated ...", "pursuant to ... of".
var reOtherAgreementDate = regexp.MustCompile(`(?i)\b(?:the|that|an?|certain|such)\s+(?:[A-Z][\w\-]*\s+){0,6}(?:agreement|contract|lease|license|plan|note)\s*(?:\([^)]*\)\s*)?,?\s*(?:dated|of|effective|entered into)\s+(?:as\s+of\s+)?(?:the\s+)?$`)

// agreementDate finds the date this agreement was made: the first date
// after "made", "entered into", "dated", "executed" or "signed" in the
// preamble's sentences, not one that belongs to another document named
// before it ("the Asset Purchase Agreement dated ..."). A preamble that
// only says the agreement "is effective as of" a date gives an effective
// date, not the date it was made.
func agreementDate(pre string) (Date, string, bool) {
	for _, s := range Sentences(cleanText(pre)) {
		loc := reAgreementIntro.FindStringIndex(s)
		if loc == nil {
			continue
		}
		for _, d := range FindDates(s) {
			if d.Pos < loc[0] && !strings.Contains(strings.ToUpper(s[:d.Pos]), "DATED") {
				continue
			}
			if reOtherAgreementDate.MatchString(s[max(0, d.Pos-120):d.Pos]) {
				continue
			}
			return d, s, true
		}
	}
	return Date{}, "", false
}

// reWitness opens the signature block.
var reWitness = regexp.MustCompile(`(?i)in\s+witness\s+where(?:of|for)|agreed\s+(?:to\s+)?and\s+accepted|accepted\s+and\s+agreed`)

// signatureDate is the latest date in the signature block (after "IN
// WITNESS WHEREOF" or "Agreed and Accepted"), the date the last party
// signed, with the clause that holds it.
func signatureDate(c *Contract) (Date, *Clause, bool) {
	locs := reWitness.FindAllStringIndex(c.Text, -1)
	if len(locs) == 0 {
		return Date{}, nil, false
	}
	start := locs[len(locs)-1][0]
	// blank out page footers (an EDGAR filing date is no signature date),
	// keeping offsets
	block := stripFooters(c.Text[start:min(len(c.Text), start+3000)], func(m string) string {
		return strings.Repeat(" ", len(m))
	})
	var best Date
	for _, d := range FindDates(block) {
		if best.Y == 0 || d.Y*10000+d.M*100+d.D > best.Y*10000+best.M*100+best.D {
			best = d
			best.Pos += start
		}
	}
	if best.Y == 0 {
		return Date{}, nil, false
	}
	var at *Clause
	for _, cl := range c.Flatten() {
		if cl.Start <= best.Pos && best.Pos < cl.End {
			at = cl // the deepest clause holding it comes last
		}
	}
	return best, at, at != nil && at.Kind != KindExhibit
}

// reBlankDate is a date left for the parties to fill in: "this ____ day
// of ________, 20__", "dated as of ____________".
var reBlankDate = regexp.MustCompile(`(?i)(?:made|entered into|dated|executed)[^.]{0,60}?(?:this\s+_{2,}\s*day|as\s+of\s+_{3,}|dated\s+_{3,}|effective\s+as\s+of\s+_{3,}|on\s+_{3,})`)

// blankDate reports a preamble whose date is left blank.
func blankDate(pre string) (string, bool) {
	for _, s := range Sentences(cleanText(pre)) {
		if reBlankDate.MatchString(s) {
			return s, true
		}
	}
	return "", false
}

func joinAnd(xs []string) string {
	if len(xs) <= 1 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// FactTypes lists every fact type the generator can ask about, sorted.
func FactTypes() []string {
	var out []string
	for t := range questions {
		if t != FactSummary {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}
