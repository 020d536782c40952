// Command tune fine-tunes Qwen2.5 instruct models with LoRA for question
// answering over legal contracts. See README.md, or run tune --help.
package main

import (
	_ "embed"
	"fmt"
	"os"

	"github.com/tune-dev/tune/cli"
)

// The Qwen2.5 tokenizer (Apache-2.0, Qwen; see testdata/tokenizer/SOURCE.md),
// built in so that the demo and tokenize work without a download.
//
//go:embed testdata/tokenizer/tokenizer.json.gz
var tokenizerGz []byte

func main() {
	if err := cli.Run(os.Args, cli.Assets{TokenizerGz: tokenizerGz}, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tune:", err)
		os.Exit(1)
	}
}
