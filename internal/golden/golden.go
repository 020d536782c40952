// Package golden reads the Hugging Face goldens in testdata/golden for
// the tests of every package, and holds the one tolerance check they are
// compared with. The goldens come from transformers 4.44.2 + peft 0.12.0
// in float32 on CPU (testdata/golden/README.md).
package golden

import (
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/decoder"
	_ "github.com/tune-dev/tune/llama" // the families of Cases, registered for decoder.Load
	_ "github.com/tune-dev/tune/qwen"
	"github.com/tune-dev/tune/safetensors"
)

// Cases are the golden cases, one folder each under testdata/golden.
var Cases = []string{"qwen2-tiny", "qwen2-tied", "llama3-tiny"}

// Dir is the folder of case name.
func Dir(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "golden", name)
}

// Case is one open golden.safetensors.
type Case struct {
	Dir string
	f   *safetensors.File
}

// Open opens case name for the test t.
func Open(t testing.TB, name string) *Case {
	t.Helper()
	dir := Dir(name)
	f, err := safetensors.Open(filepath.Join(dir, "golden.safetensors"))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return &Case{Dir: dir, f: f}
}

// Floats reads an F32 tensor and its shape.
func (c *Case) Floats(t testing.TB, name string) ([]float32, []int) {
	t.Helper()
	x, ok := c.f.Tensor(name)
	require.True(t, ok, "golden tensor %s", name)
	v, err := x.Float32s()
	require.NoError(t, err)
	return v, x.Shape
}

// Ints reads an I64 tensor as int32s, and its shape.
func (c *Case) Ints(t testing.TB, name string) ([]int32, []int) {
	t.Helper()
	x, ok := c.f.Tensor(name)
	require.True(t, ok, "golden tensor %s", name)
	v, err := x.Int64s()
	require.NoError(t, err)
	out := make([]int32, len(v))
	for i, e := range v {
		out[i] = int32(e)
	}
	return out, x.Shape
}

// Names lists the case's tensors.
func (c *Case) Names() []string { return c.f.Names() }

// Batch is the case's training batch.
func (c *Case) Batch(t testing.TB) *decoder.Batch {
	t.Helper()
	ids, shape := c.Ints(t, "input_ids")
	mask, _ := c.Ints(t, "attention_mask")
	labels, _ := c.Ints(t, "labels")
	return &decoder.Batch{IDs: ids, AttentionMask: mask, Labels: labels, Rows: shape[0], T: shape[1]}
}

// Tol is a per-tensor rule: max|got - want| <= Atol + Rtol*max|want|.
type Tol struct{ Atol, Rtol float64 }

// The README's recommended rules, which leave about 10x headroom over the
// float32-vs-float64 error measured there for every case.
var (
	Logits   = Tol{1e-5, 1e-5} // logits, base_logits, merged_logits, gen.logits
	Hidden   = Tol{1e-5, 1e-5} // hidden.*
	Loss     = Tol{1e-5, 0}    // loss, loss_per_example, token_loss, loss_after_5
	Losses5  = Tol{2e-5, 0}    // losses_5: steps 2..5 carry the optimizer's rounding
	Grad     = Tol{1e-6, 3e-5} // grad.*
	GradNorm = Tol{0, 3e-5}    // grad_norm_step1, grad_norms_5
	StepWell = Tol{2e-6, 0}    // step1.*, step5.* where |grad| >= 1e-6: catches a missing weight decay
	StepAll  = Tol{1e-4, 0}    // step1.*, step5.* on every element
	Merged   = Tol{1e-6, 0}    // merged.*
)

// Check fails t unless got is within tol of want (NaN never is), and
// returns the largest error.
func Check(t testing.TB, what string, got, want []float32, tol Tol) float64 {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: length", what)
	var maxWant, worst float64
	for _, w := range want {
		maxWant = math.Max(maxWant, math.Abs(float64(w)))
	}
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			t.Fatalf("%s: element %d is %v, want %v", what, i, got[i], want[i])
		}
		worst = math.Max(worst, d)
	}
	limit := tol.Atol + tol.Rtol*maxWant
	if !(worst <= limit) {
		t.Fatalf("%s: max |got-want| %.3g exceeds %.3g", what, worst, limit)
	}
	return worst
}

// CheckScalar is Check for one number.
func CheckScalar(t testing.TB, what string, got, want float64, tol Tol) {
	t.Helper()
	Check(t, what, []float32{float32(got)}, []float32{float32(want)}, tol)
}
