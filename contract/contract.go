package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// Input formats reported in Contract.Format.
const (
	FormatReducto    = "reducto"
	FormatStructured = "structured"
	FormatText       = "text"
)

// Clause kinds reported in Clause.Kind.
const (
	KindPreamble   = "preamble"
	KindArticle    = "article"
	KindSection    = "section"
	KindSubsection = "subsection"
	KindParagraph  = "paragraph"
	KindExhibit    = "exhibit"
)

// Contract is one parsed contract: its metadata and a tree of clauses.
type Contract struct {
	Source   string    `json:"source"`
	Title    string    `json:"title"`
	Parties  []string  `json:"parties,omitempty"`
	Format   string    `json:"format"`
	Clauses  []*Clause `json:"clauses"`
	Warnings []string  `json:"warnings,omitempty"`
	// Text is the text that clause offsets refer to: the file itself for
	// plain text, the concatenated block or section texts for JSON inputs.
	Text string `json:"-"`
}

// Clause is one numbered unit of a contract. Start and End are byte offsets
// [Start, End) into Contract.Text covering the clause's own text: from its
// heading up to the next heading of any level (children are not included).
type Clause struct {
	ID       string    `json:"id"`
	Label    string    `json:"label"`
	Kind     string    `json:"kind"`
	Title    string    `json:"title,omitempty"`
	Text     string    `json:"text"`
	Start    int       `json:"start"`
	End      int       `json:"end"`
	Page     int       `json:"page,omitempty"`
	Children []*Clause `json:"children,omitempty"`

	parent *Clause
}

// Parent returns the enclosing clause, or nil for a top-level clause.
func (c *Clause) Parent() *Clause { return c.parent }

// Flatten returns every clause of the contract in document order.
func (c *Contract) Flatten() []*Clause {
	var out []*Clause
	var walk func([]*Clause)
	walk = func(cs []*Clause) {
		for _, cl := range cs {
			out = append(out, cl)
			walk(cl.Children)
		}
	}
	walk(c.Clauses)
	return out
}

// Clause returns the first clause with the given id, or nil.
func (c *Contract) Clause(id string) *Clause {
	for _, cl := range c.Flatten() {
		if cl.ID == id {
			return cl
		}
	}
	return nil
}

// ParsePath parses a single contract file, or every regular file (sorted by
// name, hidden files skipped) directly inside a folder. In a folder, a file
// that is not text (see ErrNotText) is skipped and named in the returned
// notes; a single such file is an error, as is a folder with no contract
// left.
func ParsePath(path string) (contracts []*Contract, skipped []string, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("contract: %w", err)
	}
	if !info.IsDir() {
		c, err := ParseFile(path)
		if err != nil {
			return nil, nil, err
		}
		return []*Contract{c}, nil, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, nil, fmt.Errorf("contract: read folder %s: %w", path, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("contract: no contract files in %s", path)
	}
	out := make([]*Contract, 0, len(names))
	for _, n := range names {
		c, err := ParseFile(filepath.Join(path, n))
		if errors.Is(err, ErrNotText) {
			skipped = append(skipped, strings.TrimPrefix(err.Error(), "contract: ")+"; skipped")
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, skipped, fmt.Errorf("contract: no text contract in %s (%d files skipped)", path, len(skipped))
	}
	return out, skipped, nil
}

// ErrNotText marks a file that is not a text contract: it holds NUL bytes
// (a binary or UTF-16 file) or too much that is not UTF-8.
var ErrNotText = errors.New("not a text contract")

// maxInvalidShare is the share of bytes that are not UTF-8 above which a
// file is taken for binary: a Latin-1 contract has a few accented letters,
// random data about half its bytes.
const maxInvalidShare = 0.01

// checkText refuses binary input and describes invalid UTF-8 in otherwise
// textual input: the number of bad bytes and the offset of the first.
func checkText(path string, data []byte) (warning string, err error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return "", fmt.Errorf("contract: %s: %w: NUL byte at byte offset %d (a binary or UTF-16 file)", path, ErrNotText, i)
	}
	bad, first := 0, -1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			bad++
			if first < 0 {
				first = i
			}
		}
		i += n
	}
	if bad == 0 {
		return "", nil
	}
	if float64(bad) > maxInvalidShare*float64(len(data)) {
		return "", fmt.Errorf("contract: %s: %w: %d of %d bytes are not UTF-8, the first at byte offset %d", path, ErrNotText, bad, len(data), first)
	}
	return fmt.Sprintf("invalid UTF-8 at byte offset %d (%d bytes in all); they read as U+FFFD in the generated records", first, bad), nil
}

// ParseFile parses one contract file. JSON files (by extension or a leading
// '{') are read as Reducto output or structured JSON; anything else as plain
// text.
func ParseFile(path string) (*Contract, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("contract: cannot read %s: %w", path, err)
	}
	warning, err := checkText(path, data)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	var c *Contract
	switch {
	case strings.EqualFold(filepath.Ext(path), ".json") || bytes.HasPrefix(trimmed, []byte("{")):
		if c, err = parseJSON(path, data); err != nil {
			return nil, err
		}
	case len(trimmed) == 0:
		return nil, fmt.Errorf("contract: %s is empty", path)
	default:
		c = ParseText(path, string(data))
	}
	if warning != "" {
		c.Warnings = append(c.Warnings, warning)
	}
	return c, nil
}

// jsonError turns a decoding error into one naming the file and line.
func jsonError(path string, data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return fmt.Errorf("contract: %s: invalid JSON: %w", path, err)
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	return fmt.Errorf("contract: %s:%d: invalid JSON: %w", path, line, err)
}

func parseJSON(path string, data []byte) (*Contract, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, jsonError(path, data, err)
	}
	switch {
	case probe["result"] != nil:
		var doc reductoDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, jsonError(path, data, err)
		}
		return parseReducto(path, &doc), nil
	case probe["articles"] != nil:
		var doc structuredDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, jsonError(path, data, err)
		}
		return parseStructured(path, &doc), nil
	}
	return nil, fmt.Errorf("contract: %s: unrecognised JSON shape (want Reducto \"result.chunks\" or structured \"articles\")", path)
}

// reductoBlock is one parsed-PDF block; a chunk is either a block itself
// (flat shape) or holds Blocks (nested shape).
type reductoBlock struct {
	Type    string `json:"type"`
	Content string `json:"content"`
	BBox    struct {
		Page int `json:"page"`
	} `json:"bbox"`
	Confidence any            `json:"confidence"`
	Blocks     []reductoBlock `json:"blocks"`
}

type reductoDoc struct {
	Result struct {
		Chunks []reductoBlock `json:"chunks"`
	} `json:"result"`
}

func parseReducto(path string, doc *reductoDoc) *Contract {
	var blocks []reductoBlock
	for _, ch := range doc.Result.Chunks {
		if len(ch.Blocks) > 0 {
			blocks = append(blocks, ch.Blocks...)
		} else if ch.Content != "" {
			blocks = append(blocks, ch)
		}
	}
	c := &Contract{Source: path, Format: FormatReducto}
	var sb strings.Builder
	marks := map[int]bool{}
	type pageStart struct{ start, page int }
	var pages []pageStart
	for _, b := range blocks {
		content := strings.TrimSpace(b.Content)
		if content == "" {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteString("\n\n")
		}
		pages = append(pages, pageStart{sb.Len(), b.BBox.Page})
		switch b.Type {
		case "Title":
			if c.Title == "" {
				c.Title = content
			}
		case "Section Header":
			marks[sb.Len()] = true
		}
		sb.WriteString(content)
	}
	c.Text = sb.String()
	// Every block starts a line, so a Text or List Item block that opens
	// with a clause number ("2.1 Transition Services ...") is a heading
	// candidate like a Section Header; the chain search decides.
	heads, warnings := detectHeadings(c.Text, marks)
	c.Warnings = warnings
	if numbered(heads) < 2 {
		heads = nil
		c.Warnings = append(c.Warnings, "no numbered headings in the blocks; clauses are paragraphs")
	}
	for i := range heads {
		k := sort.Search(len(pages), func(k int) bool { return pages[k].start > heads[i].start }) - 1
		if k >= 0 {
			heads[i].page = pages[k].page
		}
	}
	buildTree(c, heads)
	finish(c)
	return c
}

type structuredSection struct {
	Number   string              `json:"number"`
	Title    string              `json:"title"`
	Text     string              `json:"text"`
	Sections []structuredSection `json:"sections"`
}

type structuredDoc struct {
	Title    string              `json:"title"`
	Parties  []string            `json:"parties"`
	Articles []structuredSection `json:"articles"`
}

func parseStructured(path string, doc *structuredDoc) *Contract {
	c := &Contract{Source: path, Format: FormatStructured, Title: doc.Title, Parties: doc.Parties}
	var sb strings.Builder
	var build func(s structuredSection, depth int, parent *Clause) *Clause
	build = func(s structuredSection, depth int, parent *Clause) *Clause {
		if sb.Len() > 0 {
			sb.WriteString("\n\n")
		}
		start := sb.Len()
		head := strings.TrimSpace(s.Number + " " + s.Title)
		sb.WriteString(head)
		text := strings.TrimSpace(s.Text)
		if text != "" {
			sb.WriteString("\n")
			sb.WriteString(text)
		}
		kind := []string{KindArticle, KindSection, KindSubsection}[min(depth, 2)]
		if depth > 2 {
			kind = KindParagraph
		}
		id := strings.TrimSuffix(strings.TrimSpace(s.Number), ".")
		cl := &Clause{ID: id, Kind: kind, Title: strings.TrimSpace(s.Title), Text: cleanText(text), Start: start, End: sb.Len(), parent: parent}
		cl.Label = labelFor(cl)
		for _, sub := range s.Sections {
			cl.Children = append(cl.Children, build(sub, depth+1, cl))
		}
		return cl
	}
	for _, a := range doc.Articles {
		c.Clauses = append(c.Clauses, build(a, 0, nil))
	}
	c.Text = sb.String()
	finish(c)
	return c
}

// labelFor gives the human citation for a clause: "Article V", "Section 5.2",
// "Section 5.2(a)", "the Preamble", "Paragraph 3", "Exhibit A".
func labelFor(c *Clause) string {
	switch c.Kind {
	case KindPreamble:
		return "the Preamble"
	case KindArticle:
		return "Article " + c.ID
	case KindExhibit:
		return c.ID
	}
	if strings.HasPrefix(c.ID, "¶") {
		return "Paragraph " + strings.TrimPrefix(c.ID, "¶")
	}
	return "Section " + c.ID
}

// finish fills parties and title from the text when the input lacked them.
func finish(c *Contract) {
	head := c.Text[:min(len(c.Text), 3000)]
	if len(c.Clauses) > 0 && c.Clauses[0].Kind == KindPreamble {
		head = c.Text[c.Clauses[0].Start:c.Clauses[0].End]
	}
	if c.Title == "" {
		c.Title = detectTitle(head)
	}
	if len(c.Parties) == 0 {
		c.Parties = detectParties(introSentence(head))
	}
}

// Outline renders the contract as readable text: a header line (source,
// title, format, parties, warnings), then the clause tree, one clause a
// line, indented by depth: id, title, kind, byte span in Text and page.
func (c *Contract) Outline() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: %q (%s)", c.Source, c.Title, c.Format)
	if len(c.Parties) > 0 {
		fmt.Fprintf(&sb, "; parties: %s", strings.Join(c.Parties, "; "))
	}
	sb.WriteString("\n")
	for _, w := range c.Warnings {
		fmt.Fprintf(&sb, "  warning: %s\n", w)
	}
	var walk func(cs []*Clause, depth int)
	walk = func(cs []*Clause, depth int) {
		for _, cl := range cs {
			head := strings.Repeat("  ", depth+1) + cl.ID
			if cl.Title != "" {
				head += "  " + cl.Title
			}
			fmt.Fprintf(&sb, "%-60s [%s, bytes %d-%d", head, cl.Kind, cl.Start, cl.End)
			if cl.Page > 0 {
				fmt.Fprintf(&sb, ", page %d", cl.Page)
			}
			sb.WriteString("]\n")
			walk(cl.Children, depth+1)
		}
	}
	walk(c.Clauses, 0)
	return sb.String()
}
