package contract

import (
	"fmt"
	"regexp"
	"strconv"
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
	FactAmount                 = "amount"
	FactPercentage             = "percentage"
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
	Evidence string // the sentence it was found in
	Answer   string // the cited answer
}

var (
	numWords = `one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|twenty-four|thirty|forty-five|forty|sixty|ninety|one hundred twenty|one hundred eighty|one hundred and eighty|(?:I)`
	// "two (2) years", "ninety ("90") days", "30 days", "one-year", "six months"
	reDuration = regexp.MustCompile(`(?i)\b(?:(?:` + numWords + `)[ \-]*)?(?:\(\s*["“]?(\d+|I)["”]?\s*\)|(\d+)|(` + numWords + `))[ \-]*(?:\(\d+\)\s*)?(business |calendar |working )?(day|week|month|year)s?\b`)
	wordNum    = map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "twenty-four": 24, "thirty": 30, "forty-five": 45, "forty": 40, "sixty": 60, "ninety": 90, "one hundred twenty": 120, "one hundred eighty": 180, "one hundred and eighty": 180, "i": 1}
	months     = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	monthRe    = `(January|February|March|April|May|June|July|August|September|October|November|December|Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|Dec\.?)`
	reDateMDY  = regexp.MustCompile(`(?i)\b` + monthRe + `\s+(\d{1,2})\s*(?:st|nd|rd|th)?,?\s+(\d{4})\b`)
	reDateDMY  = regexp.MustCompile(`(?i)\b(\d{1,2})\s*(?:st|nd|rd|th|t h|s t|n d|r d)?\s+(?:day\s+of\s+)?` + monthRe + `,?\s+(\d{4})\b`)
	reDateNum  = regexp.MustCompile(`\b(\d{1,2})([/.\-])(\d{1,2})[/.\-](\d{4}|\d{2})\b`)
	reAmount   = regexp.MustCompile(`(?:US\$|U\.S\. \$|\$|USD\s?|EUR\s?|€|£|GBP\s?|NIS\s?)\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:million|billion|thousand))?|\b\d[\d,]*(?:\.\d+)?\s(?:dollars|Dollars|DOLLARS|euros|Euros)\b`)
	rePercent  = regexp.MustCompile(`\b\d+(?:\.\d+)?\s?(?:%|percent\b|per cent\b)`)
	reGovLaw   = regexp.MustCompile(`(?i:govern|constru|interpret)[^.]{0,200}?\b(?i:laws?)\b,?\s+(?:(?i:of)\s+)?(?:the\s+)?(?:(State|state|Commonwealth|Province|Republic|Kingdom)\s+of\s+)?([A-Z][A-Za-z]+(?:\s+[A-Z][A-Za-z]+){0,2})`)
	reVenue    = regexp.MustCompile(`(?i:courts?|arbitration|tribunal|venue)[^.]{0,120}?\b(?:in|of)\s+(?:the\s+)?(?:(?:State|City|County|Commonwealth|Borough)\s+of\s+)?([A-Z][A-Za-z]+(?:,?\s+[A-Z][A-Za-z]+){0,3})`)
)

// Duration is a time span found in text.
type Duration struct {
	N    int
	Unit string // day, week, month, year
	Text string // as written: "two (2) years"
	Pos  int
}

// Normal is "2 years", "30 days".
func (d Duration) Normal() string {
	if d.N == 1 {
		return "1 " + d.Unit
	}
	return fmt.Sprintf("%d %ss", d.N, d.Unit)
}

// FindDurations lists the durations in s.
func FindDurations(s string) []Duration {
	var out []Duration
	for _, m := range reDuration.FindAllStringSubmatchIndex(s, -1) {
		var n int
		switch {
		case m[2] >= 0:
			n = parseCount(s[m[2]:m[3]])
		case m[4] >= 0:
			n, _ = strconv.Atoi(s[m[4]:m[5]])
		case m[6] >= 0:
			w := s[m[6]:m[7]]
			if w == "I" || w == "i" {
				continue // a lone "I" is a pronoun, not "one"
			}
			n = parseCount(w)
		}
		if n <= 0 {
			continue
		}
		unit := strings.ToLower(s[m[10]:m[11]])
		text := strings.TrimSpace(s[m[0]:m[1]])
		out = append(out, Duration{N: n, Unit: unit, Text: text, Pos: m[0]})
	}
	return out
}

func parseCount(w string) int {
	if n, err := strconv.Atoi(w); err == nil {
		return n
	}
	return wordNum[strings.ToLower(strings.Join(strings.Fields(w), " "))]
}

// Date is a calendar date found in text.
type Date struct {
	Y, M, D int
	Text    string
	Pos     int
}

// String is "September 7, 1999".
func (d Date) String() string { return fmt.Sprintf("%s %d, %d", months[d.M-1], d.D, d.Y) }

func monthNum(s string) int {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	for i, m := range months {
		if strings.HasPrefix(strings.ToLower(m), s[:min(3, len(s))]) {
			return i + 1
		}
	}
	return 0
}

// FindDates lists the dates in s: "September 7, 1999", "7th day of
// September, 1999", "3/14/2018" (month first) and "1.4.2011" (day first).
func FindDates(s string) []Date {
	var out []Date
	add := func(y, m, d, pos int, text string) {
		if y < 100 {
			y += 2000
			if y > 2050 {
				y -= 100
			}
		}
		if m >= 1 && m <= 12 && d >= 1 && d <= 31 && y >= 1900 && y <= 2100 {
			out = append(out, Date{Y: y, M: m, D: d, Text: text, Pos: pos})
		}
	}
	for _, m := range reDateMDY.FindAllStringSubmatchIndex(s, -1) {
		d, _ := strconv.Atoi(s[m[4]:m[5]])
		y, _ := strconv.Atoi(s[m[6]:m[7]])
		add(y, monthNum(s[m[2]:m[3]]), d, m[0], s[m[0]:m[1]])
	}
	for _, m := range reDateDMY.FindAllStringSubmatchIndex(s, -1) {
		d, _ := strconv.Atoi(s[m[2]:m[3]])
		y, _ := strconv.Atoi(s[m[6]:m[7]])
		add(y, monthNum(s[m[4]:m[5]]), d, m[0], s[m[0]:m[1]])
	}
	for _, m := range reDateNum.FindAllStringSubmatchIndex(s, -1) {
		a, _ := strconv.Atoi(s[m[2]:m[3]])
		b, _ := strconv.Atoi(s[m[6]:m[7]])
		y, _ := strconv.Atoi(s[m[8]:m[9]])
		if s[m[4]:m[5]] == "." {
			a, b = b, a // dotted dates are day first
		}
		add(y, a, b, m[0], s[m[0]:m[1]])
	}
	// order by position
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Pos < out[j-1].Pos; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// abbreviations that end with a period without ending a sentence.
var abbrevs = map[string]bool{"inc": true, "corp": true, "ltd": true, "co": true, "no": true, "nos": true, "sec": true, "e.g": true, "i.e": true, "u.s": true, "s.p.a": true, "mr": true, "ms": true, "dr": true, "st": true, "l.l.c": true, "n.v": true, "b.v": true, "s.a": true, "jr": true, "vs": true, "etc": true}

// Sentences splits clause text into sentences.
func Sentences(text string) []string {
	var out []string
	start := 0
	for i := 0; i < len(text); i++ {
		if (text[i] != '.' && text[i] != ';' && text[i] != '!' && text[i] != '?') || i+2 >= len(text) || text[i+1] != ' ' {
			continue
		}
		next := rune(text[i+2])
		if !unicode.IsUpper(next) && next != '(' && next != '"' && !unicode.IsDigit(next) {
			continue
		}
		if text[i] == '.' {
			j := strings.LastIndexByte(text[:i], ' ')
			word := strings.ToLower(strings.Trim(text[j+1:i], "(\"“"))
			if abbrevs[word] || len(word) <= 1 || (len(word) <= 3 && strings.Count(word, ".") > 0) || isNumberToken(word) {
				continue
			}
		}
		if s := strings.TrimSpace(text[start : i+1]); s != "" {
			out = append(out, s)
		}
		start = i + 2
	}
	if s := strings.TrimSpace(text[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

func isNumberToken(w string) bool {
	for _, r := range w {
		if !unicode.IsDigit(r) && r != '.' && r != '(' && r != ')' {
			return false
		}
	}
	return w != ""
}

// trimSentence shortens s to at most n bytes at a word boundary.
func trimSentence(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n], ' ')
	if cut < n/2 {
		cut = n
	}
	return strings.TrimRight(s[:cut], ",;: ") + " ..."
}

// asClause makes a sentence readable after "Based on Section X, ".
func asClause(s string) string {
	s = strings.TrimRight(trimSentence(s, 420), ".;: ")
	words := strings.Fields(s)
	if len(words) > 1 && sentenceStarters[words[0]] && !isUpperWord(words[1]) {
		s = strings.ToLower(s[:1]) + s[1:]
	}
	return s + "."
}

func hasAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// durationNear returns the first duration in s whose surroundings (within
// 80 bytes) contain one of the words, limited to the given units.
func durationNear(s string, durs []Duration, units string, words ...string) (Duration, bool) {
	ls := strings.ToLower(s)
	for _, d := range durs {
		if !strings.Contains(units, d.Unit) {
			continue
		}
		lo, hi := max(0, d.Pos-80), min(len(ls), d.Pos+len(d.Text)+80)
		if hasAny(ls[lo:hi], words...) {
			return d, true
		}
	}
	return Duration{}, false
}

// sentenceRule extracts at most one fact of its type per clause.
type sentenceRule struct {
	typ   string
	match func(s, ls string, durs []Duration) (value, statement string, ok bool)
}

func extractive(cond func(ls string) bool) func(s, ls string, durs []Duration) (string, string, bool) {
	return func(s, ls string, _ []Duration) (string, string, bool) {
		if !cond(ls) {
			return "", "", false
		}
		return "", asClause(s), true
	}
}

var sentenceRules = []sentenceRule{
	{FactGoverningLaw, func(s, ls string, _ []Duration) (string, string, bool) {
		if !strings.Contains(ls, "govern") {
			return "", "", false
		}
		var m []string
		for _, c := range reGovLaw.FindAllStringSubmatch(s, -1) {
			if !hasAny(strings.ToLower(c[2]), "agreement", "section", "article", "this", "such") {
				m = c
				break
			}
		}
		if m == nil {
			return "", "", false
		}
		place := m[2]
		if m[1] != "" {
			place = "the " + strings.ToUpper(m[1][:1]) + strings.ToLower(m[1][1:]) + " of " + m[2]
		}
		return m[2], "this Agreement is governed by the laws of " + place + ".", true
	}},
	{FactJurisdiction, func(s, ls string, _ []Duration) (string, string, bool) {
		if !hasAny(ls, "jurisdiction", "venue", "arbitration", "courts") || !hasAny(ls, "exclusive", "submit", "venue", "located in", "held in", "seated", "courts of", "courts in", "conducted in") {
			return "", "", false
		}
		m := reVenue.FindStringSubmatch(s)
		if m == nil {
			return "", "", false
		}
		return m[1], asClause(s), true
	}},
	{FactEffectiveDate, func(s, ls string, _ []Duration) (string, string, bool) {
		if !strings.Contains(ls, "effective") {
			return "", "", false
		}
		if ds := FindDates(s); len(ds) > 0 {
			return ds[0].String(), "this Agreement is effective as of " + ds[0].String() + ".", true
		}
		if strings.Contains(s, "Effective Date") && hasAny(ls, "shall be", "means", "shall mean", "effective as of", "will be effective") {
			return "", asClause(s), true
		}
		return "", "", false
	}},
	{FactRenewalTerm, func(s, ls string, durs []Duration) (string, string, bool) {
		i := strings.Index(ls, "renew")
		if i < 0 {
			i = strings.Index(ls, "extended")
		}
		if i < 0 {
			return "", "", false
		}
		for _, d := range durs {
			if d.Pos > i-60 && (d.Unit == "year" || d.Unit == "month") {
				how := "an additional term of "
				if strings.Contains(ls, "successive") {
					how = "successive terms of "
				}
				verb := "may be renewed for "
				if strings.Contains(ls, "automatic") {
					verb = "renews automatically for "
				}
				return d.Normal(), "the Agreement " + verb + how + d.Text + ".", true
			}
		}
		return "", "", false
	}},
	{FactRenewalNotice, func(s, ls string, durs []Duration) (string, string, bool) {
		if !hasAny(ls, "renew", "renewal") {
			return "", "", false
		}
		d, ok := durationNear(s, durs, "day month", "notice", "prior to", "before")
		if !ok || (d.Unit == "month" && d.N == 12) {
			return "", "", false
		}
		return d.Normal(), "a party must give at least " + d.Text + " notice before the end of the current term to prevent renewal.", true
	}},
	{FactTerm, func(s, ls string, durs []Duration) (string, string, bool) {
		if !hasAny(ls, "term of this agreement", "initial term", "shall continue", "will continue", "remain in effect", "remain in full force", "in effect for", "shall terminate", "shall expire", "term of the agreement") {
			return "", "", false
		}
		r := strings.Index(ls, "renew")
		for _, d := range durs {
			if (d.Unit == "year" || d.Unit == "month") && (r < 0 || d.Pos < r) {
				return d.Normal(), "the initial term of this Agreement is " + d.Text + ".", true
			}
		}
		return "", "", false
	}},
	{FactWarrantyPeriod, func(s, ls string, durs []Duration) (string, string, bool) {
		if !strings.Contains(ls, "warrant") {
			return "", "", false
		}
		d, ok := durationNear(s, durs, "day month year", "period", "from the date", "after", "following", "warrant")
		if !ok {
			return "", "", false
		}
		return d.Normal(), "the warranty period is " + d.Text + ": " + asClause(s), true
	}},
	{FactDefectLiability, func(s, ls string, durs []Duration) (string, string, bool) {
		if !hasAny(ls, "defect liability", "defects liability") || len(durs) == 0 {
			return "", "", false
		}
		return durs[0].Normal(), "the defect liability period is " + durs[0].Text + ".", true
	}},
	{FactTerminationConvenience, func(s, ls string, durs []Duration) (string, string, bool) {
		if !strings.Contains(ls, "terminat") || !hasAny(ls, "without cause", "for convenience", "for any reason", "at any time", "sole discretion", "with or without cause") || strings.Contains(ls, "renew") {
			return "", "", false
		}
		v := ""
		if d, ok := durationNear(s, durs, "day month", "notice"); ok {
			v = d.Normal()
		}
		return v, asClause(s), true
	}},
	{FactTerminationNotice, func(s, ls string, durs []Duration) (string, string, bool) {
		if !strings.Contains(ls, "terminat") || strings.Contains(ls, "renew") {
			return "", "", false
		}
		d, ok := durationNear(s, durs, "day month", "notice")
		if !ok {
			return "", "", false
		}
		return d.Normal(), asClause(s), true
	}},
	{FactCurePeriod, func(s, ls string, durs []Duration) (string, string, bool) {
		if !strings.Contains(ls, "cure") {
			return "", "", false
		}
		d, ok := durationNear(s, durs, "day month", "cure", "remed")
		if !ok {
			return "", "", false
		}
		return d.Normal(), "a breach may be cured within " + d.Text + ": " + asClause(s), true
	}},
	{FactPaymentTerms, func(s, ls string, durs []Duration) (string, string, bool) {
		if !hasAny(ls, "pay", "invoice", "remit") || strings.Contains(ls, "terminat") {
			return "", "", false
		}
		d, ok := durationNear(s, durs, "day", "invoice", "payment", "pay", "due", "net")
		if !ok {
			return "", "", false
		}
		return d.Normal(), asClause(s), true
	}},
	{FactLiabilityCap, func(s, ls string, _ []Duration) (string, string, bool) {
		if !strings.Contains(ls, "liab") || !hasAny(ls, "exceed", "limited to", "maximum", "aggregate liability", "total liability", "cumulative", "cap") {
			return "", "", false
		}
		v := ""
		if a := reAmount.FindString(s); a != "" {
			v = a
		}
		return v, asClause(s), true
	}},
	{FactConsequential, extractive(func(ls string) bool {
		return hasAny(ls, "consequential", "indirect", "punitive") && hasAny(ls, "liable", "liability", "waive", "damages")
	})},
	{FactLiquidatedDamages, extractive(func(ls string) bool {
		return hasAny(ls, "liquidated damages", "termination fee", "termination payment", "as a penalty", "early termination charge", "service level credit")
	})},
	{FactInsurance, extractive(func(ls string) bool {
		return hasAny(ls, "insurance", "insured") && hasAny(ls, "maintain", "carry", "procure", "obtain", "insured", "policy", "policies", "coverage")
	})},
	{FactConfidentiality, func(s, ls string, durs []Duration) (string, string, bool) {
		if !hasAny(ls, "confidential") || !hasAny(ls, "not disclose", "confidence", "confidential information", "keep confidential", "shall not use") {
			return "", "", false
		}
		v := ""
		if d, ok := durationNear(s, durs, "month year", "period", "after", "following", "survive"); ok {
			v = d.Normal()
		}
		return v, asClause(s), true
	}},
	{FactAssignment, extractive(func(ls string) bool {
		return strings.Contains(ls, "assign") && hasAny(ls, "consent", "may not", "shall not", "null and void", "not be assigned", "without the")
	})},
	{FactAuditRights, extractive(func(ls string) bool {
		return hasAny(ls, "audit", "inspect") && hasAny(ls, "record", "books", "facilit", "premises", "accounts")
	})},
	{FactIndemnification, extractive(func(ls string) bool {
		return hasAny(ls, "indemnify", "hold harmless", "indemnification")
	})},
	{FactNonCompete, extractive(func(ls string) bool {
		// A restriction, not any mention of competition: a named covenant,
		// or competing activity under a prohibition.
		if hasAny(ls, "non-compet", "noncompet", "covenant not to compete") {
			return true
		}
		prohibited := hasAny(ls, "shall not", "will not", "agrees not to", "undertakes not to", "may not", "refrain", "directly or indirectly")
		if hasAny(ls, "compete", "competing", "competitive product") && prohibited {
			return true
		}
		// Covenants that never say "compete": a prohibited commercial
		// activity bounded by the term or a period after it.
		return prohibited &&
			hasAny(ls, " sell", "market", "develop", "manufactur", "commerciali", "promot", "participate in any") &&
			hasAny(ls, "during the term", "throughout the term", "after the expiration", "after the termination", "from the date of termination", "thereafter")
	})},
	{FactNonSolicit, extractive(func(ls string) bool {
		return hasAny(ls, "solicit", "hire any employee", "employ any")
	})},
	{FactExclusivity, extractive(func(ls string) bool {
		// Exclusive dealing: an exclusive grant or a sole-source duty. A
		// "non-exclusive" grant is the opposite, and "exclusively" in
		// disputes, remedies or ownership is not exclusive dealing.
		ls = strings.NewReplacer("non-exclusive", "", "nonexclusive", "").Replace(ls)
		if hasAny(ls, "remedy", "liability", "jurisdiction", "dispute", "governed", "exclusively own", "exclusively control", "indemnif") {
			return false
		}
		return hasAny(ls, "exclusive distributor", "exclusive reseller", "exclusive right", "exclusive license", "exclusivity",
			"shall be exclusive", "solely from", "from any source other than")
	})},
	{FactForceMajeure, extractive(func(ls string) bool {
		return hasAny(ls, "force majeure", "act of god", "acts of god")
	})},
	{FactNotices, extractive(func(ls string) bool {
		return hasAny(ls, "notice") && hasAny(ls, "in writing", "shall be given", "shall be sent", "delivered", "addressed") && hasAny(ls, "all notices", "any notice", "notices")
	})},
	{FactAmount, func(s, _ string, _ []Duration) (string, string, bool) {
		a := reAmount.FindString(s)
		if a == "" {
			return "", "", false
		}
		return strings.TrimSpace(a), asClause(s), true
	}},
	{FactPercentage, func(s, _ string, _ []Duration) (string, string, bool) {
		p := rePercent.FindString(s)
		if p == "" {
			return "", "", false
		}
		return p, asClause(s), true
	}},
}

// ExtractFacts applies the rules to every clause of c: preamble facts
// (title, parties, agreement date), then per-sentence rules, at most one fact
// of a type per clause.
func ExtractFacts(c *Contract) []Fact {
	var facts []Fact
	add := func(typ string, cl *Clause, value, evidence, statement string) {
		facts = append(facts, Fact{Type: typ, Clause: cl, Value: value, Evidence: evidence,
			Answer: "Based on " + cl.Label + ", " + statement})
	}
	clauses := c.Flatten()
	if len(clauses) > 0 {
		first := clauses[0]
		lower := strings.ToLower(first.Text)
		if c.Title != "" && strings.Contains(lower, strings.ToLower(c.Title)) {
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
			if ds := FindDates(first.Text); len(ds) > 0 {
				add(FactAgreementDate, first, ds[0].String(), ds[0].Text, "this Agreement is dated "+ds[0].String()+".")
			}
		}
	}
	for _, cl := range clauses {
		seen := map[string]bool{}
		for _, s := range Sentences(clauseBody(cl)) {
			ls := strings.ToLower(s)
			durs := FindDurations(s)
			for _, r := range sentenceRules {
				if seen[r.typ] {
					continue
				}
				if v, st, ok := r.match(s, ls, durs); ok {
					seen[r.typ] = true
					add(r.typ, cl, v, s, st)
				}
			}
		}
	}
	return facts
}

func joinAnd(xs []string) string {
	if len(xs) <= 1 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}
