package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/internal/utf8text"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// Record is one line of a JSONL dataset, in one of three shapes:
//   - instruction/input/output: the instruction becomes the system turn,
//     the input the user turn and the output the assistant answer;
//   - messages: a chat of {"role", "content"} turns;
//   - input_ids (and optional labels): pre-tokenized, Hugging Face
//     semantics (labels aligned with input_ids, shifted inside the loss,
//     -100 ignored; without labels every next token counts).
type Record struct {
	Instruction string              `json:"instruction"`
	Input       string              `json:"input"`
	Output      *string             `json:"output"`
	Messages    []tokenizer.Message `json:"messages"`
	InputIDs    []int32             `json:"input_ids"`
	Labels      []int32             `json:"labels"`
}

// Pretokenized reports whether the record carries token ids.
func (r *Record) Pretokenized() bool { return r.InputIDs != nil }

// validate checks that the record has exactly one usable shape.
func (r *Record) validate() error {
	shapes := 0
	if r.Output != nil {
		shapes++
	}
	if r.Messages != nil {
		shapes++
		for i, m := range r.Messages {
			switch m.Role {
			case "system", "user", "assistant":
			default:
				return fmt.Errorf("message %d has role %q (want system, user or assistant)", i, m.Role)
			}
		}
	}
	if r.InputIDs != nil {
		shapes++
		if len(r.InputIDs) == 0 {
			return errors.New("input_ids is empty")
		}
		if r.Labels != nil && len(r.Labels) != len(r.InputIDs) {
			return fmt.Errorf("labels has %d entries, input_ids %d", len(r.Labels), len(r.InputIDs))
		}
		for i, id := range r.InputIDs {
			if id < 0 {
				return fmt.Errorf("input_ids[%d] is %d (want a token id >= 0)", i, id)
			}
		}
		for i, id := range r.Labels {
			if id < 0 && id != backend.IgnoreIndex {
				return fmt.Errorf("labels[%d] is %d (want a token id or %d)", i, id, backend.IgnoreIndex)
			}
		}
	}
	switch shapes {
	case 0:
		return errors.New("record has none of output, messages or input_ids")
	case 1:
		return nil
	}
	return errors.New("record mixes output, messages and input_ids; use one")
}

// ParseRecord decodes and validates one JSON line.
func ParseRecord(line []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&r); err != nil {
		return r, err
	}
	return r, r.validate()
}

// ReadJSONL calls fn for each non-blank line of path in order. A bad line,
// including one that is not UTF-8, gets an error naming the file and line
// number.
func ReadJSONL(path string, fn func(line int, r Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := utf8text.Check(sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		r, err := ParseRecord(sc.Bytes())
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if err := fn(n, r); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// emptyAnswer reports whether r is a chat record with answers that are
// all blank (such a record would train the model to answer with
// its end-of-turn token alone).
func (r *Record) emptyAnswer() bool {
	if r.Pretokenized() {
		return false
	}
	answers := 0
	for _, m := range r.ChatMessages() {
		if m.Role == "assistant" {
			if strings.TrimSpace(m.Content) != "" {
				return false
			}
			answers++
		}
	}
	return answers > 0
}

// System returns the system turn tok's chat template gives the record:
// its first turn when that is a system turn (an instruction record's
// instruction), else the template's default. ok is false for a
// pre-tokenized record, whose text is unknown.
func (r *Record) System(tok *tokenizer.Tokenizer) (prompt string, ok bool) {
	if r.Pretokenized() {
		return "", false
	}
	if msgs := r.ChatMessages(); len(msgs) > 0 && msgs[0].Role == "system" {
		return msgs[0].Content, true
	}
	return tok.ChatTemplate().DefaultSystemPrompt(), true
}

// ChatMessages returns the chat turns of an instruction or messages record.
func (r *Record) ChatMessages() []tokenizer.Message {
	if r.Messages != nil {
		return r.Messages
	}
	var msgs []tokenizer.Message
	if r.Instruction != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: r.Instruction})
	}
	msgs = append(msgs, tokenizer.Message{Role: "user", Content: r.Input})
	if r.Output != nil {
		msgs = append(msgs, tokenizer.Message{Role: "assistant", Content: *r.Output})
	}
	return msgs
}

// Tokenize returns the record's input ids and labels: for chat records the
// loss covers only the assistant answers and their end-of-turn token; every other
// position is backend.IgnoreIndex. Pre-tokenized records need no
// tokenizer (tok may be nil).
func (r *Record) Tokenize(tok *tokenizer.Tokenizer) (ids, labels []int32, err error) {
	if r.Pretokenized() {
		ids = r.InputIDs
		labels = r.Labels
		if labels == nil {
			labels = ids
		}
		return ids, labels, nil
	}
	if tok == nil {
		return nil, nil, errors.New("chat record needs a tokenizer (no tokenizer.json in the model folder; pass --tokenizer)")
	}
	for _, s := range tok.ChatTemplate().Segments(r.ChatMessages(), false) {
		for _, id := range tok.Encode(s.Text) {
			ids = append(ids, int32(id))
			if s.Train {
				labels = append(labels, int32(id))
			} else {
				labels = append(labels, backend.IgnoreIndex)
			}
		}
	}
	return ids, labels, nil
}
