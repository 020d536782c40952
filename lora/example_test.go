package lora_test

import (
	"fmt"
	"log"
	"os"
	"slices"

	"github.com/tune-dev/tune/lora"
)

// Example builds a rank-2 adapter on the q_proj of a one-layer model,
// merges it into the base weight and applies that to a tiny batch, and
// saves it in PEFT's format and loads it back.
func Example() {
	cfg := lora.Config{R: 2, LoraAlpha: 4, TargetModules: []string{"q_proj"}}
	shape := func(module string) (in, out int) { return 4, 3 }
	a, err := lora.New("demo", cfg, 1, shape, 42)
	if err != nil {
		log.Fatal(err)
	}
	p, _ := a.Pair(0, "q_proj")
	fmt.Println("scaling:", a.Config.Scaling())

	// Two rows of input through the base weight W = 0 with the adapter
	// merged in: x·(W + s·B·A)ᵀ.
	x := []float32{1, 2, 3, 4, -1, 0, 1, 0}
	apply := func() []float32 {
		w := make([]float32, 3*4)
		a.Merge(w, 0, "q_proj")
		y := make([]float32, 2*3)
		for r := range 2 {
			for o := range 3 {
				for i := range 4 {
					y[r*3+o] += x[r*4+i] * w[o*4+i]
				}
			}
		}
		return y
	}
	fmt.Println("new adapter (B = 0):", apply())

	// Pretend training has moved B away from zero.
	for i := range p.B {
		p.B[i] = 0.1 * float32(i+1)
	}
	fmt.Printf("adapted: %.4f\n", apply())

	dir, err := os.MkdirTemp("", "lora-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := a.Save(dir); err != nil {
		log.Fatal(err)
	}
	b, err := lora.Load(dir, "demo", 1, shape)
	if err != nil {
		log.Fatal(err)
	}
	q, _ := b.Pair(0, "q_proj")
	fmt.Println("loaded back:", slices.Equal(p.A, q.A) && slices.Equal(p.B, q.B), b.Config.TargetModules, b.Config.Scaling())
	// Output:
	// scaling: 2
	// new adapter (B = 0): [0 0 0 0 0 0]
	// adapted: [-0.2951 -0.7347 -1.1743 -0.0105 -0.1649 -0.3193]
	// loaded back: true [q_proj] 2
}
