package contract

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// heading is one accepted (or candidate) clause heading.
type heading struct {
	parts     []int  // numeric path; a letter level is its alphabet index
	id        string // as cited: "5.2", "5.2(a)", "V", "Exhibit A"
	article   bool   // introduced by the word ARTICLE
	letter    bool   // last level is a lettered paragraph
	exhibit   bool   // exhibit/schedule/annex/appendix heading
	title     string
	start     int
	page      int
	lineStart bool
	ownLine   bool // the number and a short title fill their line
	listItem  bool // in a run that restarted at 1 after a run of real clauses
	strong    bool // the layout marks it as a heading (a Reducto Section Header block)
}

var (
	reArticle = regexp.MustCompile(`^(?:ARTICLE|Article)[ \t]+([IVXLC]+|\d{1,3})\b\.?[ \t]*[:.\-–—]?[ \t]*`)
	reSection = regexp.MustCompile(`^(?:SECTION|Section|§)[ \t]*(\d{1,3}(?:\.\d{1,3})*)\.?(?:\(([a-z])\))?[ \t]*[:.\-–—]?[ \t]*`)
	reNumber  = regexp.MustCompile(`^(\d{1,3}(?:\.\d{1,3})*)(\.?)(?:\(([a-z])\))?[ \t]+(?:["“\[(]?[A-Z]|\[\*)`)
	reLetter  = regexp.MustCompile(`^(?:\(([a-z])\)|([a-z])\.)[ \t]+["“(]?[A-Za-z]`)
	reExhibit = regexp.MustCompile(`^(?:EXHIBIT|Exhibit|SCHEDULE|Schedule|ANNEX|Annex|APPENDIX|Appendix|ATTACHMENT|Attachment)[ \t]+([A-Z0-9][A-Za-z0-9.\-]*)`)
	// reBoundary finds where an inline heading may start inside a long line:
	// after a sentence end or a rule of dashes.
	reBoundary = regexp.MustCompile(`(?:[.:;]["”)]?|-{3,}|_{3,}|={3,})[ \t]+`)
	// footers are page furniture, each with a literal that must be present
	// for its pattern to be tried: EDGAR footers ("Source: ...,
	// 7/29/2019"), page-number lines, inline page markers ("-15-"), and
	// the SEC redaction legend repeated on every page of a filed exhibit.
	footers = []struct {
		literal string
		re      *regexp.Regexp
	}{
		{"Source:", regexp.MustCompile(`Source: [^\n]{1,80}?\d{1,2}/\d{1,2}/\d{4}`)},
		{"\n", regexp.MustCompile(`(?m)^[ \t]*(?:Page[ \t]+)?-?[ \t]*\d{1,3}[ \t]*-?(?:[ \t]+of[ \t]+\d+)?[ \t]*$`)},
		{"-", regexp.MustCompile(`(?:^|[ \t])-[ \t]?\d{1,3}[ \t]?-(?:[ \t]|$)`)},
		{"[*", regexp.MustCompile(`\[\*(?:[ \t]?\*)*\][ \t]*=[ \t]*Certain[^.]{0,200}?omitted[^.]{0,200}?\.`)},
	}
	reSpaces = regexp.MustCompile(`\s+`)
	// reColumns is a run of spaces wide enough to separate table columns
	// (contracts flattened from PDF often have two spaces between words).
	reColumns = regexp.MustCompile(`\t|[ ]{3,}`)
	// reInlineNum finds a dotted number inside a line ("Rights 1.1 Subject"),
	// a possible inline heading when the word before it is not a reference.
	reInlineNum = regexp.MustCompile(`([A-Za-z$(]*)[ \t]+\d{1,3}\.(?:\d{1,3})?(?:\.\d{1,3})*\.?[ \t]`)
	reTitleStop = regexp.MustCompile(`\s\d{1,3}(?:\.\d{1,3})*\.?(?:\s|$)`)
	refWords    = map[string]bool{"section": true, "sections": true, "article": true, "articles": true, "clause": true, "clauses": true, "paragraph": true, "paragraphs": true, "exhibit": true, "schedule": true, "annex": true, "appendix": true, "and": true, "or": true, "to": true, "through": true, "of": true, "in": true, "under": true, "no": true, "item": true, "rule": true, "form": true}
	reBlank     = regexp.MustCompile(`\n[ \t\r]*\n`)
)

var romanVal = map[byte]int{'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100}

func roman(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		v := romanVal[s[i]]
		if i+1 < len(s) && romanVal[s[i+1]] > v {
			n -= v
		} else {
			n += v
		}
	}
	return n
}

// numberParts parses "5.2" into [5 2]; a trailing ".0" level ("1.0") is
// dropped so that "1.0 Definitions" is a first-level heading.
func numberParts(s string) []int {
	var parts []int
	for _, p := range strings.Split(s, ".") {
		n, _ := strconv.Atoi(p)
		parts = append(parts, n)
	}
	for len(parts) > 1 && parts[len(parts)-1] == 0 {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// cleanText removes page footers and page-number lines and collapses
// whitespace.
func cleanText(s string) string {
	s = stripFooters(s, func(string) string { return " " })
	return strings.TrimSpace(reSpaces.ReplaceAllString(s, " "))
}

// stripFooters replaces each page footer in s with repl(footer).
func stripFooters(s string, repl func(string) string) string {
	for _, f := range footers {
		if strings.Contains(s, f.literal) {
			s = f.re.ReplaceAllStringFunc(s, repl)
		}
	}
	return s
}

// matchNumbered recognises a numbered heading at the start of s.
func matchNumbered(s string, lineStart bool) (heading, int, bool) {
	if m := reArticle.FindStringSubmatch(s); m != nil {
		if !lineStart && !strings.HasPrefix(s, "ARTICLE") {
			return heading{}, 0, false
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			n = roman(m[1])
		}
		return heading{parts: []int{n}, id: m[1], article: true}, len(m[0]), n > 0
	}
	if m := reSection.FindStringSubmatch(s); m != nil {
		h := heading{parts: numberParts(m[1]), id: m[1]}
		if m[2] != "" {
			h.parts = append(h.parts, int(m[2][0]-'a'+1))
			h.id += "(" + m[2] + ")"
			h.letter = true
		}
		return h, len(m[0]), h.parts[0] > 0
	}
	if m := reNumber.FindStringSubmatchIndex(s); m != nil {
		num := s[m[2]:m[3]]
		dotted := m[5] > m[4] || strings.Contains(num, ".")
		if !dotted && !lineStart {
			return heading{}, 0, false
		}
		h := heading{parts: numberParts(num), id: strings.TrimSuffix(num, ".0")}
		if m[6] >= 0 {
			l := s[m[6]:m[7]]
			h.parts = append(h.parts, int(l[0]-'a'+1))
			h.id += "(" + l + ")"
			h.letter = true
		}
		// body starts after the number token and its spaces
		end := m[7] + 1 // after the letter's ")"
		if m[6] < 0 {
			end = m[5]
		}
		for end < len(s) && (s[end] == ' ' || s[end] == '\t') {
			end++
		}
		return h, end, h.parts[0] > 0
	}
	return heading{}, 0, false
}

// exhibitHeading recognises an exhibit, schedule, annex, appendix or
// attachment heading at a line start. The line may go on with a table
// ("ANNEX 2: SERVICES AND LIABILITIES   Service   Period ..."): the title
// ends at the first run of column spaces.
func exhibitHeading(rest string) (heading, bool) {
	m := reExhibit.FindStringSubmatch(rest)
	if m == nil {
		return heading{}, false
	}
	line, _, _ := strings.Cut(rest, "\n")
	line = strings.TrimSpace(line)
	if loc := reColumns.FindStringIndex(line); loc != nil && isUpperTitle(strings.Trim(line[:loc[0]], ":.-–— ")) {
		line = line[:loc[0]] // "ANNEX 2: SERVICES AND LIABILITIES   Service   Period"
	}
	if len(line) > 100 {
		return heading{}, false
	}
	id := strings.TrimRight(m[0], ".:-")
	title := strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, m[0])), ":.-–— ")
	return heading{id: strings.TrimSpace(id), exhibit: true, lineStart: true, title: title}, true
}

// candidates lists every position where a heading might start: each line
// start, and inside long lines each sentence boundary and dotted number
// not preceded by a reference word.
func candidates(text string) []heading {
	var out []heading
	seen := map[int]bool{}
	try := func(pos int, lineStart bool) {
		if seen[pos] {
			return
		}
		seen[pos] = true
		rest := text[pos:min(len(text), pos+300)]
		if lineStart {
			if h, ok := exhibitHeading(rest); ok {
				h.start = pos
				out = append(out, h)
				return
			}
			if m := reLetter.FindStringSubmatch(rest); m != nil {
				l := m[1] + m[2]
				out = append(out, heading{parts: []int{int(l[0] - 'a' + 1)}, id: "(" + l + ")", letter: true, start: pos, lineStart: true,
					title: extractTitle(rest[len(m[0])-1:], false, false)})
				return
			}
		}
		h, n, ok := matchNumbered(rest, lineStart)
		if !ok {
			return
		}
		h.start = pos
		h.lineStart = lineStart
		h.title = extractTitle(text[pos+n:min(len(text), pos+n+300)], lineStart, true)
		if line, _, nl := strings.Cut(text[pos+n:min(len(text), pos+n+100)], "\n"); nl || pos+n+100 >= len(text) {
			line = strings.TrimSpace(line)
			h.ownLine = h.title != "" && len(line) <= 80 && !strings.ContainsAny(strings.TrimRight(line, ".:"), ".;")
		}
		out = append(out, h)
	}
	lineStart := 0
	for lineStart < len(text) {
		lineEnd := strings.IndexByte(text[lineStart:], '\n')
		if lineEnd < 0 {
			lineEnd = len(text)
		} else {
			lineEnd += lineStart
		}
		line := text[lineStart:lineEnd]
		indent := len(line) - len(strings.TrimLeft(line, " \t\r"))
		if indent < len(line) {
			try(lineStart+indent, true)
		}
		for _, m := range reBoundary.FindAllStringIndex(line, -1) {
			if m[1] < len(line) {
				try(lineStart+m[1], false)
			}
		}
		for _, m := range reInlineNum.FindAllStringSubmatchIndex(line, -1) {
			word := strings.ToLower(line[m[2]:m[3]])
			if refWords[word] || strings.ContainsAny(word, "$(") {
				continue
			}
			pos := m[3]
			for line[pos] == ' ' || line[pos] == '\t' {
				pos++
			}
			try(lineStart+pos, false)
		}
		lineStart = lineEnd + 1
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// extractTitle finds a clause heading title at the start of s (the text
// right after the number). With ownLine, a short first line followed by a
// line break is the title (a numbered heading on its own line); lettered
// paragraphs have none. A title never is a definition ("\"Affiliate\"
// means ...") and never runs into a table on the same line.
func extractTitle(s string, lineStart, ownLine bool) string {
	t := findTitle(s, lineStart, ownLine)
	words := strings.Fields(t)
	if len(words) == 0 || strings.ContainsAny(t[:1], "\"“'") || reTitleVerb.MatchString(t) || minorWords[strings.ToLower(words[len(words)-1])] {
		return "" // a definition, a sentence ("Payment ... shall be in U.") or a cut phrase ("Payments to")
	}
	return t
}

// reTitleVerb finds a verb that no heading holds.
var reTitleVerb = regexp.MustCompile(`(?i)\b(?:shall|will|may|must|is|are|means|agrees|hereby)\b`)

func findTitle(s string, lineStart, ownLine bool) string {
	if m := reTitleStop.FindStringIndex(s); m != nil && m[0] <= 100 {
		s = s[:m[0]] + "."
	}
	line, _, hasNL := strings.Cut(s, "\n")
	if loc := reColumns.FindStringIndex(strings.TrimSpace(line)); loc != nil && loc[0] > 0 && isUpperTitle(strings.TrimSpace(line)[:loc[0]]) {
		line = strings.TrimSpace(line)[:loc[0]] // "5. FEES   Service   Price": a table goes on after the heading
		hasNL = true
	}
	line = strings.TrimSpace(line)
	if (lineStart || (hasNL && ownLine)) && line != "" && len(line) <= 80 && !strings.ContainsAny(strings.TrimRight(line, ".:"), ".;") {
		return strings.TrimRight(trimPageNumber(line), ".: ")
	}
	flat := reSpaces.ReplaceAllString(s, " ")
	if i := strings.IndexAny(flat, ".:"); i > 0 && i <= 100 {
		seg := strings.TrimSpace(flat[:i])
		if words := strings.Fields(seg); len(words) > 0 && len(words) <= 12 && capitalShare(words) >= 0.6 && !sentenceStarters[words[0]] && !refWords[strings.ToLower(words[len(words)-1])] {
			return seg
		}
	}
	words := strings.Fields(flat)
	// A short title run straight into its first sentence: "Term This
	// Agreement shall ...", "Scope Of Work Contractor will ...".
	for k := 1; k < min(len(words)-1, 8) && !sentenceStarters[words[0]]; k++ {
		if capitalShare(words[:k]) < 1 || strings.ContainsAny(words[k-1], ".,;:") {
			break
		}
		if sentenceStarters[words[k]] || (isCapitalized(words[k]) && auxVerbs[words[k+1]]) {
			return strings.Join(words[:k], " ")
		}
	}
	// ALL-CAPS lead-in followed by ordinary text: "TERM This Agreement ..."
	n := 0
	for n < len(words) && n < 10 && isUpperWord(words[n]) {
		n++
	}
	if n > 0 && n < len(words) && n < 10 && !isUpperWord(words[n]) && isCapitalized(words[n]) {
		// "TERM This Agreement ...", not "STAAR warrants that ..."
		return strings.TrimRight(strings.Join(words[:n], " "), ".:;,")
	}
	return ""
}

// isUpperTitle reports whether s is an upper-case heading ("SERVICES AND
// LIABILITIES").
func isUpperTitle(s string) bool {
	letters := false
	for _, w := range strings.Fields(s) {
		if strings.IndexFunc(w, unicode.IsLetter) < 0 {
			continue // "2:", "-"
		}
		if !isUpperWord(w) && !minorWords[strings.ToLower(w)] {
			return false
		}
		letters = true
	}
	return letters
}

// trimPageNumber drops a trailing page number from a table-of-contents line.
func trimPageNumber(s string) string {
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		if _, err := strconv.Atoi(s[i+1:]); err == nil {
			return strings.TrimSpace(s[:i])
		}
	}
	return s
}

var minorWords = map[string]bool{"of": true, "and": true, "the": true, "to": true, "for": true, "in": true, "on": true, "or": true, "a": true, "an": true, "with": true, "by": true}

func capitalShare(words []string) float64 {
	if len(words) == 0 {
		return 0
	}
	n := 0
	for _, w := range words {
		r := []rune(strings.TrimLeft(w, "\"“(["))
		if len(r) > 0 && (unicode.IsUpper(r[0]) || unicode.IsDigit(r[0]) || minorWords[w]) {
			n++
		}
	}
	return float64(n) / float64(len(words))
}

var (
	sentenceStarters = map[string]bool{"This": true, "The": true, "Each": true, "Either": true, "Neither": true, "In": true, "If": true, "Subject": true, "Notwithstanding": true, "All": true, "Any": true, "Upon": true, "Unless": true, "No": true, "Except": true, "During": true, "Both": true, "Following": true, "Within": true, "Without": true, "Prior": true}
	auxVerbs         = map[string]bool{"shall": true, "will": true, "may": true, "must": true, "agrees": true, "is": true, "are": true, "has": true, "have": true, "hereby": true, "acknowledges": true, "represents": true, "warrants": true}
)

func isCapitalized(w string) bool {
	r := []rune(w)
	return len(r) > 0 && unicode.IsUpper(r[0])
}

func isUpperWord(w string) bool {
	letters := 0
	for _, r := range w {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsLetter(r) {
			letters++
		}
	}
	return letters >= 2 || w == "&" || w == "A"
}

// maxSkip is the largest number of missing headings a numbering jump may
// stand for ("5.2" straight after "5.0", "7" after "4").
const maxSkip = 3

// step reports whether p may follow path in a numbering sequence and how
// many numbers the jump skips: the next sibling at any open level (5.2
// after 5.1, 6 after 5.2.3) or the first child (5.1 after 5). An empty
// path stands for the start of the document.
func step(path, p []int) (skipped int, ok bool) {
	d := len(p)
	switch {
	case len(path) == 0:
		skipped = p[0] - 1
		for _, v := range p[1:] {
			skipped += v - 1
		}
	case d <= len(path):
		if !slices.Equal(path[:d-1], p[:d-1]) || p[d-1] <= path[d-1] {
			return 0, false
		}
		skipped = p[d-1] - path[d-1] - 1
	case d == len(path)+1:
		if !slices.Equal(path, p[:d-1]) {
			return 0, false
		}
		skipped = p[d-1] - 1
	default:
		return 0, false
	}
	return skipped, skipped <= maxSkip
}

// Chain scoring. Each heading counts about one; a heading the layout
// vouches for (line start, a title, a title alone on its line, a Reducto
// header) counts a little more, so that a cross-reference at a sentence
// start or a numbered list item ("1. General. ABG shall ...") loses to the
// real heading with the same number ("6. Warranties" on its own line).
// Skipped numbers cost more than half a heading, so a chain never jumps
// over real headings to take a stray number. A sibling that follows within
// a few dozen bytes (a table of contents line, a short list item) counts
// half. A chain that starts late leaves a long stretch unexplained: beyond
// the usual few thousand bytes of title, parties and recitals it pays for
// every further thousand, so that a list restarting at 1 deep inside the
// contract does not win over the headings from the top.
const (
	scoreHeading   = 1.0
	scoreLineStart = 0.2
	scoreTitled    = 0.2
	scoreOwnLine   = 0.3
	scoreStrong    = 0.5
	costListItem   = 0.4
	costSkip       = 0.6
	costShort      = 0.5
	shortSpan      = 60
	freePreamble   = 3000
	costLateStart  = 0.25 // per 1000 bytes beyond freePreamble
)

func (h heading) weight() float64 {
	w := scoreHeading
	if h.lineStart {
		w += scoreLineStart
	}
	if h.title != "" {
		w += scoreTitled
	}
	if h.ownLine {
		w += scoreOwnLine
	}
	if h.strong {
		w += scoreStrong
	}
	if h.listItem {
		w -= costListItem
	}
	return w
}

// markLists flags numbered list items: a run of candidates at one level
// under one parent ("1.", "2.", "3.") that restarts at 1 after an earlier
// run at that level whose entries were far apart (real clauses, not a
// table of contents). A restarted run is usually a list inside a clause
// ("1. General. ABG shall ..." under 3.E); the chain search then prefers a
// real heading with the same number.
func markLists(cands []heading) {
	type run struct {
		last   int   // last number of the current run
		starts []int // positions of the previous or current run
		list   bool
	}
	runs := map[string]*run{}
	for i := range cands {
		c := &cands[i]
		d := len(c.parts)
		key := fmt.Sprint(c.parts[:d-1], c.article)
		k := c.parts[d-1]
		r := runs[key]
		switch {
		case r == nil:
			runs[key] = &run{last: k, starts: []int{c.start}}
			continue
		case k == 1:
			r.list = medianGap(r.starts) >= tocGap
			r.starts = nil
		case k == r.last+1 && r.list:
		default:
			r.list = false
		}
		c.listItem = r.list
		r.last = k
		r.starts = append(r.starts, c.start)
	}
}

// tocGap is the median distance between entries above which a numbered
// run is body text rather than a table of contents.
const tocGap = 150

func medianGap(starts []int) int {
	if len(starts) < 2 {
		return math.MaxInt
	}
	gaps := make([]int, len(starts)-1)
	for i := range gaps {
		gaps[i] = starts[i+1] - starts[i]
	}
	slices.Sort(gaps)
	return gaps[len(gaps)/2]
}

// bestChain picks, among numbered candidates in document order, the
// subsequence whose numbering runs as one consistent sequence with the
// highest score (dynamic programming over all predecessor pairs). Numbered
// list items inside a clause ("1.", "2.", "3." under 2.2) and
// table-of-contents entries lose to the body's own headings because
// taking them would drop more real headings than they add. It also
// returns the length of the best chain that ends before the chosen one
// starts (a table of contents when it is long).
func bestChain(cands []heading) (chain []heading, before int) {
	n := len(cands)
	score := make([]float64, n)
	prev := make([]int, n)
	length := make([]int, n)
	for i, c := range cands {
		score[i], prev[i], length[i] = math.Inf(-1), -1, 1
		if skipped, ok := step(nil, c.parts); ok {
			score[i] = c.weight() - costSkip*float64(skipped) - costLateStart*float64(max(0, c.start-freePreamble))/1000
		}
		for j := 0; j < i; j++ {
			if math.IsInf(score[j], -1) {
				continue
			}
			skipped, ok := step(cands[j].parts, c.parts)
			if !ok {
				continue
			}
			s := score[j] + c.weight() - costSkip*float64(skipped)
			if len(c.parts) <= len(cands[j].parts) && c.start-cands[j].start < shortSpan {
				s -= costShort
			}
			if s >= score[i] { // on a tie the nearer predecessor wins
				score[i], prev[i], length[i] = s, j, length[j]+1
			}
		}
	}
	best := -1
	for i := range cands {
		if !math.IsInf(score[i], -1) && (best < 0 || score[i] > score[best]) {
			best = i
		}
	}
	if best < 0 {
		return nil, 0
	}
	for i := best; i >= 0; i = prev[i] {
		chain = append(chain, cands[i])
	}
	slices.Reverse(chain)
	for i := range cands {
		if cands[i].start < chain[0].start && !math.IsInf(score[i], -1) {
			before = max(before, length[i])
		}
	}
	return chain, before
}

// attachLetters adds lettered paragraphs ("(a)", "b.") at line starts under
// the numbered heading they follow, in sequence from (a); other lettered
// lines stay clause text.
func attachLetters(chain, letters []heading) []heading {
	var out []heading
	li := 0
	for i, h := range chain {
		out = append(out, h)
		end := math.MaxInt
		if i+1 < len(chain) {
			end = chain[i+1].start
		}
		base, baseID := h.parts, h.id
		last := 0
		if h.letter {
			base, last = h.parts[:len(h.parts)-1], h.parts[len(h.parts)-1]
			baseID = baseID[:strings.LastIndexByte(baseID, '(')]
		}
		for ; li < len(letters) && letters[li].start < end; li++ {
			l := letters[li]
			if l.start <= h.start || l.parts[0] != last+1 {
				continue
			}
			last = l.parts[0]
			l.parts = append(slices.Clone(base), last)
			l.id = baseID + l.id
			out = append(out, l)
		}
	}
	return out
}

// detectHeadings picks the headings of a text: the best-scoring numbered
// chain (see bestChain), the lettered paragraphs inside it and the
// exhibits after it. Cross-references inside sentences never become
// candidates. marks gives the positions the layout marks as headings.
func detectHeadings(text string, marks map[int]bool) ([]heading, []string) {
	var nums, letters, exhibits []heading
	for _, c := range candidates(text) {
		c.strong = marks[c.start]
		switch {
		case c.exhibit:
			exhibits = append(exhibits, c)
		case c.letter && len(c.parts) == 1:
			letters = append(letters, c)
		default:
			nums = append(nums, c)
		}
	}
	markLists(nums)
	chain, before := bestChain(nums)
	var warnings []string
	if before >= 3 {
		warnings = append(warnings, fmt.Sprintf("skipped a table of contents of %d entries", before))
	}
	if len(chain) == 0 {
		return nil, warnings
	}
	heads := attachLetters(chain, letters)
	if len(chain) >= 2 {
		last := chain[len(chain)-1].start
		for _, x := range exhibits {
			if x.start > last {
				heads = append(heads, x)
			}
		}
	}
	return heads, warnings
}

// ParseText parses a plain-text contract. source names it in the result.
func ParseText(source, text string) *Contract {
	c := &Contract{Source: source, Format: FormatText, Text: text}
	heads, warnings := detectHeadings(text, nil)
	c.Warnings = warnings
	if numbered(heads) < 2 {
		heads = nil
		c.Warnings = append(c.Warnings, "no numbered headings detected; clauses are paragraphs")
	}
	buildTree(c, heads)
	finish(c)
	return c
}

func numbered(heads []heading) int {
	n := 0
	for _, h := range heads {
		if !h.exhibit {
			n++
		}
	}
	return n
}

// buildTree turns accepted headings into the clause tree of c. Without
// headings, the text is split into paragraphs ("¶1", "¶2", ...).
func buildTree(c *Contract, heads []heading) {
	text := c.Text
	if len(heads) == 0 {
		for i, p := range paragraphs(text) {
			cl := &Clause{ID: fmt.Sprintf("¶%d", i+1), Kind: KindParagraph, Text: cleanText(text[p[0]:p[1]]), Start: p[0], End: p[1]}
			cl.Label = labelFor(cl)
			c.Clauses = append(c.Clauses, cl)
		}
		return
	}
	if pre := strings.TrimSpace(text[:heads[0].start]); pre != "" {
		cl := &Clause{ID: "Preamble", Kind: KindPreamble, Text: cleanText(pre), Start: 0, End: heads[0].start}
		cl.Label = labelFor(cl)
		c.Clauses = append(c.Clauses, cl)
	}
	hasArticles := false
	for _, h := range heads {
		hasArticles = hasArticles || h.article
	}
	var stack []*Clause
	var stackParts [][]int
	for i, h := range heads {
		end := len(text)
		if i+1 < len(heads) {
			end = heads[i+1].start
		}
		cl := &Clause{ID: h.id, Title: h.title, Text: cleanText(text[h.start:end]), Start: h.start, End: end, Page: h.page}
		switch {
		case h.exhibit:
			cl.Kind = KindExhibit
		case h.article:
			cl.Kind = KindArticle
		case h.letter:
			cl.Kind = KindParagraph
		default:
			depth := len(h.parts)
			if !hasArticles {
				depth++
			}
			cl.Kind = []string{KindArticle, KindSection, KindSubsection, KindParagraph}[min(depth, 4)-1]
		}
		cl.Label = labelFor(cl)
		for len(stack) > 0 && (h.exhibit || !isPrefix(stackParts[len(stack)-1], h.parts)) {
			stack, stackParts = stack[:len(stack)-1], stackParts[:len(stackParts)-1]
		}
		if len(stack) > 0 {
			cl.parent = stack[len(stack)-1]
			cl.parent.Children = append(cl.parent.Children, cl)
		} else {
			c.Clauses = append(c.Clauses, cl)
		}
		if !h.exhibit {
			stack = append(stack, cl)
			stackParts = append(stackParts, h.parts)
		}
	}
}

func isPrefix(a, b []int) bool {
	return len(a) < len(b) && slices.Equal(a, b[:len(a)])
}

// paragraphs splits text at blank lines; blocks longer than 1500 bytes are
// cut further at sentence ends (as Sentences finds them: never after "U.S.")
// into pieces of about 800 bytes.
func paragraphs(text string) [][2]int {
	var out [][2]int
	start := 0
	bounds := append(reBlank.FindAllStringIndex(text, -1), []int{len(text), len(text)})
	for _, m := range bounds {
		seg := text[start:m[0]]
		if strings.TrimSpace(seg) != "" && len(cleanText(seg)) > 0 {
			lead := len(seg) - len(strings.TrimLeft(seg, " \t\r\n"))
			s, e := start+lead, start+len(strings.TrimRight(seg, " \t\r\n"))
			for e-s > 1500 {
				cut := s + 800
				for cut < e-1 && !sentenceEndAt(text[:e], cut) {
					cut++
				}
				if cut >= e-1 {
					break
				}
				cut += 2 // after the period and its space
				out = append(out, [2]int{s, cut})
				s = cut
			}
			out = append(out, [2]int{s, e})
		}
		start = m[1]
	}
	return out
}
