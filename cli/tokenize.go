package cli

import (
	"bufio"
	"encoding/json"
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func (e *env) tokenizeCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:  "tokenize",
		Usage: "read JSON lines {\"text\": ...} on stdin, write {\"ids\": [...]} lines on stdout",
		Flags: []ucli.Flag{
			strFlag("tokenizer", "tokenizer.json, tokenizer.json.gz or a model folder holding one (default: the built-in Qwen2.5 tokenizer)", "", "TUNE_TOKENIZER"),
		},
		Action: func(c *ucli.Context) error {
			tok, err := e.loadTokenizer(c.String("tokenizer"))
			if err != nil {
				return err
			}
			in := bufio.NewScanner(e.stdin)
			in.Buffer(make([]byte, 1<<20), 1<<30)
			out := bufio.NewWriter(e.stdout)
			defer out.Flush() // what was answered before an error
			for line := 1; in.Scan(); line++ {
				if len(in.Bytes()) == 0 {
					continue
				}
				var rec struct {
					Text *string `json:"text"`
				}
				if err := json.Unmarshal(in.Bytes(), &rec); err != nil {
					return fmt.Errorf("stdin line %d: %w", line, err)
				}
				if rec.Text == nil {
					return fmt.Errorf("stdin line %d: no \"text\" field", line)
				}
				ids := tok.Encode(*rec.Text)
				if ids == nil {
					ids = []int{}
				}
				err := printJSON(out, struct {
					IDs []int `json:"ids"`
				}{ids})
				if err != nil {
					return err
				}
			}
			if err := in.Err(); err != nil {
				return fmt.Errorf("stdin: %w", err)
			}
			return out.Flush()
		},
	})
}
