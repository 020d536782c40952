package cli

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/serve"
	"github.com/tune-dev/tune/train"
)

// serveSignals is the context tune serve runs under: it ends on SIGTERM
// or Ctrl-C (tests replace it).
var serveSignals = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

func (e *env) serveCommand() *ucli.Command {
	return withConfig(&ucli.Command{
		Name:  "serve",
		Usage: "serve the model and its adapters behind an OpenAI-compatible HTTP API (continuous batching)",
		Flags: []ucli.Flag{
			strFlag("base_model", "Hugging Face Qwen2 or Llama model folder (config.json + safetensors)", "", "BASE_MODEL"),
			altsrc.NewStringSliceFlag(&ucli.StringSliceFlag{Name: "adapter",
				Usage: "NAME=DIR: serve the PEFT adapter in DIR as model NAME (repeatable; a bare DIR is named after its folder)"}),
			strFlag("tokenizer", "tokenizer.json, .json.gz or folder (default: the model folder's, else the built-in Qwen2.5 tokenizer)", "", "TUNE_TOKENIZER"),
			strFlag("model_name", "the base model's name in requests (default: its folder's name; a run's merged_model/ takes the run folder's)", ""),
			strFlag("host", "address to listen on (0.0.0.0 exposes the server to the network)", "127.0.0.1"),
			intFlag("port", "TCP port (0: any free port; the line on stderr names it)", 8000),
			strFlag("api_key", "require Authorization: Bearer KEY on every endpoint but /health", "", "TUNE_API_KEY"),
			intFlag("max_batch", "most requests decoded together", 8),
			intFlag("max_context", "most tokens of prompt and answer per request (default: 4096, or max_position_embeddings when smaller)", 0),
			intFlag("max_queue", "most requests waiting for a batch slot; more get 429", 64),
			intFlag("max_tokens", "cap on a request's max_tokens (and the default of chats that give none)", 1024),
			intFlag("max_body", "largest request body, in bytes", 1<<20),
			strFlag("adapter_root", "allow POST /v1/adapters to load adapter folders under this folder (off when empty)", ""),
			intFlag("seed", "seeds the sampling of requests that give no seed", 0),
			intFlag("shutdown_timeout", "seconds to let running requests finish after SIGTERM before cancelling them", 30),
		},
		Action: e.runServe,
	})
}

func (e *env) runServe(c *ucli.Context) error {
	named, err := adapterFlags(c.StringSlice("adapter"))
	if err != nil {
		return err
	}
	// FINETUNING_* names one more model: the merged folder as the base,
	// or an adapter over --base_model served under its folder's name.
	dir, ft, err := e.fineTunedModel(c.String("base_model"), "")
	if err != nil {
		return err
	}
	if ft != "" {
		named = append(named, [2]string{filepath.Base(ft), ft})
	}
	m, err := e.loadModel(c, dir)
	if err != nil {
		return err
	}
	defer m.Free()
	tok, err := e.modelTokenizer(c, m)
	if err != nil {
		return err
	}
	g, err := train.ModelGeneration(dir, m.Config, tok)
	if err != nil {
		return err
	}
	adapters := map[string]*lora.Adapter{}
	for _, n := range named {
		if _, dup := adapters[n[0]]; dup {
			return fmt.Errorf("--adapter %s=%s: the name %s is given twice", n[0], n[1], n[0])
		}
		a, err := loadAdapter(m, n[1], n[0])
		if err != nil {
			return fmt.Errorf("--adapter %s=%s: %w", n[0], n[1], err)
		}
		adapters[n[0]] = a
	}
	baseSystem, _, err := recordedSystemPrompt(nil, dir, m.Config.Family().Chat)
	if err != nil {
		return err
	}
	name := c.String("model_name")
	if name == "" {
		name = filepath.Base(filepath.Clean(dir))
		if name == "merged_model" { // a training run's merged folder goes by the run's name
			name = filepath.Base(filepath.Dir(filepath.Clean(dir)))
		}
	}
	if _, clash := adapters[name]; clash {
		return fmt.Errorf("--adapter %s: the base model is served under that name too (set --model_name)", name)
	}
	maxContext := c.Int("max_context")
	if maxContext == 0 {
		maxContext = min(4096, m.Config.MaxPositionEmbeddings)
	}
	s, err := serve.New(serve.Config{
		Model: m, Tokenizer: tok, BaseName: name, BaseSystem: baseSystem, Gen: g, Adapters: adapters,
		SystemPrompt: func(a *lora.Adapter) string {
			p, _, err := recordedSystemPrompt(a, dir, m.Config.Family().Chat)
			if err != nil { // the model folder's prompt was read above
				return baseSystem
			}
			return p
		},
		MaxBatch: c.Int("max_batch"), MaxContext: maxContext, MaxQueue: c.Int("max_queue"), MaxTokens: c.Int("max_tokens"),
		MaxBody: int64(c.Int("max_body")), APIKey: c.String("api_key"), AdapterRoot: c.String("adapter_root"),
		Seed: uint64(c.Int("seed")), ShutdownTimeout: time.Duration(c.Int("shutdown_timeout")) * time.Second,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", net.JoinHostPort(c.String("host"), strconv.Itoa(c.Int("port"))))
	if err != nil {
		return fmt.Errorf("--host/--port: %w", err)
	}
	names := append([]string{name + " (base)"}, slices.Sorted(maps.Keys(adapters))...)
	auth := "no API key"
	if c.String("api_key") != "" {
		auth = "API key required"
	}
	fmt.Fprintf(e.stderr, "tune: serving %s on http://%s/v1 (%s, batch %d, context %d)\n",
		strings.Join(names, ", "), ln.Addr(), auth, c.Int("max_batch"), maxContext)
	ctx, stop := serveSignals()
	defer stop()
	if err := s.Serve(ctx, ln); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(e.stderr, "tune: server stopped")
	return nil
}

// adapterFlags reads --adapter NAME=DIR values (a bare DIR is named after
// its folder).
func adapterFlags(values []string) ([][2]string, error) {
	var out [][2]string
	for _, v := range values {
		name, dir, ok := strings.Cut(v, "=")
		if !ok {
			name, dir = filepath.Base(filepath.Clean(v)), v
		}
		if name == "" || dir == "" {
			return nil, fmt.Errorf("--adapter %q: want NAME=DIR", v)
		}
		out = append(out, [2]string{name, dir})
	}
	return out, nil
}
