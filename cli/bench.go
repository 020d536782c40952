package cli

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tune-dev/tune/qwen"
)

// benchResult is what `tune bench` prints as one JSON line.
type benchResult struct {
	Shape        string  `json:"shape"`
	Backend      string  `json:"backend"`
	Batch        int     `json:"batch"`
	Seq          int     `json:"seq"`
	Params       int64   `json:"params"`
	Seconds      float64 `json:"seconds_per_forward"`
	TokensPerSec float64 `json:"tokens_per_s"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
}

func (e *env) benchCommand() *ucli.Command {
	var shapes []string
	for name := range qwen.Family {
		shapes = append(shapes, name)
	}
	sort.Strings(shapes)
	return withConfig(&ucli.Command{
		Name:  "bench",
		Usage: "forward-pass throughput and peak memory of a random model in a real Qwen2.5 shape",
		Flags: []ucli.Flag{
			strFlag("shape", "model shape: "+strings.Join(shapes, ", "), "Qwen2.5-0.5B-Instruct"),
			intFlag("seq", "tokens per sequence", 256),
			intFlag("batch", "sequences per forward pass", 1),
			intFlag("iters", "timed forward passes (after one warm-up)", 2),
		},
		Action: func(c *ucli.Context) error {
			cfg, ok := qwen.Family[c.String("shape")]
			if !ok {
				return fmt.Errorf("unknown --shape %q (one of %s)", c.String("shape"), strings.Join(shapes, ", "))
			}
			seq, batch, iters := c.Int("seq"), c.Int("batch"), c.Int("iters")
			if seq <= 0 || batch <= 0 || iters <= 0 {
				return fmt.Errorf("--seq, --batch and --iters must be positive")
			}
			m, err := qwen.NewRandom(&cfg, e.backend(c), 1)
			if err != nil {
				return err
			}
			rng := rand.New(rand.NewPCG(1, 2))
			ids := make([]int32, batch*seq)
			for i := range ids {
				ids[i] = int32(rng.IntN(cfg.VocabSize))
			}
			b := &qwen.Batch{IDs: ids, Rows: batch, T: seq}
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
			r := benchResult{Shape: c.String("shape"), Backend: m.B.Name(), Batch: batch, Seq: seq, Params: cfg.NumParams(),
				Seconds: sec, TokensPerSec: float64(batch*seq) / sec, PeakRSSMiB: peakRSSMiB()}
			out, _ := json.Marshal(r)
			fmt.Fprintln(e.stdout, string(out))
			return nil
		},
	})
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
