package cli

import (
	"encoding/json"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/contract"
)

func (e *env) parseCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:      "parse",
		Usage:     "print the clause tree detected in a contract file or folder as JSON",
		ArgsUsage: "PATH",
		Action: func(c *ucli.Context) error {
			if c.Args().Len() != 1 {
				return fmt.Errorf("parse takes one PATH (a contract file or a folder of them)")
			}
			cs, err := contract.ParsePath(c.Args().First())
			if err != nil {
				return err
			}
			for _, ct := range cs {
				for _, w := range ct.Warnings {
					fmt.Fprintf(e.stderr, "tune: %s: %s\n", ct.Source, w)
				}
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

func (e *env) genDataCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:  "gen-data",
		Usage: "generate cited contract Q&A training data (with train/validation/test splits)",
		Flags: []ucli.Flag{
			strFlag("contract_path", "contract file or folder: plain text, Reducto parsed-PDF JSON or structured JSON", ""),
			strFlag("output_path", "dataset file X.jsonl; X_train/X_val/X_test.jsonl and train/validation/test.jsonl go beside it", "data/training/legal_qa.jsonl"),
			boolFlag("augment", "add question paraphrases and context-window variants"),
			intFlag("num_augmentations", "variants per fact with --augment", 2),
			intFlag("seed", "seed for variants and the split", 42),
			listStrFlag("split", "train,validation,test ratios", "0.8,0.1,0.1"),
			floatFlag("unanswerable_ratio", "unanswerable questions per answerable fact", 0.1),
		},
		Action: func(c *ucli.Context) error {
			path := c.String("contract_path")
			if path == "" {
				return fmt.Errorf("--contract_path is required")
			}
			if err := checkOutput(flagPath{"output_path", c.String("output_path")}, flagPath{"contract_path", path}); err != nil {
				return err
			}
			split, err := contract.ParseSplit(c.String("split"))
			if err != nil {
				return fmt.Errorf("--split: %w", err)
			}
			if c.Int("num_augmentations") < 0 {
				return fmt.Errorf("--num_augmentations must not be negative")
			}
			cs, err := contract.ParsePath(path)
			if err != nil {
				return err
			}
			for _, ct := range cs {
				for _, w := range ct.Warnings {
					fmt.Fprintf(e.stderr, "tune: %s: %s\n", ct.Source, w)
				}
			}
			opts := contract.GenOptions{
				Augment: c.Bool("augment"), NumAugmentations: c.Int("num_augmentations"), Seed: int64(c.Int("seed")),
				Split: split, UnanswerableRatio: c.Float64("unanswerable_ratio"),
			}
			all, stats := contract.Generate(cs, opts)
			if len(all) == 0 {
				return fmt.Errorf("no question could be generated from %s", path)
			}
			tr, va, te := contract.SplitRecords(all, split, opts.Seed)
			stats.CountSplits(tr, va, te)
			if err := contract.WriteDataset(c.String("output_path"), all, tr, va, te); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d contracts, %d records (%d duplicates dropped) written beside %s\n",
				stats.Contracts, len(all), stats.Duplicates, c.String("output_path"))
			fmt.Fprint(e.stdout, contract.FormatStats(stats))
			return nil
		},
	})
}
