package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/joho/godotenv"
	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// Assets are the files built into the binary.
type Assets struct {
	// TokenizerGz is the Qwen2.5 tokenizer.json, gzipped.
	TokenizerGz []byte
}

// env holds what every command shares.
type env struct {
	assets Assets
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// modelDir is the folder openModel loaded the model from.
	modelDir string
}

// Run executes the tune command line args (args[0] is the program name).
// It loads ./.env first (variables already set win over it), and with no
// command runs the built-in demo after saying so.
func Run(args []string, assets Assets, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := godotenv.Load(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf(".env: %w", err)
	}
	e := &env{assets: assets, stdin: stdin, stdout: stdout, stderr: stderr}
	app := &ucli.App{
		Name:      "tune",
		Usage:     "fine-tune Qwen2.5 models with LoRA for question answering over legal contracts",
		Version:   versionString(),
		Writer:    stdout,
		ErrWriter: stderr,
		Metadata:  map[string]any{stateKey: &runState{args: args, fromConfig: map[string]string{}}},
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "config", Usage: configUsage, EnvVars: []string{"TUNE_CONFIG"}},
			&ucli.IntFlag{Name: "threads", Usage: "CPU threads per op (0: all cores)", EnvVars: []string{"TUNE_THREADS"}},
			deviceFlag(),
			bf16Flag(),
		},
		Commands: []*ucli.Command{
			e.demoCommand(),
			e.tokenizeCommand(),
			e.generateCommand(),
			e.scoreCommand(),
			e.parseCommand(),
			e.genDataCommand(),
			e.evalCommand(),
			e.trainCommand(),
			e.planCommand(),
			e.mergeCommand(),
			e.benchCommand(),
			e.serveCommand(),
		},
		Before: func(c *ucli.Context) error {
			return checkFlagList(c, c.App.Flags, stateOf(c))
		},
		Action: func(c *ucli.Context) error {
			if c.Args().Len() > 0 {
				return fmt.Errorf("unknown command %q (see tune --help)", c.Args().First())
			}
			fmt.Fprintln(stderr, "tune: no command given, running the built-in demo (tune demo); see tune --help for the rest")
			return e.runDemo(c, defaultDemoOptions())
		},
		HideHelpCommand: true,
		ExitErrHandler:  func(*ucli.Context, error) {},
	}
	return app.Run(args)
}

// backend returns the compute backend for the command (--device) and
// says on stderr which one runs, once per process.
func (e *env) backend(c *ucli.Context) (backend.Backend, error) {
	b, line, err := selectDevice(device{name: c.String("device"), threads: c.Int("threads"), bf16: c.Bool("bf16"),
		probe: probeGPU, open: openGPU})
	if err != nil {
		return nil, err
	}
	deviceLines.print(e.stderr, line)
	return b, nil
}

// builtinTokenizerFiles inflates the tokenizer built into the binary.
func (e *env) builtinTokenizerFiles() (*tokenizer.Files, error) {
	return tokenizer.Gunzip(e.assets.TokenizerGz, "built-in Qwen2.5 tokenizer.json")
}

// builtinTokenizer decodes the tokenizer built into the binary.
func (e *env) builtinTokenizer() (*tokenizer.Tokenizer, error) {
	f, err := e.builtinTokenizerFiles()
	if err != nil {
		return nil, err
	}
	return tokenizer.Parse(f.JSON, f.JSONPath)
}

// loadTokenizer loads path (a tokenizer.json, .json.gz or a folder holding
// one), or the built-in Qwen2.5 tokenizer when path is empty.
func (e *env) loadTokenizer(path string) (*tokenizer.Tokenizer, error) {
	if path == "" {
		return e.builtinTokenizer()
	}
	return tokenizer.Load(path)
}

// fileExists reports whether path names an existing file or folder.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
