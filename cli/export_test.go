package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/contract"
	"github.com/tune-dev/tune/train"
)

// ServeSignals lets tests stop tune serve without a signal.
var ServeSignals = &serveSignals

// DemoServeFixture writes the demo's data and model under dir and trains
// one adapter per seed with the demo's training run, shortened to steps
// steps of one record of at most 256 tokens. It returns the model folder
// and the adapter folders.
func DemoServeFixture(assets Assets, dir string, seeds []int, steps int) (string, []string, error) {
	e := &env{assets: assets, stdout: io.Discard, stderr: io.Discard}
	o := defaultDemoOptions()
	_, ds := demoData(o.seed)
	data := filepath.Join(dir, "data", "legal_qa.jsonl")
	if err := contract.WriteDataset(data, ds); err != nil {
		return "", nil, err
	}
	model := filepath.Join(dir, "model")
	if err := e.writeDemoModel(model, uint64(o.seed)); err != nil {
		return "", nil, err
	}
	tok, err := e.builtinTokenizer()
	if err != nil {
		return "", nil, err
	}
	var adapters []string
	for _, seed := range seeds {
		o.seed, o.steps = seed, steps
		run := filepath.Join(dir, fmt.Sprintf("adapter-%d", seed))
		tc := demoTrainConfig(o, filepath.Dir(data), run, model, tok)
		tc.BatchSize, tc.MaxLength = 1, 256
		if _, err := train.Run(context.Background(), tc, cpu.New(0)); err != nil {
			return "", nil, err
		}
		adapters = append(adapters, run)
	}
	return model, adapters, nil
}
