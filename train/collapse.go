package train

import (
	"fmt"
	"math"
)

// collapseWatch spots a run that has stopped learning. A learning rate far
// too high (1e6, say) saturates the model in one step: it then gives every
// token the same probability, so the loss sits at ln(vocab), and its
// gradients vanish, so no later step can move it. The run goes on without
// an error; the watch makes it say so once.
type collapseWatch struct {
	lnVocab float64 // the loss of a uniform prediction
	zero    int     // steps in a row, after the first, with a zero gradient norm
	warned  bool
}

const (
	// collapseSteps is how many zero-gradient steps in a row, after the
	// first step, make a collapse.
	collapseSteps = 3
	// collapseLossTol is how near ln(vocab) a loss with a zero gradient
	// must be to show a uniform prediction at once: a float32 model at
	// ln(vocab) lands within about 1e-6 of it, a trained one nats away.
	collapseLossTol = 1e-3
)

// see takes a step's loss and gradient norm (before clipping) and returns
// a warning the first time the run looks collapsed, else "".
func (w *collapseWatch) see(step int, loss, norm, lr float64) string {
	if w.warned {
		return ""
	}
	if step > 1 && norm == 0 {
		w.zero++
	} else {
		w.zero = 0
	}
	uniform := norm == 0 && math.Abs(loss-w.lnVocab) <= collapseLossTol
	if !uniform && w.zero < collapseSteps {
		return ""
	}
	w.warned = true
	if uniform {
		return fmt.Sprintf("training has collapsed at step %d: the loss is %.4f = ln(vocab), the model gives every token the same probability, and the gradient norm is 0, so nothing more will be learned; the learning rate (%g) is probably far too high",
			step, loss, lr)
	}
	return fmt.Sprintf("training has stalled at step %d: the gradient norm has been 0 for %d steps (loss %.4f), so nothing more will be learned; the learning rate (%g) is probably far too high",
		step, w.zero, loss, lr)
}
