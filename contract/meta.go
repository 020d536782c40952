package contract

import (
	"regexp"
	"strings"
	"unicode"
)

// docTypes are the words a contract's name ends with.
const docTypes = `AGREEMENT|CONTRACT|LEASE|DEED|MEMORANDUM OF UNDERSTANDING|MEMORANDUM|ADDENDUM|AMENDMENT|INDENTURE|GUARANTY|GUARANTEE|UNDERTAKING|TERMS AND CONDITIONS|STATEMENT OF WORK|LETTER OF INTENT`

var (
	// reCapsTitle is an upper-case name ending in a document type:
	// "DISTRIBUTOR AGREEMENT", "JOINT VENTURE CONTRACT".
	reCapsTitle = regexp.MustCompile(`[A-Z][A-Z\-–&,'’ ]*?\b(?:` + docTypes + `)\b`)
	// reDocType finds a document type in any case ("Maintenance and
	// support contract").
	reDocType = regexp.MustCompile(`(?i)\b(?:` + docTypes + `)\b`)
	// reThisTitle is the name in "This Supply Agreement (the ...)".
	reThisTitle = regexp.MustCompile(`\b(?:This|THIS)\s+((?:[A-Z][A-Za-z\-–&']*\s+(?:(?:and|of|for|&)\s+)?){1,8}(?i:` + docTypes + `))\b`)
	reEntity    = regexp.MustCompile(`[A-Z][A-Za-z0-9.,&'’\- ]{1,70}?,? (?:Limited Liability Company|LIMITED LIABILITY COMPANY|Company Limited|COMPANY LIMITED|Co\., Ltd|CO\., LTD|Co\. Ltd|Pte\.? Ltd|PTE\.? LTD|Pty\.? Ltd|Inc|INC|Corp|CORP|Corporation|CORPORATION|LLC|L\.L\.C|Ltd|LTD|Limited|LIMITED|GmbH|AG|S\.p\.A|S\.A\.S|Company|COMPANY|LLP|LP|PLC|plc|N\.V|B\.V|S\.A|SAS|SARL|S\.L|K\.K)\b\.?`)
	noDotSuffix = map[string]bool{"LLC": true, "LLP": true, "LP": true, "PLC": true, "plc": true, "AG": true, "GmbH": true, "Company": true, "COMPANY": true, "Corporation": true, "CORPORATION": true, "Limited": true, "LIMITED": true, "SAS": true, "SARL": true}
	// partyConnect may sit inside a name ("Bank of America", "Dow & Co").
	partyConnect = map[string]bool{"of": true, "de": true, "&": true}
	// partyLead words introduce a name and are not part of it.
	partyLead = map[string]bool{"between": true, "and": true, "by": true, "among": true, "amongst": true, "with": true, "to": true, "from": true}
	// genericParty words alone do not name anyone ("Liability Company").
	genericParty = map[string]bool{"limited": true, "liability": true, "company": true, "corporation": true, "the": true, "a": true, "an": true, "inc": true, "llc": true, "ltd": true, "co": true, "corp": true, "group": true, "party": true, "parties": true}
	reSuffixMore = regexp.MustCompile(`^,? (?:LLC|L\.L\.C\.|Inc\.|INC\.|Inc|INC|Ltd\.|LTD\.|LLP|LP)(?:\b|$)`)
	reZip        = regexp.MustCompile(`\b\d{5}\b|\b(?:Street|Avenue|Road|Plaza|Suite|Floor|Boulevard)\b`) // an address, not a name
	reSentEnd    = regexp.MustCompile(`[A-Za-z0-9]{4,}\. |\b[A-Z]\. The |\b(?:AND|And|and) |, and `)
)

// detectTitle finds the contract's name at the top of the text (head is
// the text before the first clause): a short line holding a document type
// ("JOINT VENTURE CONTRACT", "Maintenance and support contract",
// "AGREEMENT ON THE NON-DISCLOSURE OF CONFIDENTIAL INFORMATION"), else an
// upper-case name ending in a document type inside a long line (contracts
// flattened onto one line) that opens its line and reads as a name (see
// capsName), else the name in "This <X Agreement>".
func detectTitle(head string) string {
	head = head[:min(len(head), 3000)]
	for _, line := range strings.Split(head, "\n") {
		if t, ok := titleLine(line); ok {
			return t
		}
	}
	for _, loc := range reCapsTitle.FindAllStringIndex(head, -1) {
		lead := strings.TrimSpace(head[strings.LastIndexByte(head[:loc[0]], '\n')+1 : loc[0]])
		if m := reExhibit.FindString(lead); strings.TrimSpace(lead[len(m):]) != "" {
			continue // a name opens its line, after an exhibit number at most
		}
		if words := strings.Fields(strings.TrimLeft(head[loc[0]:loc[1]], ",&-–' ")); capsName(words) {
			return strings.Join(words, " ")
		}
	}
	if m := reThisTitle.FindStringSubmatch(head); m != nil {
		return strings.Join(strings.Fields(m[1]), " ")
	}
	return ""
}

// capsName reports whether an upper-case run ending in a document type is
// a name ("CO-BRANDING AGREEMENT") rather than part of a sentence set in
// capitals that mentions an agreement ("IN NO EVENT SHALL ... UNDER THIS
// AGREEMENT"): a name has two to 14 words, is no exhibit heading, opens
// with no preposition or article, and holds no verb and no reference word
// (THIS, THE, SUCH, SAID, ANY).
func capsName(words []string) bool {
	if len(words) < 2 || len(words) > 14 || minorWords[strings.ToLower(words[0])] || reTitleVerb.MatchString(strings.Join(words, " ")) {
		return false
	}
	switch words[0] {
	case "EXHIBIT", "SCHEDULE", "ANNEX":
		return false
	}
	for _, w := range words {
		switch strings.Trim(w, ",;:()") {
		case "THIS", "THE", "SUCH", "SAID", "ANY":
			return false
		}
	}
	return true
}

// sentenceWords mark a line as a sentence rather than a name.
var sentenceWords = map[string]bool{"is": true, "are": true, "made": true, "entered": true, "between": true, "dated": true, "by": true, "hereby": true, "shall": true, "will": true, "whereas": true, "this": true, "the": true}

// titleLine reports whether a line is a contract name: short, holding a
// document type, not a sentence, not quoted.
func titleLine(line string) (string, bool) {
	line = strings.TrimSpace(line)
	if m := reExhibit.FindString(line); m != "" {
		line = strings.TrimLeft(line[len(m):], " \t:.-–—")
	}
	words := strings.Fields(line)
	if len(words) == 0 || len(line) > 120 || len(words) > 14 || !reDocType.MatchString(line) || strings.ContainsAny(line, "\"“”") {
		return "", false
	}
	for i, w := range words {
		if sentenceWords[strings.ToLower(w)] && (i == 0 || !isUpperWord(w)) {
			return "", false
		}
	}
	return strings.TrimSpace(rePageMark.ReplaceAllString(strings.TrimRight(strings.Join(words, " "), ".:,;"), "")), true
}

// rePageMark is a page marker printed beside a title: "(page 2.)".
var rePageMark = regexp.MustCompile(`(?i)\s*\(?\bpage\s+\d+\.?\)?\s*$`)

// reIntro marks the sentence that names the parties: "... by and between
// A and B", "... among A, B and C", "BETWEEN: (1) A ... (2) B".
var reIntro = regexp.MustCompile(`(?i)\b(?:between|among|amongst)\b|\b(?:made|entered into|executed)\s+(?:[^.]{0,80}?\s)?by\s`)

// reNotIntro marks sentences that name other parties: recitals and
// references to other agreements.
var reNotIntro = regexp.MustCompile(`(?i)\bwhereas\b|reference is made|\brecitals?\b`)

// introSentence is the preamble text that introduces the parties: the
// first sentence naming them ("by and between"), with the sentences after
// it (a party's address may hold periods), up to the recitals and at most
// maxIntro bytes; "" when there is none (a letter, a form), so that names
// from recitals, addresses or references to other agreements are never
// taken for the parties.
func introSentence(pre string) string {
	var sb strings.Builder
	for _, s := range Sentences(cleanText(pre)) {
		stop := false
		if loc := reNotIntro.FindStringIndex(s); loc != nil {
			if sb.Len() == 0 && (loc[0] == 0 || strings.Contains(strings.ToLower(s[loc[0]:loc[1]]), "reference")) {
				continue // a reference to another agreement names its parties
			}
			s, stop = s[:loc[0]], true
		}
		if sb.Len() == 0 && !reIntro.MatchString(s) {
			continue
		}
		sb.WriteString(s + " ")
		if stop || sb.Len() > maxIntro {
			break
		}
	}
	return sb.String()
}

const maxIntro = 1200

// detectParties finds company names (ending in Inc., LLC, Ltd., ...) in the
// preamble. Leading lower-case words and connectors ("by and between",
// "BETWEEN") are dropped, names are compared without case or punctuation,
// and a name made only of legal-form words is no name.
func detectParties(pre string) []string {
	flat := reSpaces.ReplaceAllString(pre, " ")
	var out []string
	seen := map[string]bool{}
	for _, loc := range reEntity.FindAllStringIndex(flat, -1) {
		if ext := reSuffixMore.FindStringIndex(flat[loc[1]:]); ext != nil {
			loc[1] += ext[1] // "BOTTLING COMPANY, LLC": the legal form goes on
		}
		m := flat[loc[0]:loc[1]]
		if ends := reSentEnd.FindAllStringIndex(m, -1); ends != nil {
			m = m[ends[len(ends)-1][1]:]
		}
		before := strings.ToLower(flat[max(0, loc[1]-len(m)-3) : loc[1]-len(m)])
		if strings.HasSuffix(before, " a ") || strings.HasSuffix(before, "an ") || strings.HasPrefix(m, "A ") || strings.HasPrefix(m, "An ") {
			continue // "a Delaware corporation" describes a party, it is not one
		}
		words := strings.Fields(m)
		cut := 0
		for i, w := range words {
			r := []rune(w)
			if (unicode.IsLower(r[0]) && !partyConnect[w]) || (i < len(words)-1 && partyLead[strings.ToLower(w)] && isUpperWord(w)) {
				cut = i + 1 // "by and between", "AGREEMENT BETWEEN"
			}
		}
		if cut > 0 && (words[cut-1] == "a" || words[cut-1] == "an") {
			continue // "..., a New York Limited Liability Company" describes a party
		}
		words = words[cut:]
		if d := reDateMDY.FindStringIndex(strings.Join(words, " ")); d != nil && d[0] == 0 {
			words = strings.Fields(strings.TrimLeft(strings.Join(words, " ")[d[1]:], ", "))
		}
		for len(words) > 0 && (partyConnect[words[0]] || partyLead[strings.ToLower(words[0])]) {
			words = words[1:]
		}
		if len(words) < 2 {
			continue
		}
		name := strings.TrimRight(strings.Join(words, " "), ",")
		if last := words[len(words)-1]; strings.HasSuffix(last, ".") && noDotSuffix[strings.TrimSuffix(last, ".")] {
			name = strings.TrimSuffix(name, ".") // the period ends the sentence
		}
		key := partyKey(name)
		generic := true
		for _, w := range words {
			generic = generic && genericParty[strings.ToLower(strings.Trim(w, ".,"))]
		}
		if generic || seen[key] || reZip.MatchString(name) || strings.Contains(key, "agreement") || (len(words) == 2 && words[0] == "The") {
			continue
		}
		seen[key] = true
		out = append(out, name)
		if len(out) == 4 {
			break
		}
	}
	return out
}

// partyKey compares party names without case, spaces or punctuation.
func partyKey(name string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, name)
}
