package data

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// testTokenizer loads the test tokenizer once for the package's tests.
var testTokenizer = sync.OnceValues(func() (*tokenizer.Tokenizer, error) {
	return tokenizer.Load("../../testdata/tokenizer/tokenizer.json.gz")
})

func loadTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := testTokenizer()
	require.NoError(t, err)
	return tok
}

func TestTokenizeInstructionRecord(t *testing.T) {
	tok := loadTokenizer(t)
	out := "Based on Section 5.3, New York law governs."
	r := Record{Instruction: "You are a legal analyst.", Input: "Contract Context: ...\n\nQuestion: Which law?", Output: &out}
	ids, labels, err := r.Tokenize(tok)
	require.NoError(t, err)
	require.Len(t, labels, len(ids))
	// The whole sequence is the template's rendering.
	full := make([]int, len(ids))
	var trained []int
	for i, id := range ids {
		full[i] = int(id)
		if labels[i] != backend.IgnoreIndex {
			require.Equal(t, id, labels[i])
			trained = append(trained, int(id))
		}
	}
	msgs := []tokenizer.Message{{Role: "system", Content: r.Instruction}, {Role: "user", Content: r.Input}, {Role: "assistant", Content: out}}
	require.Equal(t, tok.ApplyChatTemplate(msgs, false), tok.Decode(full, false))
	// Only the answer and its <|im_end|> are trained; the final newline is not.
	require.Equal(t, out+"<|im_end|>", tok.Decode(trained, false))
	require.Equal(t, backend.IgnoreIndex, int(labels[len(labels)-1]))
}

func TestPretokenizedRecords(t *testing.T) {
	r, err := ParseRecord([]byte(`{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}`))
	require.NoError(t, err)
	ids, labels, err := r.Tokenize(nil)
	require.NoError(t, err)
	require.Equal(t, []int32{5, 6, 7}, ids)
	require.Equal(t, []int32{-100, 6, 7}, labels)

	r, err = ParseRecord([]byte(`{"input_ids": [5, 6, 7]}`))
	require.NoError(t, err)
	_, labels, err = r.Tokenize(nil)
	require.NoError(t, err)
	require.Equal(t, []int32{5, 6, 7}, labels, "without labels every next token counts")

	r, err = ParseRecord([]byte(`{"instruction": "", "input": "x", "output": "y"}`))
	require.NoError(t, err)
	_, _, err = r.Tokenize(nil)
	require.ErrorContains(t, err, "tokenizer")
}

func TestReadJSONLErrors(t *testing.T) {
	cases := []struct{ body, want string }{
		{`{"input_ids": [1]}` + "\n" + `{"input_ids": [1,}`, ":2:"},
		{`{"input": "x"}`, "none of output, messages or input_ids"},
		{`{"input_ids": [1, 2], "labels": [1]}`, "labels has 1 entries"},
		{`{"input_ids": []}`, "input_ids is empty"},
		{`{"input_ids": [1, -2]}`, "input_ids[1] is -2"},
		{`{"input_ids": [1, 2], "labels": [-100, -1]}`, "labels[1] is -1"},
		{`{"messages": [{"role": "robot", "content": "x"}]}`, `role "robot"`},
		{`{"output": "y", "input_ids": [1]}`, "mixes"},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "d.jsonl")
		require.NoError(t, os.WriteFile(path, []byte(c.body+"\n"), 0o644))
		err := ReadJSONL(path, func(int, Record) error { return nil })
		require.ErrorContains(t, err, path)
		require.ErrorContains(t, err, c.want)
	}
	err := ReadJSONL(filepath.Join(t.TempDir(), "missing.jsonl"), func(int, Record) error { return nil })
	require.ErrorContains(t, err, "missing.jsonl")
}
