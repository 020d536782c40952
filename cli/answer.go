package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/tune-dev/tune/eval"
	"github.com/tune-dev/tune/qwen"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// encode tokenizes text to int32 ids.
func encode(tok *tokenizer.Tokenizer, text string) []int32 {
	ids := tok.Encode(text)
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

// answer generates a reply to every prompt, batch prompts at a time, and
// pairs each reply (special tokens dropped) with its reference.
func answer(m *qwen.Model, tok *tokenizer.Tokenizer, prompts [][]int32, refs []string, g qwen.GenerationConfig, batch int, log io.Writer) ([]eval.Example, error) {
	var out []eval.Example
	for lo := 0; lo < len(prompts); lo += batch {
		hi := min(lo+batch, len(prompts))
		fmt.Fprintf(log, "tune: generating answers %d-%d of %d\n", lo+1, hi, len(prompts))
		gen, err := m.GenerateBatch(prompts[lo:hi], g, nil)
		if err != nil {
			return nil, err
		}
		for i, ids := range gen {
			ints := make([]int, len(ids))
			for j, id := range ids {
				ints[j] = int(id)
			}
			out = append(out, eval.Example{Prediction: strings.TrimSpace(tok.Decode(ints, true)), References: []string{refs[lo+i]}})
		}
	}
	return out, nil
}
