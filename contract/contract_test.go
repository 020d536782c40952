package contract

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fixtures = "../testdata/contracts"

func ids(c *Contract) []string {
	var out []string
	for _, cl := range c.Flatten() {
		out = append(out, cl.ID)
	}
	return out
}

func TestParseFixtures(t *testing.T) {
	cases := []struct {
		file     string
		format   string
		title    string
		parties  []string
		ids      []string
		warnings int
	}{
		{"reducto_flat.json", FormatReducto, "SUPPLY AGREEMENT", []string{"Alpha Widgets Inc.", "Beta Retail LLC"},
			[]string{"Preamble", "1", "2", "3"}, 0},
		{"reducto_nested.json", FormatReducto, "SERVICES AGREEMENT", []string{"Gamma Consulting Ltd.", "Delta Foods Corp."},
			[]string{"Preamble", "I", "1.1", "1.2"}, 0},
		{"structured.json", FormatStructured, "LICENSE AGREEMENT", []string{"Epsilon Software Inc.", "Zeta Health LLC"},
			[]string{"1", "1.1", "2", "2.1", "2.2", "2.2(a)", "3"}, 0},
		{"headings.txt", FormatText, "MASTER PURCHASE AGREEMENT", []string{"Omega Parts Inc.", "Sigma Motors LLC"},
			[]string{"Preamble", "I", "1.1", "II", "2.1", "2.2", "2.2(a)", "2.2(b)", "III", "3.1", "3.2", "3.2(a)", "4", "EXHIBIT A"}, 1},
		{"no_structure.txt", FormatText, "", []string{"Kappa Farms Inc.", "Lambda Mills Corp."},
			[]string{"¶1", "¶2", "¶3"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			c, err := ParseFile(filepath.Join(fixtures, tc.file))
			require.NoError(t, err)
			assert.Equal(t, tc.format, c.Format)
			if tc.title != "" {
				assert.Equal(t, tc.title, c.Title)
			}
			assert.Equal(t, tc.parties, c.Parties)
			assert.Equal(t, tc.ids, ids(c))
			assert.Len(t, c.Warnings, tc.warnings, "%v", c.Warnings)
			for _, cl := range c.Flatten() {
				require.True(t, 0 <= cl.Start && cl.Start < cl.End && cl.End <= len(c.Text), "clause %s span", cl.ID)
				assert.NotEmpty(t, cl.Label)
			}
		})
	}
}

func TestTextHeadingDetails(t *testing.T) {
	c, err := ParseFile(filepath.Join(fixtures, "headings.txt"))
	require.NoError(t, err)
	cases := []struct {
		id, kind, title, label, parent string
		textHas                        string
	}{
		{"I", KindArticle, "DEFINITIONS", "Article I", "", "DEFINITIONS"},
		{"2.1", KindSection, "Initial Term", "Section 2.1", "II", "five (5) years"},
		{"2.2(a)", KindParagraph, "", "Section 2.2(a)", "2.2", "ninety (90) days"},
		{"3.1", KindSection, "Governing Law", "Section 3.1", "III", "State of Ohio"},
		{"3.2(a)", KindParagraph, "", "Section 3.2(a)", "3.2", "is void"},
		{"EXHIBIT A", KindExhibit, "", "EXHIBIT A", "", "Brake pads"},
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			cl := c.Clause(tc.id)
			require.NotNil(t, cl)
			assert.Equal(t, tc.kind, cl.Kind)
			if tc.title != "" {
				assert.Equal(t, tc.title, cl.Title)
			}
			assert.Equal(t, tc.label, cl.Label)
			if tc.parent == "" {
				assert.Nil(t, cl.Parent())
			} else {
				require.NotNil(t, cl.Parent())
				assert.Equal(t, tc.parent, cl.Parent().ID)
			}
			assert.Contains(t, cl.Text, tc.textHas)
			// offsets point into the original file text
			assert.True(t, strings.HasPrefix(strings.TrimSpace(c.Text[cl.Start:cl.End])[:1], cl.Text[:1]))
		})
	}
	// the page number line is not part of clause text; the cross-reference
	// "Section 4.1" and "3.2 units" did not become clauses
	assert.NotContains(t, c.Clause("2.2(b)").Text, "- 2 -")
	assert.Contains(t, c.Clause("2.1").Text, "3.2 units")
	assert.Contains(t, c.Warnings[0], "table of contents")
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("{\n  \"result\": {\n    \"chunks\": [\n      {\"type\": \"Text\",}\n    ]\n  }\n}\n"), 0o644))
	odd := filepath.Join(dir, "odd.json")
	require.NoError(t, os.WriteFile(odd, []byte(`{"foo": 1}`), 0o644))
	empty := filepath.Join(dir, "empty.txt")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	cases := []struct {
		path string
		want []string
	}{
		{filepath.Join(dir, "missing.txt"), []string{"missing.txt", "cannot read"}},
		{bad, []string{"bad.json:4:", "invalid JSON"}},
		{odd, []string{"odd.json", "unrecognised JSON"}},
		{empty, []string{"empty.txt", "empty"}},
	}
	for _, tc := range cases {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			_, err := ParseFile(tc.path)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParsePathFolder(t *testing.T) {
	cs := mustParse(t, fixtures)
	require.Len(t, cs, 5)
	assert.Equal(t, "headings.txt", filepath.Base(cs[0].Source))
}

func mustParse(t *testing.T, path string) []*Contract {
	t.Helper()
	cs, skipped, err := ParsePath(path)
	require.NoError(t, err)
	require.Empty(t, skipped)
	return cs
}

// TestNonTextInput: binary and UTF-16 files are refused with the file and
// byte offset, skipped (and named) in a folder; a text contract with a few
// bytes that are not UTF-8 (Latin-1 accents) is parsed with a warning that
// gives the offset of the first.
func TestNonTextInput(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(rng.UintN(256))
	}
	noise = bytes.ReplaceAll(noise, []byte{0}, []byte{1}) // invalid UTF-8 without NUL bytes
	latin1 := []byte("SUPPLY AGREEMENT\n\n1. Term. This Agreement lasts two (2) years.\n\n2. Law. This Agreement is governed by the laws of the Canton of Z\xfcrich.\n")
	files := map[string][]byte{
		"a_noise.txt":  noise,
		"b_utf16.txt":  {0xff, 0xfe, 'A', 0, 'B', 0},
		"c_latin1.txt": latin1,
	}
	for n, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), data, 0o644))
	}
	_, err := ParseFile(filepath.Join(dir, "a_noise.txt"))
	require.ErrorIs(t, err, ErrNotText)
	assert.Contains(t, err.Error(), "a_noise.txt")
	assert.Contains(t, err.Error(), "not UTF-8, the first at byte offset")
	_, err = ParseFile(filepath.Join(dir, "b_utf16.txt"))
	require.ErrorIs(t, err, ErrNotText)
	assert.Contains(t, err.Error(), "NUL byte at byte offset 3")

	c, err := ParseFile(filepath.Join(dir, "c_latin1.txt"))
	require.NoError(t, err)
	require.Len(t, c.Warnings, 1)
	assert.Contains(t, c.Warnings[0], fmt.Sprintf("invalid UTF-8 at byte offset %d (1 bytes", bytes.IndexByte(latin1, 0xfc)))

	cs, skipped, err := ParsePath(dir)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, "c_latin1.txt", filepath.Base(cs[0].Source))
	require.Len(t, skipped, 2)
	assert.Contains(t, skipped[0], "a_noise.txt")
	assert.Contains(t, skipped[1], "b_utf16.txt")

	require.NoError(t, os.Remove(filepath.Join(dir, "c_latin1.txt")))
	_, _, err = ParsePath(dir)
	require.ErrorContains(t, err, "no text contract")
}
