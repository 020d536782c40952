package contract

import (
	"fmt"
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
}

var (
	reArticle = regexp.MustCompile(`^(?:ARTICLE|Article)[ \t]+([IVXLC]+|\d{1,2})\b\.?[ \t]*[:.\-–—]?[ \t]*`)
	reSection = regexp.MustCompile(`^(?:SECTION|Section|§)[ \t]*(\d{1,2}(?:\.\d{1,3})*)\.?(?:\(([a-z])\))?[ \t]*[:.\-–—]?[ \t]*`)
	reNumber  = regexp.MustCompile(`^(\d{1,2}(?:\.\d{1,3})*)(\.?)(?:\(([a-z])\))?[ \t]+(?:["“\[(]?[A-Z]|\[\*)`)
	reLetter  = regexp.MustCompile(`^(?:\(([a-z])\)|([a-z])\.)[ \t]+["“(]?[A-Za-z]`)
	reExhibit = regexp.MustCompile(`^(?:EXHIBIT|Exhibit|SCHEDULE|Schedule|ANNEX|Annex|APPENDIX|Appendix)[ \t]+([A-Z0-9][A-Za-z0-9.\-]*)`)
	// reBoundary finds where an inline heading may start inside a long line:
	// after a sentence end or a rule of dashes.
	reBoundary = regexp.MustCompile(`(?:[.:;]["”)]?|-{3,}|_{3,}|={3,})[ \t]+`)
	reFooter   = regexp.MustCompile(`Source: [^\n]{1,80}?\d{1,2}/\d{1,2}/\d{4}|(?m)^[ \t]*(?:Page[ \t]+)?-?[ \t]*\d{1,3}[ \t]*-?(?:[ \t]+of[ \t]+\d+)?[ \t]*$`)
	reSpaces   = regexp.MustCompile(`\s+`)
	// reInlineNum finds a dotted number inside a line ("Rights 1.1 Subject"),
	// a possible inline heading when the word before it is not a reference.
	reInlineNum = regexp.MustCompile(`([A-Za-z$(]*)[ \t]+\d{1,2}\.(?:\d{1,3})?(?:\.\d{1,3})*[ \t]`)
	reTitleStop = regexp.MustCompile(`\s\d{1,2}(?:\.\d{1,3})*\.?(?:\s|$)`)
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
	s = reFooter.ReplaceAllString(s, " ")
	return strings.TrimSpace(reSpaces.ReplaceAllString(s, " "))
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
		end := m[7]
		if end < 0 {
			end = m[5]
		}
		for end < len(s) && (s[end] == ' ' || s[end] == '\t') {
			end++
		}
		return h, end, h.parts[0] > 0
	}
	return heading{}, 0, false
}

// matchHeadingLine recognises a heading block such as a Reducto
// "Section Header" ("5.2 Warranty", "ARTICLE V - TERM").
func matchHeadingLine(s string) (heading, bool) {
	h, n, ok := matchNumbered(s, true)
	if !ok {
		return h, false
	}
	h.title = strings.TrimRight(strings.TrimSpace(s[n:]), ".:")
	h.lineStart = true
	return h, true
}

// candidates lists every position where a heading might start: each line
// start, and inside long lines each sentence boundary.
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
			if m := reExhibit.FindStringSubmatch(rest); m != nil {
				line, _, _ := strings.Cut(rest, "\n")
				if len(strings.TrimSpace(line)) <= 80 {
					out = append(out, heading{id: strings.TrimSpace(m[0]), exhibit: true, start: pos, lineStart: true,
						title: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), m[0]))})
					return
				}
			}
			if m := reLetter.FindStringSubmatch(rest); m != nil {
				l := m[1] + m[2]
				out = append(out, heading{parts: []int{int(l[0] - 'a' + 1)}, id: "(" + l + ")", letter: true, start: pos, lineStart: true,
					title: extractTitle(rest[len(m[0])-1:], false)})
				return
			}
		}
		h, n, ok := matchNumbered(rest, lineStart)
		if !ok {
			return
		}
		h.start = pos
		h.lineStart = lineStart
		h.title = extractTitle(text[pos+n:min(len(text), pos+n+300)], lineStart)
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
// right after the number).
func extractTitle(s string, lineStart bool) string {
	if m := reTitleStop.FindStringIndex(s); m != nil && m[0] <= 100 {
		s = s[:m[0]] + "."
	}
	line, _, _ := strings.Cut(s, "\n")
	line = strings.TrimSpace(line)
	if lineStart && line != "" && len(line) <= 80 && !strings.ContainsAny(strings.TrimRight(line, ".:"), ".;") {
		return strings.TrimRight(trimPageNumber(line), ".: ")
	}
	flat := reSpaces.ReplaceAllString(s, " ")
	if i := strings.IndexAny(flat, ".:"); i > 0 && i <= 100 {
		seg := strings.TrimSpace(flat[:i])
		if words := strings.Fields(seg); len(words) <= 12 && capitalShare(words) >= 0.6 && !sentenceStarters[words[0]] && !refWords[strings.ToLower(words[len(words)-1])] {
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
	if n > 0 && n < len(words) && n < 10 && !isUpperWord(words[n]) {
		return strings.TrimRight(strings.Join(words[:n], " "), ".:;,")
	}
	return ""
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

// successor reports whether p may follow path in a numbering sequence,
// allowing up to gap skipped numbers.
func successor(path, p []int, gap int) bool {
	d := len(p)
	switch {
	case len(path) == 0:
		if p[0] > 1+gap {
			return false
		}
		for _, v := range p[1:] {
			if v != 1 {
				return false
			}
		}
		return true
	case d <= len(path):
		if !slices.Equal(path[:d-1], p[:d-1]) {
			return false
		}
		return p[d-1] > path[d-1] && p[d-1] <= path[d-1]+1+gap
	case d == len(path)+1:
		return slices.Equal(path, p[:d-1]) && p[d-1] == 1
	}
	return false
}

func joinInts(p []int) string {
	s := make([]string, len(p))
	for i, v := range p {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ".")
}

// resolve gives a candidate its full path given the current path: lettered
// paragraphs ("(b)") hang under the current numbered clause.
func resolve(path []int, pathLetter bool, ids []string, h heading) (heading, bool) {
	if h.letter && len(h.parts) == 1 {
		base := len(path)
		if pathLetter {
			base--
		}
		if base < 1 {
			return h, false
		}
		h.parts = append(append([]int{}, path[:base]...), h.parts[0])
		if base-1 < len(ids) {
			h.id = ids[base-1] + h.id
		} else {
			h.id = joinInts(path[:base]) + h.id
		}
	}
	return h, true
}

// detectHeadings picks, from the candidates, the chain of headings whose
// numbering forms a consistent sequence. Cross-references inside sentences
// never become candidates; candidates out of sequence (stray numbers,
// references at a sentence start, table-of-contents entries re-listed) are
// dropped. A jump of a few numbers is accepted only when the next candidate
// continues from it. A table of contents is recognised when a chain of short
// entries restarts at 1; its entries are discarded.
func detectHeadings(text string) ([]heading, []string) {
	cands := candidates(text)
	var warnings []string
	var acc []heading
	var path []int
	var ids []string // id of each level of path
	pathLetter := false
	accept := func(h heading) {
		acc = append(acc, h)
		path = h.parts
		pathLetter = h.letter
		ids = append(ids[:0:0], ids[:min(len(ids), len(h.parts)-1)]...)
		ids = append(ids, h.id)
	}
	inExhibits := false
	for i, c := range cands {
		if c.exhibit {
			if len(acc) >= 3 {
				acc = append(acc, c)
				inExhibits = true
			}
			continue
		}
		if inExhibits {
			continue
		}
		h, ok := resolve(path, pathLetter, ids, c)
		if !ok {
			continue
		}
		if successor(path, h.parts, 0) {
			accept(h)
			continue
		}
		if len(h.parts) == 1 && h.parts[0] == 1 && !h.letter && len(acc) >= 3 && looksLikeTOC(acc, h.start) {
			warnings = append(warnings, fmt.Sprintf("skipped a table of contents of %d entries", len(acc)))
			acc, path, ids, pathLetter = nil, nil, nil, false
			accept(h)
			continue
		}
		if !h.letter && successor(path, h.parts, 3) && i+1 < len(cands) {
			nextIDs := append(append([]string{}, ids[:min(len(ids), len(h.parts)-1)]...), h.id)
			next, ok := resolve(h.parts, h.letter, nextIDs, cands[i+1])
			if ok && !next.exhibit && successor(h.parts, next.parts, 0) {
				accept(h)
			}
		}
	}
	return acc, warnings
}

// looksLikeTOC reports whether the accepted headings are mostly short
// entries, as in a table of contents.
func looksLikeTOC(acc []heading, next int) bool {
	var lens []int
	for i, h := range acc {
		end := next
		if i+1 < len(acc) {
			end = acc[i+1].start
		}
		lens = append(lens, end-h.start)
	}
	sort.Ints(lens)
	return lens[len(lens)/2] < 100
}

// ParseText parses a plain-text contract. source names it in the result.
func ParseText(source, text string) *Contract {
	c := &Contract{Source: source, Format: FormatText, Text: text}
	heads, warnings := detectHeadings(text)
	c.Warnings = warnings
	numbered := 0
	for _, h := range heads {
		if !h.exhibit {
			numbered++
		}
	}
	if numbered < 2 {
		heads = nil
		c.Warnings = append(c.Warnings, "no numbered headings detected; clauses are paragraphs")
	}
	buildTree(c, heads)
	finish(c)
	return c
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
// cut further at sentence ends into pieces of about 800 bytes.
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
				if j := strings.Index(text[cut:e], ". "); j >= 0 && cut+j+2 < e {
					cut += j + 2
				} else {
					break
				}
				out = append(out, [2]int{s, cut})
				s = cut
			}
			out = append(out, [2]int{s, e})
		}
		start = m[1]
	}
	return out
}

var (
	reCapsTitle  = regexp.MustCompile(`[A-Z][A-Z\-–&,' ]*AGREEMENT\b`)
	reEntity     = regexp.MustCompile(`[A-Z][A-Za-z0-9.,&'’\- ]{1,70}?,? (?:Inc|INC|Corp|CORP|Corporation|CORPORATION|LLC|L\.L\.C|Ltd|LTD|Limited|LIMITED|GmbH|AG|S\.p\.A|Company|COMPANY|LLP|LP|PLC|plc|N\.V|B\.V|S\.A)\b\.?`)
	noDotSuffix  = map[string]bool{"LLC": true, "LLP": true, "LP": true, "PLC": true, "plc": true, "AG": true, "GmbH": true, "Company": true, "COMPANY": true, "Corporation": true, "CORPORATION": true, "Limited": true, "LIMITED": true}
	partyConnect = map[string]bool{"of": true, "de": true, "&": true}
	reSentEnd    = regexp.MustCompile(`[A-Za-z0-9]{4,}\. |\b[A-Z]\. The |\b(?:AND|And|and) |, and `)
)

// detectTitle finds the contract title near the top of the text.
func detectTitle(text string) string {
	head := text[:min(len(text), 2000)]
	for _, m := range reCapsTitle.FindAllString(head, -1) {
		m, _, _ = strings.Cut(m, " THIS ")
		if !strings.HasPrefix(m, "THIS ") && !strings.HasPrefix(m, "EXHIBIT ") {
			return strings.Join(strings.Fields(m), " ")
		}
	}
	for _, line := range strings.Split(head, "\n") {
		line = strings.TrimSpace(line)
		if len(line) <= 100 && strings.Contains(strings.ToLower(line), "agreement") {
			return strings.Join(strings.Fields(reExhibit.ReplaceAllString(line, "")), " ")
		}
	}
	return ""
}

// detectParties finds company names (ending in Inc., LLC, Ltd., ...) in the
// preamble, dropping any leading lower-case words ("by and between").
func detectParties(pre string) []string {
	flat := reSpaces.ReplaceAllString(pre, " ")
	var out []string
	seen := map[string]bool{}
	for _, loc := range reEntity.FindAllStringIndex(flat, -1) {
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
			if unicode.IsLower(r[0]) && !partyConnect[w] {
				cut = i + 1
			}
		}
		words = words[cut:]
		for len(words) > 0 && partyConnect[words[0]] {
			words = words[1:]
		}
		name := strings.TrimRight(strings.Join(words, " "), ",")
		if last := words[len(words)-1]; strings.HasSuffix(last, ".") && noDotSuffix[strings.TrimSuffix(last, ".")] {
			name = strings.TrimSuffix(name, ".") // the period ends the sentence
		}
		key := strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return unicode.ToLower(r)
			}
			return -1
		}, name)
		if len(words) < 2 || seen[key] || strings.Contains(key, "agreement") || (len(words) == 2 && words[0] == "The") {
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
