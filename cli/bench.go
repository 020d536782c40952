package cli

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen"
	"github.com/tune-dev/tune/train"
)

// benchResult is what `tune bench` prints as one JSON line.
type benchResult struct {
	Shape        string  `json:"shape"`
	Mode         string  `json:"mode"`
	Backend      string  `json:"backend"`
	Batch        int     `json:"batch"`
	Seq          int     `json:"seq"`
	Params       int64   `json:"params"`
	Trainable    int     `json:"trainable_params,omitempty"`
	Seconds      float64 `json:"seconds_per_iter"`
	TokensPerSec float64 `json:"tokens_per_s"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
}

func (e *env) benchCommand() *ucli.Command {
	var shapes []string
	for name := range qwen.Sizes {
		shapes = append(shapes, name)
	}
	sort.Strings(shapes)
	return withConfig(&ucli.Command{
		Name:  "bench",
		Usage: "forward-pass (or, with --train, training-step; with --decode, decoding) throughput and peak memory of a random model in a real Qwen2.5 shape",
		Flags: []ucli.Flag{
			strFlag("shape", "model shape: "+strings.Join(shapes, ", "), "Qwen2.5-0.5B-Instruct"),
			intFlag("seq", "tokens per sequence", 256),
			intFlag("batch", "sequences per forward pass", 1),
			intFlag("iters", "timed iterations (after one warm-up)", 2),
			boolFlag("train", "time a whole LoRA training step (forward, backward, AdamW) instead of a forward pass"),
			boolFlag("use_qlora", "with --train: NF4 base projections (QLoRA)"),
			intFlag("lora_r", "with --train: LoRA rank on all seven projections", 16),
			boolFlag("gradient_checkpointing", "with --train: recompute activations in the backward pass"),
			intFlag("decode", "time greedy decoding of this many new tokens per sequence instead (--batch sequences decoded together after --seq prompt tokens each, as tune serve's engine runs them; 0: off)", 0),
		},
		Action: func(c *ucli.Context) error {
			cfg, ok := qwen.Sizes[c.String("shape")]
			if !ok {
				return fmt.Errorf("unknown --shape %q (one of %s)", c.String("shape"), strings.Join(shapes, ", "))
			}
			seq, batch, iters, decode := c.Int("seq"), c.Int("batch"), c.Int("iters"), c.Int("decode") // checked by flagBounds
			switch {
			case decode > 0 && c.Bool("train"):
				return fmt.Errorf("--decode %d and --train time different things: give one", decode)
			case decode == 1:
				return fmt.Errorf("--decode 1: the first new token comes from the prefill, which is not timed; decode at least 2")
			case c.Bool("train"):
				return e.benchTrain(c, &cfg, seq, batch, iters)
			case decode > 0:
				return e.benchDecode(c, &cfg, seq, batch, decode, iters)
			}
			be, err := e.backend(c)
			if err != nil {
				return err
			}
			m, err := decoder.NewRandom(&cfg, be, 1)
			if err != nil {
				return err
			}
			b := &decoder.Batch{IDs: randomIDs(benchRNG(), batch*seq, cfg.VocabSize), Rows: batch, T: seq}
			if _, err := m.Loss(b); err != nil { // warm-up: arena, caches
				return err
			}
			start := time.Now()
			for i := 0; i < iters; i++ {
				if _, err := m.Loss(b); err != nil {
					return err
				}
			}
			sec := time.Since(start).Seconds() / float64(iters)
			r := benchResult{Shape: c.String("shape"), Mode: "forward", Backend: m.Backend.Name(), Batch: batch, Seq: seq, Params: cfg.NumParams(),
				Seconds: sec, TokensPerSec: float64(batch*seq) / sec, PeakRSSMiB: peakRSSMiB()}
			return printJSON(e.stdout, r)
		},
	})
}

// benchTrain times LoRA training steps: every token is a target (the
// heaviest case: logits for every row), r on all seven projections,
// dropout 0.05, AdamW with clipping.
func (e *env) benchTrain(c *ucli.Context, cfg *decoder.Config, seq, batch, iters int) error {
	be, err := e.backend(c)
	if err != nil {
		return err
	}
	m, err := decoder.NewRandomWith(cfg, be, 1, decoder.LoadOptions{QLoRA: c.Bool("use_qlora")})
	if err != nil {
		return err
	}
	lc := lora.Config{R: c.Int("lora_r"), LoraAlpha: float64(2 * c.Int("lora_r")), LoraDropout: 0.05, TargetModules: strings.Split(allModules, ",")}
	a, err := lora.New("bench", lc, cfg.NumHiddenLayers, cfg.ModuleShape, 1)
	if err != nil {
		return err
	}
	tr := m.Train(a)
	opt, err := train.NewAdamW(m.Backend, tr.N, train.DefaultAdamW)
	if err != nil {
		return err
	}
	b := &decoder.Batch{IDs: randomIDs(benchRNG(), batch*seq, cfg.VocabSize), Rows: batch, T: seq}
	targets := batch * (seq - 1)
	step := func(i int) error {
		m.Backend.Zero(tr.Grads, tr.N)
		if _, _, err := m.ForwardBackward(b, decoder.TrainOptions{LossScale: 1 / float64(targets), DropoutSeed: uint64(i), Recompute: c.Bool("gradient_checkpointing")}); err != nil {
			return err
		}
		opt.Step(tr.Params, tr.Grads, 1e-4)
		return nil
	}
	if err := step(0); err != nil { // warm-up: arena, scratch
		return err
	}
	start := time.Now()
	for i := 1; i <= iters; i++ {
		if err := step(i); err != nil {
			return err
		}
	}
	sec := time.Since(start).Seconds() / float64(iters)
	mode := "train-lora"
	if c.Bool("use_qlora") {
		mode = "train-qlora"
	}
	if c.Bool("gradient_checkpointing") {
		mode += "-recompute"
	}
	r := benchResult{Shape: c.String("shape"), Mode: mode, Backend: m.Backend.Name(), Batch: batch, Seq: seq, Params: cfg.NumParams(), Trainable: tr.N,
		Seconds: sec, TokensPerSec: float64(batch*seq) / sec, PeakRSSMiB: peakRSSMiB()}
	return printJSON(e.stdout, r)
}

// benchDecode times greedy decoding through decoder.Batcher, the engine of
// tune serve without its HTTP layer: batch sequences of seq random prompt
// tokens are prefilled (not timed), then decoded together for n new
// tokens each (no eos stops them). tokens_per_s counts new tokens.
func (e *env) benchDecode(c *ucli.Context, cfg *decoder.Config, seq, batch, n, iters int) error {
	be, err := e.backend(c)
	if err != nil {
		return err
	}
	m, err := decoder.NewRandom(cfg, be, 1)
	if err != nil {
		return err
	}
	rng := benchRNG()
	g := decoder.DefaultGenerationConfig()
	g.EOSTokenIDs, g.MaxNewTokens = nil, n
	b := m.NewBatcher(batch, seq+n)
	defer b.Close()
	run := func() (float64, error) {
		for r := 0; r < batch; r++ {
			if err := b.Add(&decoder.Sequence{Prompt: randomIDs(rng, seq, cfg.VocabSize), Gen: g}); err != nil {
				return 0, err
			}
		}
		start := time.Now()
		for b.Running() > 0 {
			b.Step()
		}
		return time.Since(start).Seconds(), nil
	}
	if _, err := run(); err != nil { // warm-up: arena, caches
		return err
	}
	var sec float64
	for i := 0; i < iters; i++ {
		s, err := run()
		if err != nil {
			return err
		}
		sec += s / float64(iters)
	}
	// The first new token comes from the prefill: n-1 decode steps.
	r := benchResult{Shape: c.String("shape"), Mode: "decode", Backend: m.Backend.Name(), Batch: batch, Seq: seq, Params: cfg.NumParams(),
		Seconds: sec, TokensPerSec: float64(batch*(n-1)) / sec, PeakRSSMiB: peakRSSMiB()}
	return printJSON(e.stdout, r)
}

// benchRNG is the seeded generator of the benchmarks' token ids.
func benchRNG() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// randomIDs draws n token ids of a vocabulary of vocab from rng.
func randomIDs(rng *rand.Rand, n, vocab int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(vocab))
	}
	return ids
}

// peakRSSMiB reads the process's peak resident set (VmHWM) from /proc; 0
// where /proc is not available.
func peakRSSMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%g", &kb)
			return kb / 1024
		}
	}
	return 0
}
