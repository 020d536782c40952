package backend_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/quant"
)

// The compositions run on the CPU backend, which fuses nothing.

// loraCase is one adapted layer with random weights, adapter and input.
type loraCase struct {
	s                 backend.LoRAShape
	x, w, bias, a, bm []float32
}

var loraShapes = []struct {
	rows, in, out, r int
	dropout          float32
}{
	{1, 7, 5, 3, 0},
	{1, 7, 5, 3, 0.3},
	{4, 3, 6, 2, 0},
	{4, 3, 6, 2, 0.5},
	{3, 16, 9, 1, 0.1},
	{6, 9, 17, 4, 0.05},
}

func uniform(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return v
}

func newLoRACase(seed uint64, rows, in, out, r int, dropout float32) *loraCase {
	rng := rand.New(rand.NewPCG(seed, 1))
	return &loraCase{
		s: backend.LoRAShape{Rows: rows, In: in, Out: out, Rank: r, Scale: 1.75, Dropout: dropout, DropoutSeed: seed * 7},
		x: uniform(rng, rows*in), w: uniform(rng, out*in), bias: uniform(rng, out), a: uniform(rng, r*in), bm: uniform(rng, out*r),
	}
}

func (c *loraCase) name() string {
	s := c.s
	return fmt.Sprintf("%dx%d→%d r%d p%v", s.Rows, s.In, s.Out, s.Rank, s.Dropout)
}

func upload(b backend.Backend, v []float32) backend.Buffer {
	buf := b.Alloc(len(v))
	b.Upload(buf, v)
	return buf
}

func download(b backend.Backend, buf backend.Buffer) []float32 {
	v := make([]float32, buf.Len())
	b.Download(v, buf)
	return v
}

// scratch allocates the composition's scratch for shape s.
func scratch(b backend.Backend, s backend.LoRAShape) backend.LoRAScratch {
	return backend.LoRAScratch{Rank1: b.Alloc(s.Rows * s.Rank), Rank2: b.Alloc(s.Rows * s.Rank), Wide: b.Alloc(s.Rows * max(s.In, s.Out))}
}

// forward runs backend.LoRALinearForward on c.
func (c *loraCase) forward(b backend.Backend) []float32 {
	y := b.Alloc(c.s.Rows * c.s.Out)
	backend.LoRALinearForward(b, y, upload(b, c.x), upload(b, c.w), upload(b, c.bias), upload(b, c.a), upload(b, c.bm), c.s, scratch(b, c.s))
	return download(b, y)
}

// mask is c's dropout mask (nil without dropout).
func (c *loraCase) mask() []float32 {
	if c.s.Dropout == 0 {
		return nil
	}
	m := make([]float32, c.s.Rows*c.s.In)
	backend.DropoutMask(m, float64(c.s.Dropout), c.s.DropoutSeed)
	return m
}

// TestLoRALinearForwardReference checks the forward composition against
// an independent float64 computation through the effective weight
// W + s·B·A on the dropped input's adapter path:
// y = x·Wᵀ + bias + (x⊙mask)·(s·B·A)ᵀ.
func TestLoRALinearForwardReference(t *testing.T) {
	b := cpu.New(1)
	for _, sh := range loraShapes {
		c := newLoRACase(1, sh.rows, sh.in, sh.out, sh.r, sh.dropout)
		t.Run(c.name(), func(t *testing.T) {
			s, mask := c.s, c.mask()
			got := c.forward(b)
			for row := range s.Rows {
				for o := range s.Out {
					want := float64(c.bias[o])
					for i := range s.In {
						var delta float64
						for k := range s.Rank {
							delta += float64(c.bm[o*s.Rank+k]) * float64(c.a[k*s.In+i])
						}
						xi := float64(c.x[row*s.In+i])
						xd := xi
						if mask != nil {
							xd *= float64(mask[row*s.In+i])
						}
						want += xi*float64(c.w[o*s.In+i]) + xd*float64(s.Scale)*delta
					}
					if d := math.Abs(float64(got[row*s.Out+o]) - want); !(d <= 1e-5*(1+math.Abs(want))) {
						t.Errorf("y[%d,%d] = %v, want %v", row, o, got[row*s.Out+o], want)
					}
				}
			}
		})
	}
}

// TestLoRALinearBackwardFiniteDifferences checks the backward composition
// against central differences of L = Σ g⊙y, y the forward composition,
// over every element of A, B and x. y is linear in each of them, so the
// difference has no truncation error and a large step can be used; the
// step is measured as the float32 difference actually applied. dA and dB
// start at 1 to show they accumulate; dx is overwritten.
func TestLoRALinearBackwardFiniteDifferences(t *testing.T) {
	b := cpu.New(1)
	for _, sh := range loraShapes {
		c := newLoRACase(2, sh.rows, sh.in, sh.out, sh.r, sh.dropout)
		t.Run(c.name(), func(t *testing.T) {
			s := c.s
			g := uniform(rand.New(rand.NewPCG(3, 4)), s.Rows*s.Out)
			loss := func() float64 {
				var l float64
				for j, y := range c.forward(b) {
					l += float64(g[j]) * float64(y)
				}
				return l
			}
			da, db, dx := upload(b, ones(len(c.a))), upload(b, ones(len(c.bm))), upload(b, ones(len(c.x)))
			backend.LoRALinearBackward(b, dx, da, db, upload(b, g), upload(b, c.x), upload(b, c.w), upload(b, c.a), upload(b, c.bm), s, scratch(b, s))
			for _, v := range []struct {
				name   string
				param  []float32
				grad   []float32
				offset float64
			}{{"A", c.a, download(b, da), 1}, {"B", c.bm, download(b, db), 1}, {"x", c.x, download(b, dx), 0}} {
				for j := range v.param {
					orig := v.param[j]
					v.param[j] = orig + 0.5
					hi, up := loss(), v.param[j]
					v.param[j] = orig - 0.5
					lo, down := loss(), v.param[j]
					v.param[j] = orig
					fd := (hi - lo) / float64(up-down)
					if d := math.Abs(float64(v.grad[j]) - v.offset - fd); !(d <= 1e-5*(1+math.Abs(fd))) {
						t.Errorf("d loss / d %s[%d] = %v, finite differences give %v", v.name, j, float64(v.grad[j])-v.offset, fd)
					}
				}
			}
		})
	}
}

func ones(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// TestLoRALinearBackwardWithoutDX checks that skipping the input gradient
// leaves the adapter's gradients unchanged.
func TestLoRALinearBackwardWithoutDX(t *testing.T) {
	b := cpu.New(1)
	c := newLoRACase(5, 3, 7, 5, 2, 0.3)
	s := c.s
	dy := uniform(rand.New(rand.NewPCG(6, 7)), s.Rows*s.Out)
	var grads [2][2][]float32
	for i, dx := range []backend.Buffer{nil, b.Alloc(s.Rows * s.In)} {
		da, db := b.Alloc(len(c.a)), b.Alloc(len(c.bm))
		backend.LoRALinearBackward(b, dx, da, db, upload(b, dy), upload(b, c.x), upload(b, c.w), upload(b, c.a), upload(b, c.bm), s, scratch(b, s))
		grads[i] = [2][]float32{download(b, da), download(b, db)}
	}
	for f, name := range []string{"dA", "dB"} {
		for j := range grads[0][f] {
			if grads[0][f][j] != grads[1][f][j] {
				t.Fatalf("%s[%d] is %v without dx, %v with it", name, j, grads[0][f][j], grads[1][f][j])
			}
		}
	}
}

// TestLoRALinearNF4 checks that the composition dequantizes an NF4 weight
// into LoRAScratch.Deq: it gives exactly what the float weight holding the
// same dequantized values gives, forward and backward.
func TestLoRALinearNF4(t *testing.T) {
	b := cpu.New(1)
	c := newLoRACase(8, 5, 64, 24, 3, 0.1)
	s := c.s
	q, err := quant.Quantize(c.w, []int{s.Out, s.In}, 64, true)
	if err != nil {
		t.Fatal(err)
	}
	q.Dequantize(c.w)
	dy := upload(b, uniform(rand.New(rand.NewPCG(9, 10)), s.Rows*s.Out))
	var out [2][][]float32
	for i, nf4 := range []bool{false, true} {
		w, sc := upload(b, c.w), scratch(b, s)
		if nf4 {
			w, sc.Deq = b.UploadNF4(q), b.Alloc(s.Out*s.In)
		}
		x, a, bm := upload(b, c.x), upload(b, c.a), upload(b, c.bm)
		y, dx, da, db := b.Alloc(s.Rows*s.Out), b.Alloc(s.Rows*s.In), b.Alloc(len(c.a)), b.Alloc(len(c.bm))
		backend.LoRALinearForward(b, y, x, w, nil, a, bm, s, sc)
		backend.LoRALinearBackward(b, dx, da, db, dy, x, w, a, bm, s, sc)
		for _, r := range []backend.Buffer{y, dx, da, db} {
			out[i] = append(out[i], download(b, r))
		}
	}
	for k, name := range []string{"y", "dx", "dA", "dB"} {
		for j := range out[0][k] {
			if out[0][k][j] != out[1][k][j] {
				t.Fatalf("%s[%d]: %v with the float weight, %v with NF4", name, j, out[0][k][j], out[1][k][j])
			}
		}
	}
}

// TestAdamWClippedComposition checks the clipping coefficient of the
// composition: torch's min(1, max/(norm+1e-6)) in float32 when the norm
// exceeds maxNorm, 1 below it and with maxNorm 0 (no clipping), and the
// norm returned in every case.
func TestAdamWClippedComposition(t *testing.T) {
	b := cpu.New(1)
	rng := rand.New(rand.NewPCG(11, 12))
	n := 300
	p, g := uniform(rng, n), uniform(rng, n)
	var norm float64
	for _, v := range g {
		norm += float64(v) * float64(v)
	}
	norm = math.Sqrt(norm) // about 10
	for _, c := range []struct {
		maxNorm float64
		scale   float32
	}{{0, 1}, {100, 1}, {1, 1 / (float32(norm) + 1e-6)}} {
		step := backend.AdamWStep{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Step: 1, GradScale: 3}
		pc, mc, vc := upload(b, p), b.Alloc(n), b.Alloc(n)
		got := backend.AdamWClipped(b, pc, upload(b, g), mc, vc, n, step, c.maxNorm)
		if d := math.Abs(got - norm); !(d <= 1e-12*norm) {
			t.Errorf("maxNorm %v: norm %v, want %v", c.maxNorm, got, norm)
		}
		step.GradScale = c.scale
		pr, mr, vr := upload(b, p), b.Alloc(n), b.Alloc(n)
		b.AdamW(pr, upload(b, g), mr, vr, n, step)
		for _, pair := range [][2]backend.Buffer{{pc, pr}, {mc, mr}, {vc, vr}} {
			x, y := download(b, pair[0]), download(b, pair[1])
			for j := range x {
				if x[j] != y[j] {
					t.Fatalf("maxNorm %v: element %d is %v, AdamW with GradScale %v gives %v", c.maxNorm, j, x[j], c.scale, y[j])
				}
			}
		}
	}
}

// TestQuantizeNF4Composed checks QuantizeNF4's composition on the CPU,
// which has no such op: the buffer dequantizes to exactly what
// quant.Quantize's tensor does, and quant's error comes back.
func TestQuantizeNF4Composed(t *testing.T) {
	b := cpu.New(1)
	rng := rand.New(rand.NewPCG(5, 6))
	w := make([]float32, 3*37)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	want, err := quant.Quantize(w, []int{3, 37}, 32, true)
	if err != nil {
		t.Fatal(err)
	}
	wv := make([]float32, len(w))
	want.Dequantize(wv)
	buf := b.Alloc(len(w))
	b.Upload(buf, w)
	q, err := backend.QuantizeNF4(b, buf, []int{3, 37}, 32)
	if err != nil {
		t.Fatal(err)
	}
	out := b.Alloc(len(w))
	b.Dequantize(out, q)
	got := make([]float32, len(w))
	b.Download(got, out)
	for i := range got {
		if got[i] != wv[i] {
			t.Fatalf("element %d = %v, want %v", i, got[i], wv[i])
		}
	}
	if _, err := backend.QuantizeNF4(b, buf, []int{3, 37}, 48); err == nil {
		t.Fatal("block size 48: no error")
	}
}

// declaresAddRMSNorm is the CPU backend declaring the fused AddRMSNorm,
// which it runs as the composition while counting its calls.
type declaresAddRMSNorm struct {
	*cpu.Backend
	calls *int
}

func (d declaresAddRMSNorm) Ops() backend.OpSet {
	return d.Backend.Ops() | backend.Set(backend.OpAddRMSNorm)
}

func (d declaresAddRMSNorm) AddRMSNorm(sum, h, a, b, w backend.Buffer, rows, dim int, eps float32) {
	*d.calls++
	d.Backend.Add(sum, a, b, rows*dim)
	d.Backend.RMSNorm(h, sum, w, rows, dim, eps)
}

// TestAddRMSNormComposition checks that the helper runs Add then RMSNorm on
// a backend without the fused op (the sum in place of a, as a residual
// stream is updated, and apart), bit for bit, and the fused op on one that
// declares it.
func TestAddRMSNormComposition(t *testing.T) {
	b := cpu.New(1)
	if got, want := backend.AddRMSNormOps(b), backend.Set(backend.OpAdd, backend.OpRMSNorm); got != want {
		t.Errorf("AddRMSNormOps(cpu) = %v, want %v", got, want)
	}
	rng := rand.New(rand.NewPCG(13, 14))
	const rows, dim, eps = 3, 10, 1e-6
	x, delta, w := uniform(rng, rows*dim), uniform(rng, rows*dim), uniform(rng, dim)
	want, wantH := upload(b, x), b.Alloc(rows*dim)
	b.Add(want, want, upload(b, delta), rows*dim)
	b.RMSNorm(wantH, want, upload(b, w), rows, dim, eps)
	for _, inPlace := range []bool{true, false} {
		a, sum, h := upload(b, x), b.Alloc(rows*dim), b.Alloc(rows*dim)
		if inPlace {
			sum = a
		}
		backend.AddRMSNorm(b, sum, h, a, upload(b, delta), upload(b, w), rows, dim, eps)
		for _, pair := range [][2]backend.Buffer{{sum, want}, {h, wantH}} {
			got, exp := download(b, pair[0]), download(b, pair[1])
			for j := range got {
				if got[j] != exp[j] {
					t.Fatalf("in place %v: element %d is %v, Add and RMSNorm give %v", inPlace, j, got[j], exp[j])
				}
			}
		}
	}
	calls := 0
	f := declaresAddRMSNorm{cpu.New(1), &calls}
	if got := backend.AddRMSNormOps(f); got != backend.Set(backend.OpAddRMSNorm) {
		t.Errorf("AddRMSNormOps(fused) = %v, want {AddRMSNorm}", got)
	}
	backend.AddRMSNorm(f, f.Alloc(dim), f.Alloc(dim), upload(f.Backend, x), upload(f.Backend, delta), upload(f.Backend, w), 1, dim, eps)
	if calls != 1 {
		t.Errorf("the helper called the fused op %d times, want 1", calls)
	}
}
