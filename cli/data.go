package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/contract"
)

func (e *env) parseCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:      "parse",
		Usage:     "print the clause tree detected in a contract file or folder (JSON, or an indented outline)",
		ArgsUsage: "PATH",
		Flags: []ucli.Flag{
			strFlag("format", "json (the tree with clause texts) or outline (one line per clause: id, title, kind, byte span, page)", "json"),
		},
		Action: func(c *ucli.Context) error {
			if c.Args().Len() != 1 {
				return fmt.Errorf("parse takes one PATH (a contract file or a folder of them)")
			}
			format := c.String("format")
			if format != "json" && format != "outline" {
				return fmt.Errorf("--format %q: want json or outline", format)
			}
			cs, err := e.parseContracts(c.Args().First())
			if err != nil {
				return err
			}
			if format == "outline" {
				for _, ct := range cs {
					fmt.Fprint(e.stdout, ct.Outline())
				}
				return nil
			}
			out, err := json.MarshalIndent(cs, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, string(out))
			return nil
		},
	})
}

// parseContracts parses a contract file or folder and reports, one line
// each on stderr, the files skipped as not text and every parse warning.
func (e *env) parseContracts(path string) ([]*contract.Contract, error) {
	cs, skipped, err := contract.ParsePath(path)
	for _, s := range skipped {
		fmt.Fprintf(e.stderr, "tune: %s\n", s)
	}
	if err != nil {
		return nil, err
	}
	for _, ct := range cs {
		for _, w := range ct.Warnings {
			fmt.Fprintf(e.stderr, "tune: %s: %s\n", ct.Source, w)
		}
	}
	return cs, nil
}

func (e *env) genDataCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:  "gen-data",
		Usage: "generate cited contract Q&A training data (with train/validation/test splits)",
		Flags: []ucli.Flag{
			strFlag("contract_path", "contract file or folder: plain text, Reducto parsed-PDF JSON or structured JSON", ""),
			strFlag("output_path", "data set file X.jsonl; X_train/X_val/X_test.jsonl, X_summary.json and train/validation/test.jsonl go beside it", "data/training/legal_qa.jsonl"),
			boolFlag("augment", "add question paraphrases and context-window variants"),
			intFlag("num_augmentations", fmt.Sprintf("variants per question with --augment (0 to %d)", contract.MaxAugmentations), 2),
			intFlag("seed", "seed for variants and the split", 42),
			listStrFlag("split", "train,validation,test ratios", "0.8,0.1,0.1"),
			floatFlag("unanswerable_ratio", fmt.Sprintf("unanswerable questions per answerable fact (0 to %g)", contract.MaxUnanswerableRatio), 0.1),
			strFlag("teacher_url", "base URL of an OpenAI-compatible server (vLLM, llama.cpp, tune serve), e.g. http://127.0.0.1:8000/v1: it paraphrases questions and phrases answers, each checked against its clause", ""),
			strFlag("teacher_model", "the teacher's model name (GET /v1/models)", ""),
			strFlag("teacher_api_key", "API key of the teacher server", "", "TEACHER_API_KEY"),
			intFlag("teacher_workers", "requests sent to the teacher at once", 4),
		},
		Action: func(c *ucli.Context) error {
			opts, err := genOptions(c, e.stderr)
			if err != nil {
				return err
			}
			path, out := c.String("contract_path"), c.String("output_path")
			if path == "" {
				return fmt.Errorf("--contract_path is required")
			}
			if err := checkOutput(flagPath{"output_path", out}, flagPath{"contract_path", path}); err != nil {
				return err
			}
			paths, err := contract.SetPaths(out)
			if err != nil {
				return fmt.Errorf("--output_path %w", err)
			}
			if err := checkSetOutputs(out, paths, flagPath{"contract_path", path}); err != nil {
				return err
			}
			cs, err := e.parseContracts(path)
			if err != nil {
				return err
			}
			var t *teacher
			if u := c.String("teacher_url"); u != "" {
				if t, err = newTeacher(u, c.String("teacher_model"), c.String("teacher_api_key")); err != nil {
					return err
				}
			}
			ds := contract.Generate(cs, opts)
			if len(ds.All) == 0 {
				return fmt.Errorf("no question could be generated from %s", path)
			}
			if t != nil {
				fmt.Fprintf(e.stderr, "tune: asking the teacher %s at %s about each fact\n", c.String("teacher_model"), c.String("teacher_url"))
				if err := contract.Teach(c.Context, ds, t, c.Int("teacher_workers")); err != nil {
					return err
				}
			}
			if err := contract.WriteDataset(out, ds); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d contracts, %d records (%d duplicates dropped) written beside %s; summary in %s\n",
				ds.Stats.Contracts, len(ds.All), ds.Stats.Duplicates, out, paths["summary"])
			fmt.Fprint(e.stdout, contract.FormatStats(ds))
			return nil
		},
	})
}

// checkSetOutputs refuses a data set whose other files (see
// contract.SetPaths; out itself is checked before) include the input or an
// existing file inside an input folder: the split files beside out would
// overwrite an input as surely as out itself.
func checkSetOutputs(out string, paths map[string]string, input flagPath) error {
	for _, k := range slices.Sorted(maps.Keys(paths)) {
		if p := paths[k]; p != out {
			if err := checkOutput(flagPath{"output_path", p}, input); err != nil {
				return fmt.Errorf("%w (%s is written beside --output_path %s)", err, p, out)
			}
		}
	}
	return nil
}

// genOptions reads the gen-data flags and checks them with
// GenOptions.Check; each error names its flag. A --num_augmentations above
// the number of distinct variants is lowered to it, with a note on stderr:
// more would only repeat records.
func genOptions(c *ucli.Context, stderr io.Writer) (contract.GenOptions, error) {
	split, err := contract.ParseSplit(c.String("split"))
	if err != nil {
		return contract.GenOptions{}, fmt.Errorf("--split %w", err)
	}
	n := c.Int("num_augmentations")
	if n > contract.MaxAugmentations {
		fmt.Fprintf(stderr, "tune: --num_augmentations %d: a question has only %d distinct variants besides its base record (%d paraphrases in 3 context windows); using %d\n",
			n, contract.MaxAugmentations, (contract.MaxAugmentations+1)/3, contract.MaxAugmentations)
		n = contract.MaxAugmentations
	}
	opts := contract.GenOptions{Augment: c.Bool("augment"), NumAugmentations: n, Seed: int64(c.Int("seed")), Split: split,
		UnanswerableRatio: c.Float64("unanswerable_ratio")}
	if err := opts.Check(); err != nil {
		return contract.GenOptions{}, fmt.Errorf("--%w", err)
	}
	return opts, nil
}
