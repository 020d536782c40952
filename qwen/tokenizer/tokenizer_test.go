package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"
)

// testdataDir holds the Qwen2.5 tokenizer files and reference encodings
// (see its SOURCE.md).
var testdataDir = filepath.Join("..", "..", "testdata", "tokenizer")

var (
	qwenOnce sync.Once
	qwenTok  *Tokenizer
	qwenErr  error
)

// qwen loads the Qwen2.5 tokenizer from testdata once.
func qwen(t testing.TB) *Tokenizer {
	t.Helper()
	qwenOnce.Do(func() { qwenTok, qwenErr = Load(testdataDir) })
	require.NoError(t, qwenErr)
	return qwenTok
}

type refCase struct {
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

// readCases reads cases.jsonl: texts encoded by the Hugging Face tokenizers
// library (Rust core) with add_special_tokens=False.
func readCases(t *testing.T) []refCase {
	t.Helper()
	f, err := os.Open(filepath.Join(testdataDir, "cases.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	var cases []refCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c refCase
		require.NoError(t, json.Unmarshal(sc.Bytes(), &c))
		cases = append(cases, c)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, cases)
	return cases
}

func TestReferenceCases(t *testing.T) {
	tok := qwen(t)
	cases := readCases(t)
	matched := 0
	for i, c := range cases {
		ids := tok.Encode(c.Text)
		if ids == nil {
			ids = []int{}
		}
		if c.IDs == nil {
			c.IDs = []int{}
		}
		if !assertIDs(t, i, c, ids) {
			continue
		}
		matched++
		require.Equal(t, norm.NFC.String(c.Text), tok.Decode(ids, false), "case %d decode", i)
	}
	t.Logf("%d of %d reference cases match", matched, len(cases))
}

func assertIDs(t *testing.T, i int, c refCase, got []int) bool {
	t.Helper()
	if len(got) == len(c.IDs) {
		same := true
		for k := range got {
			same = same && got[k] == c.IDs[k]
		}
		if same {
			return true
		}
	}
	t.Errorf("case %d %q:\n got %v\nwant %v", i, c.Text, got, c.IDs)
	return false
}
