//go:build cgo

package cuda

import (
	"math"
	"strings"
	"testing"

	"github.com/tune-dev/tune/backend"
	"github.com/tune-dev/tune/backend/cpu"
)

// TestCrossEntropySumCUDA accumulates the loss of three chunks of bf16
// logits (rows 7, 1 and 33, an odd vocabulary, every third target ignored)
// on the device with CrossEntropySum, reads the two sums once, and checks
// them against the CPU backend's float64 losses of the same stored logits
// and an exact count. The sum buffer sits between sentinel guards.
func TestCrossEntropySumCUDA(t *testing.T) {
	g := openOrSkip(t)
	ref := cpu.New(0)
	const vocab, scale, guard = 1001, float32(0.25), 5
	whole := g.Alloc(2 + 2*guard)
	host := make([]float32, 2+2*guard)
	for i := range host {
		host[i] = -7
	}
	host[guard], host[guard+1] = 0, 0
	g.Upload(whole, host)
	sum := g.Slice(whole, guard, 2)
	var want, count float64
	for c, rows := range []int{7, 1, 33} {
		v := fill(rows*vocab, uint64(c+1), 6)
		logits := g.AllocActivation(rows * vocab)
		g.Upload(logits, v)
		g.Download(v, logits) // the stored bf16 values, for the reference
		targets := make([]int32, rows)
		for r := range targets {
			targets[r] = int32((r*389 + c*17) % vocab)
			if r%3 == 1 {
				targets[r] = backend.IgnoreIndex
			} else {
				count++
			}
		}
		g.CrossEntropySum(sum, logits, targets, rows, vocab, scale)
		rl := ref.Alloc(rows * vocab)
		ref.Upload(rl, v)
		loss := make([]float64, rows)
		ref.CrossEntropy(loss, rl, targets, rows, vocab)
		for _, l := range loss {
			want += float64(scale) * l
		}
		g.Free(logits)
	}
	g.Download(host, whole)
	for i := 0; i < guard; i++ {
		if host[i] != -7 || host[guard+2+i] != -7 {
			t.Fatalf("CrossEntropySum wrote outside its sum buffer: %v", host)
		}
	}
	got, gotCount := float64(host[guard]), float64(host[guard+1])
	if !(math.Abs(got-want) <= lossSumRtol*math.Abs(want)) || gotCount != count {
		t.Errorf("CrossEntropySum: loss sum %v, count %v; want %v and %v", got, gotCount, want, count)
	}
	t.Logf("loss sum %v (want %v, relative error %.2g), count %v", got, want, math.Abs(got-want)/want, gotCount)
}

// TestLinearNF4CUDA checks that Linear and LinearBackward with an NF4
// weight equal, bit for bit, the same calls with the weight dequantized to
// bf16 first (they dequantize it so), at an awkward shape.
func TestLinearNF4CUDA(t *testing.T) {
	g := openOrSkip(t)
	const rows, in, out = 7, 96, 33
	q := g.UploadNF4(randomNF4(out, in, 3))
	w := g.AllocActivation(out * in)
	g.Dequantize(w, q)
	x := upload(g, g.AllocActivation(rows*in), fill(rows*in, 4, 1))
	dy := upload(g, g.AllocActivation(rows*out), fill(rows*out, 5, 1))
	run := func(w backend.Buffer) (y, dx []float32) {
		yb, dxb := g.AllocActivation(rows*out), g.AllocActivation(rows*in)
		g.Linear(yb, x, w, nil, rows, in, out)
		g.LinearBackward(dxb, dy, w, rows, in, out)
		y, dx = make([]float32, rows*out), make([]float32, rows*in)
		g.Download(y, yb)
		g.Download(dx, dxb)
		return y, dx
	}
	y4, dx4 := run(q)
	y16, dx16 := run(w)
	for i := range y4 {
		if y4[i] != y16[i] || math.IsNaN(float64(y4[i])) {
			t.Fatalf("Linear with NF4: y[%d] = %v, with the dequantized weight %v", i, y4[i], y16[i])
		}
	}
	for i := range dx4 {
		if dx4[i] != dx16[i] || math.IsNaN(float64(dx4[i])) {
			t.Fatalf("LinearBackward with NF4: dx[%d] = %v, with the dequantized weight %v", i, dx4[i], dx16[i])
		}
	}
}

// TestCrossEntropyFullVocabCUDA runs cross-entropy and its backward (in
// place) on bf16 rows of Qwen2.5's whole vocabulary, 152064 (594 elements
// per thread of a block), against the CPU backend on the stored values.
func TestCrossEntropyFullVocabCUDA(t *testing.T) {
	g := openOrSkip(t)
	ref := cpu.New(0)
	const rows, vocab, scale = 3, 152064, float32(0.5)
	v := fill(rows*vocab, 21, 12)
	targets := []int32{151999, backend.IgnoreIndex, 7}
	logits := g.AllocActivation(rows * vocab)
	g.Upload(logits, v)
	g.Download(v, logits)
	rl := ref.Alloc(rows * vocab)
	ref.Upload(rl, v)

	loss, want := make([]float64, rows), make([]float64, rows)
	g.CrossEntropy(loss, logits, targets, rows, vocab)
	ref.CrossEntropy(want, rl, targets, rows, vocab)
	tol := cudaTolerances.CrossEntropy
	for r := range loss {
		if !(math.Abs(loss[r]-want[r]) <= tol.Atol+tol.Rtol*math.Abs(want[r])) {
			t.Errorf("CrossEntropy row %d: %v, want %v", r, loss[r], want[r])
		}
	}

	g.CrossEntropyBackward(logits, logits, targets, rows, vocab, scale)
	ref.CrossEntropyBackward(rl, rl, targets, rows, vocab, scale)
	got, wantGrad := make([]float32, rows*vocab), make([]float32, rows*vocab)
	g.Download(got, logits)
	ref.Download(wantGrad, rl)
	var maxWant, worst float64
	for i := range got {
		maxWant = math.Max(maxWant, math.Abs(float64(wantGrad[i])))
		if d := math.Abs(float64(got[i] - wantGrad[i])); !(d <= worst) {
			worst = d
		}
	}
	gt := activationTolerances.Grad
	if !(worst <= gt.Atol+gt.Rtol*maxWant) {
		t.Errorf("CrossEntropyBackward: max |got-want| = %v, max|want| %v", worst, maxWant)
	}
	t.Logf("losses %v (want %v); dlogits error %.2e of max|want| %.3g", loss, want, worst/maxWant, maxWant)
}

// TestLinearLossRejectArgumentsCUDA: type combinations the ops cannot run
// and bad targets come back as panics naming the op and what is wrong, and
// the backend goes on working.
func TestLinearLossRejectArgumentsCUDA(t *testing.T) {
	b := openOrSkip(t)
	x32, w32, y16, y32 := b.Alloc(12), b.Alloc(8), b.AllocActivation(6), b.Alloc(6)
	logits := b.AllocActivation(12)
	for _, c := range []struct {
		name, want string
		call       func()
	}{
		{"fp32 x, bf16 y", "Linear (rows=3 in=4 out=2): tune_linear: y is bf16 but x is fp32",
			func() { b.Linear(y16, x32, w32, nil, 3, 4, 2) }},
		{"bf16 dx from fp32 dy", "tune_linear_backward: dx is bf16 but dy is fp32",
			func() { b.LinearBackward(b.AllocActivation(12), y32, w32, 3, 4, 2) }},
		{"dy and x of two types", "tune_linear_weight_grad: dy is bf16 but x is fp32",
			func() { b.LinearWeightGrad(w32, y16, x32, 3, 4, 2) }},
		{"bf16 dw", "LinearWeightGrad: dw must be a float32 buffer",
			func() { b.LinearWeightGrad(b.AllocActivation(8), y16, b.AllocActivation(12), 3, 4, 2) }},
		{"target past the vocabulary", "CrossEntropy: target 4 of row 2 is outside the vocabulary [0, 4)",
			func() { b.CrossEntropy(make([]float64, 3), logits, []int32{0, backend.IgnoreIndex, 4}, 3, 4) }},
		{"negative target", "CrossEntropyBackward: target -1 of row 0 is outside the vocabulary [0, 4)",
			func() { b.CrossEntropyBackward(logits, logits, []int32{-1, 0, 0}, 3, 4, 1) }},
		{"dlogits overlapping logits", "tune_cross_entropy_backward: dlogits overlaps logits without being them",
			func() { b.CrossEntropyBackward(b.Slice(logits, 1, 11), logits, []int32{0, 1}, 2, 4, 1) }},
	} {
		if msg := panicMessage(c.call); !strings.Contains(msg, c.want) {
			t.Errorf("%s: %s, want a panic containing %q", c.name, msg, c.want)
		}
		b.Linear(y32, x32, w32, nil, 3, 4, 2) // the backend goes on working
	}
}
