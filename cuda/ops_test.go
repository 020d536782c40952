//go:build cgo

package cuda

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tune-dev/tune/backend"
)

// TestAddRMSNormMatchesCompositionCUDA checks that the fused kernel gives,
// bit for bit, what Add then RMSNorm give on the same backend (the stored
// sum normalized, the same row sums), on bf16 and fp32 buffers, with the
// sum apart and in place of a.
func TestAddRMSNormMatchesCompositionCUDA(t *testing.T) {
	b := openOrSkip(t)
	rng := rand.New(rand.NewPCG(5, 6))
	const rows, dim, eps = 5, 300, 1e-6
	n := rows * dim
	w := upload(b, b.Alloc(dim), randn(rng, dim, 1))
	av, cv := randn(rng, n, 1), randn(rng, n, 0.5)
	for _, alloc := range []func(int) backend.Buffer{b.AllocActivation, b.Alloc} {
		for _, inPlace := range []bool{false, true} {
			want, wantH := upload(b, alloc(n), av), alloc(n)
			b.Add(want, want, upload(b, alloc(n), cv), n)
			b.RMSNorm(wantH, want, w, rows, dim, eps)
			a, sum, h := upload(b, alloc(n), av), alloc(n), alloc(n)
			if inPlace {
				sum = a
			}
			b.AddRMSNorm(sum, h, a, upload(b, alloc(n), cv), w, rows, dim, eps)
			for _, pair := range [][2]backend.Buffer{{sum, want}, {h, wantH}} {
				got, exp := make([]float32, n), make([]float32, n)
				b.Download(got, pair[0])
				b.Download(exp, pair[1])
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(exp[i]) {
						t.Fatalf("%s buffers, in place %v: element %d is %v, Add and RMSNorm give %v",
							pair[0].(*buffer).dt, inPlace, i, got[i], exp[i])
					}
				}
			}
		}
	}
}

// TestWholeModelOpsRejectArgumentsCUDA: a bad argument panics with the op
// and what is wrong, before or from the library, and the backend goes on
// working.
func TestWholeModelOpsRejectArgumentsCUDA(t *testing.T) {
	b := openOrSkip(t)
	x, out := b.AllocActivation(64), b.AllocActivation(64)
	table := b.Alloc(40) // vocab 5 of dim 8
	for _, c := range []struct {
		name, want string
		call       func()
	}{
		{"dropout p 1", "Dropout (n=64 p=1 seed=3): tune_dropout: p = 1 (want 0 <= p < 1)",
			func() { b.Dropout(out, x, 1, 3, 64) }},
		{"dropout p NaN", "tune_dropout: p = nan (want 0 <= p < 1)",
			func() { b.Dropout(out, x, float32(math.NaN()), 3, 64) }},
		{"id past vocab", "Embedding id 5 at position 1 outside vocab [0, 5)",
			func() { b.Embedding(out, table, []int32{0, 5}, 8) }},
		{"negative id", "Embedding id -1 at position 0 outside vocab [0, 5)",
			func() { b.Embedding(out, table, []int32{-1}, 8) }},
		{"no frequency table", "RoPE: rows=2 heads=2 headDim=0 (want a frequency table, heads and rows)",
			func() { b.RoPE(x, []int32{0, 1}, 2, 2, nil) }},
		{"short positions", "RoPEBackward has 1 positions for 2 rows",
			func() { b.RoPEBackward(x, []int32{0}, 2, 2, backend.InvFreq(16, 1e6)) }},
		{"short buffer", "RMSNorm: out holds 64 elements, op needs 70",
			func() { b.RMSNorm(out, b.AllocActivation(70), x, 7, 10, 1e-6) }},
	} {
		if msg := panicMessage(c.call); !strings.Contains(msg, c.want) {
			t.Errorf("%s: %s, want a panic containing %q", c.name, msg, c.want)
		}
		b.Add(out, x, x, 64) // the backend goes on working
	}
}
