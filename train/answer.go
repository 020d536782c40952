package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/eval"
	"github.com/tune-dev/tune/qwen/tokenizer"
	"github.com/tune-dev/tune/train/data"
)

// QA is a set of chat records to answer with a model and score: each
// record's turns before its last make the prompt, and its last turn, the
// assistant's answer, is the reference. tune eval and the end-of-training
// report both answer records through it.
type QA struct {
	Path string
	// Prompts are the records' turns rendered by the chat template with
	// the generation prompt, tokenized; Refs their answers and Lines their
	// lines in Path.
	Prompts [][]int32
	Refs    []string
	Lines   []int
	// System is the system turn given to records without their own.
	System string
	// Records counts the records of the file: more than len(Prompts)
	// when a limit left some out.
	Records int
}

// LoadQA reads the chat records of the JSONL file path (instruction/input/
// output records, or messages whose last turn is the assistant's) as
// prompts and references: the first limit records (limit <= 0: all), the
// rest read and counted but not tokenized. A record without a system turn
// of its own gets system, as a training run gave its records its default
// (the chat template's default). A pre-tokenized
// record, or one that does not end with an answer, is an error naming the
// file and line.
func LoadQA(path string, tok *tokenizer.Tokenizer, system string, limit int) (*QA, error) {
	if tok == nil {
		return nil, fmt.Errorf("%s: answering chat records needs a tokenizer (no tokenizer.json in the model folder; pass --tokenizer)", path)
	}
	q := &QA{Path: path, System: system}
	err := data.ReadJSONL(path, func(line int, r data.Record) error {
		if r.Pretokenized() {
			return errors.New("a pre-tokenized record has no answer text to score")
		}
		msgs := r.ChatMessages()
		if len(msgs) == 0 || msgs[len(msgs)-1].Role != "assistant" {
			return errors.New("record has no assistant answer to use as the reference")
		}
		q.Records++
		if limit > 0 && len(q.Prompts) >= limit {
			return nil
		}
		turns := msgs[:len(msgs)-1]
		if len(turns) == 0 || turns[0].Role != "system" {
			turns = append([]tokenizer.Message{{Role: "system", Content: system}}, turns...)
		}
		ids := tok.Encode(tok.ApplyChatTemplate(turns, true))
		prompt := make([]int32, len(ids))
		for i, id := range ids {
			prompt[i] = int32(id)
		}
		q.Prompts = append(q.Prompts, prompt)
		q.Refs = append(q.Refs, msgs[len(msgs)-1].Content)
		q.Lines = append(q.Lines, line)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// Check reports the first prompt the model of config c cannot answer with
// up to maxNewTokens new tokens: one holding a token id outside the
// vocabulary, or one too long for max_position_embeddings. The error names
// the file and line.
func (q *QA) Check(c *decoder.Config, maxNewTokens int) error {
	for i, p := range q.Prompts {
		if err := c.CheckIDs(p); err != nil {
			return fmt.Errorf("%s:%d: %w; is the tokenizer the model's?", q.Path, q.Lines[i], err)
		}
		if len(p)+maxNewTokens > c.MaxPositionEmbeddings {
			return fmt.Errorf("%s:%d: a prompt of %d tokens plus %d new tokens exceeds max_position_embeddings %d",
				q.Path, q.Lines[i], len(p), maxNewTokens, c.MaxPositionEmbeddings)
		}
	}
	return nil
}

// Answer generates an answer to every prompt with m, batch prompts at a
// time, and pairs each answer (special tokens dropped, surrounding space
// trimmed) with its reference. log gets a line per batch. Cancelling ctx
// stops generation at the next token; the error then wraps ctx.Err().
func (q *QA) Answer(ctx context.Context, m *decoder.Model, tok *tokenizer.Tokenizer, g decoder.GenerationConfig, batch int, log io.Writer) ([]eval.Example, error) {
	batch = max(batch, 1)
	out := make([]eval.Example, 0, len(q.Prompts))
	for lo := 0; lo < len(q.Prompts); lo += batch {
		hi := min(lo+batch, len(q.Prompts))
		fmt.Fprintf(log, "generating answers %d-%d of %d\n", lo+1, hi, len(q.Prompts))
		gen, err := m.GenerateBatch(q.Prompts[lo:hi], g, func(int, int32) bool { return ctx.Err() == nil })
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: answering records %d-%d: %w", q.Path, lo+1, hi, err)
		}
		for i, ids := range gen {
			ints := make([]int, len(ids))
			for j, id := range ids {
				ints[j] = int(id)
			}
			out = append(out, eval.Example{Prediction: strings.TrimSpace(tok.Decode(ints, true)), References: []string{q.Refs[lo+i]}})
		}
	}
	return out, nil
}

// ModelGeneration is the generation config of the model folder dir (of
// config c): its generation_config.json over transformers' defaults,
// stopping at the eos ids it or config.json names, else at the
// tokenizer's.
func ModelGeneration(dir string, c *decoder.Config, tok *tokenizer.Tokenizer) (decoder.GenerationConfig, error) {
	g, err := decoder.LoadGenerationConfig(dir, c)
	if err != nil {
		return g, err
	}
	if len(g.EOSTokenIDs) == 0 {
		g.EOSTokenIDs = tok.EOSIDs()
	}
	return g, nil
}

// GreedyGeneration is greedy decoding of up to maxNewTokens tokens that
// stops where the model folder says (ModelGeneration): answers are scored
// deterministically whatever the folder samples with.
func GreedyGeneration(dir string, c *decoder.Config, tok *tokenizer.Tokenizer, maxNewTokens int) (decoder.GenerationConfig, error) {
	mg, err := ModelGeneration(dir, c, tok)
	if err != nil {
		return mg, err
	}
	g := decoder.DefaultGenerationConfig()
	g.MaxNewTokens = maxNewTokens
	g.EOSTokenIDs = mg.EOSTokenIDs
	return g, nil
}
