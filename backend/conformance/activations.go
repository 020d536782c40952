package conformance

import (
	"math"

	"github.com/tune-dev/tune/backend"
)

// The helpers of the checks whose activations TestActivations moves to
// AllocActivation's storage. Outside that mode they are input, output,
// inPlace and read.

func (h *harness) actAlloc(n int) backend.Buffer {
	if h.act {
		return h.b.AllocActivation(n)
	}
	return h.b.Alloc(n)
}

// actInput places vals in an activation buffer with NaN guards and returns
// it with the values it holds, widened, as the oracle must see them.
func (h *harness) actInput(vals []float32) (backend.Buffer, []float64) {
	return h.storedIn(h.actAlloc, vals)
}

// storedIn places vals in a buffer from alloc with NaN guards and returns
// it with the values it holds, widened.
func (h *harness) storedIn(alloc func(int) backend.Buffer, vals []float32) (backend.Buffer, []float64) {
	g := h.allocIn(alloc, vals, float32(math.NaN()))
	got := make([]float32, len(vals))
	h.b.Download(got, g.view)
	return g.view, widen(got)
}

// weightInput is actInput for the weight (bias, norm weight, embedding
// table) of case i: for even i in the activations' storage, for odd i in
// the other one, so that both kinds of weight meet both kinds of
// activations (on the GPU: a bfloat16 weight store beside float32
// activations, or a float32 weight the op rounds beside bfloat16 ones,
// which the oracle does not see).
func (h *harness) weightInput(vals []float32, i int) (backend.Buffer, []float64) {
	switch {
	case i%2 == 0:
		return h.actInput(vals)
	case h.act:
		return h.input(vals), widen(vals)
	}
	return h.storedIn(h.b.AllocActivation, vals)
}

// actOutput is output in activation storage.
func (h *harness) actOutput(n int) guarded {
	poison := make([]float32, n)
	for i := range poison {
		poison[i] = float32(math.NaN())
	}
	return h.allocIn(h.actAlloc, poison, sentinel)
}

// actInPlace is inPlace in activation storage; it returns the values the
// buffer holds too.
func (h *harness) actInPlace(vals []float32) (guarded, []float64) {
	g := h.allocIn(h.actAlloc, vals, sentinel)
	got := make([]float32, len(vals))
	h.b.Download(got, g.view)
	return g, widen(got)
}

// actRead is read for an activation buffer, whose storage may round the
// sentinel of its guards.
func (h *harness) actRead(op string, g guarded) []float32 {
	h.t.Helper()
	return h.readStoredIn(h.actAlloc, op, g)
}

// readStoredIn is read for a buffer from alloc: its guards must hold what
// the sentinel reads back as in alloc's storage.
func (h *harness) readStoredIn(alloc func(int) backend.Buffer, op string, g guarded) []float32 {
	h.t.Helper()
	probe := alloc(1)
	h.b.Upload(probe, []float32{sentinel})
	stored := make([]float32, 1)
	h.b.Download(stored, probe)
	h.b.Free(probe)
	host := make([]float32, g.n+2*guard)
	h.b.Download(host, g.whole)
	for i := 0; i < guard; i++ {
		if host[i] != stored[0] || host[guard+g.n+i] != stored[0] {
			h.t.Fatalf("%s: wrote outside its output (guard zone changed)", op)
		}
	}
	return host[guard : guard+g.n]
}
