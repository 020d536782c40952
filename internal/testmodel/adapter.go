package testmodel

import (
	"math/rand/v2"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
)

// RandomAdapter is an adapter of rank r on modules of a model of config c
// whose B factors are drawn too, N(0, scale²) from seed: a new adapter's
// are zero and change nothing, this one changes the model's answers.
func RandomAdapter(c *decoder.Config, name string, r int, modules []string, scale float64, seed uint64) (*lora.Adapter, error) {
	a, err := lora.New(name, lora.Config{R: r, LoraAlpha: float64(2 * r), TargetModules: modules}, c.NumHiddenLayers, c.ModuleShape, seed)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for li := 0; li < c.NumHiddenLayers; li++ {
		for _, m := range lora.Modules {
			if p, ok := a.Pair(li, m.Name); ok {
				for i := range p.B {
					p.B[i] = float32(rng.NormFloat64() * scale)
				}
			}
		}
	}
	return a, nil
}
