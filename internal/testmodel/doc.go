// Package testmodel writes a tiny Qwen2 model folder that chat records run
// on, for the tests of training and of the command line: a random model
// whose vocabulary covers a byte-level tokenizer (each byte its own token,
// plus the chat template's special tokens), so that chat text needs neither
// the real 151,643-token tokenizer nor a model with its vocabulary; and
// random adapters that change a model's answers (RandomAdapter). Only
// tests import it.
package testmodel
