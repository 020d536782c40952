package testmodel_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/testmodel"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// TestWrite loads the folder back: the tokenizer gives each byte its own
// id and the special tokens theirs, and the model takes them.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, testmodel.Write(dir, 1))
	tok, err := tokenizer.Load(dir)
	require.NoError(t, err)
	text := "<|im_start|>user\nSection 2, é?<|im_end|>"
	want := []int{testmodel.IMStart}
	for _, b := range []byte("user\nSection 2, é?") {
		want = append(want, int(b))
	}
	want = append(want, testmodel.IMEnd)
	ids := tok.Encode(text)
	require.Equal(t, want, ids)
	require.Equal(t, text, tok.Decode(ids, false))
	require.Equal(t, []int{testmodel.IMEnd, testmodel.EndOfText}, tok.EOSIDs())

	m, err := decoder.Load(dir, cpu.New(1))
	require.NoError(t, err)
	defer m.Free()
	require.Equal(t, testmodel.Config().VocabSize, m.Config.VocabSize)
	require.Less(t, tok.VocabSize(), m.Config.VocabSize)
}
