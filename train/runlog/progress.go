package runlog

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress reports the training loop's progress: step/total, the last
// loss, the throughput in tokens per second and the estimated time left.
//
// Enabled (an interactive terminal), it draws a one-line bar with
// schollz/progressbar, redrawn in place on every Update:
//
//	42% |████████████████                        | step 42/100 loss 1.2345 5321 tok/s ETA 1m3s
//
// Disabled (output is a file or a pipe, or a quiet run), it draws no bar
// and instead writes a plain line
//
//	step 42/100 loss 1.2345 5321 tok/s ETA 1m3s
//
// on the first Update, every Every steps and on the last step; with a nil
// writer it writes nothing at all. The ETA is measured from the first
// Update seen, so a resumed run (whose first step is not 1) estimates
// from its own pace. Methods are safe for concurrent use.
type Progress struct {
	// Every is the step interval of the plain lines written when the bar
	// is disabled; NewProgress sets it to a twentieth of total (at least
	// 1; 10 when total is unknown).
	Every int

	mu        sync.Mutex
	w         io.Writer
	total     int
	bar       *progressbar.ProgressBar
	started   bool
	firstStep int
	firstTime time.Time
	lastStep  int
	lastText  string
	lastLine  int // step of the last plain line written
	finished  bool
	now       func() time.Time
}

// NewProgress returns a progress reporter for a run of total optimizer
// steps writing to w. enabled selects the bar (see Progress); pass
// IsTerminal(w) for the usual choice. A total of 0 or less means unknown:
// no bar, and plain lines without an ETA.
func NewProgress(w io.Writer, total int, enabled bool) *Progress {
	p := &Progress{w: w, total: total, now: time.Now, lastLine: -1}
	switch {
	case total > 0:
		p.Every = (total + 19) / 20
	default:
		p.Every = 10
	}
	if enabled && w != nil && total > 0 {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetPredictTime(false), // our ETA is resume-aware
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetWidth(40),
		)
	}
	return p
}

// IsTerminal reports whether w is an interactive terminal (a character
// device), the usual condition for drawing a bar.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Update reports that optimizer step step (1-based: the number of steps
// done) finished with loss and a throughput of tokensPerSec.
func (p *Progress) Update(step int, loss float64, tokensPerSec float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil || p.finished {
		return
	}
	now := p.now()
	if !p.started {
		p.started = true
		// The pace is measured from the first step seen: when that step
		// started is unknown, so it does not count.
		p.firstStep, p.firstTime = step, now
	}
	p.lastStep = step
	text := p.status(step, loss, tokensPerSec, now)
	p.lastText = text
	if p.bar != nil {
		s := step
		if s > p.total {
			s = p.total
		}
		if s < 0 {
			s = 0
		}
		// Describe redraws; Set redraws again only if the percentage
		// changed, so the last frame always has both the new text and
		// the new count.
		p.bar.Describe(text)
		_ = p.bar.Set(s)
		return
	}
	every := p.Every
	if every < 1 {
		every = 1
	}
	if p.lastLine < 0 || step%every == 0 || (p.total > 0 && step >= p.total) {
		if step != p.lastLine {
			fmt.Fprintln(p.w, text)
			p.lastLine = step
		}
	}
}

// status formats "step S/T loss L R tok/s ETA D".
func (p *Progress) status(step int, loss, tokensPerSec float64, now time.Time) string {
	var b strings.Builder
	if p.total > 0 {
		fmt.Fprintf(&b, "step %d/%d", step, p.total)
	} else {
		fmt.Fprintf(&b, "step %d", step)
	}
	fmt.Fprintf(&b, " loss %.4f", loss)
	if tokensPerSec > 0 && !math.IsInf(tokensPerSec, 0) {
		fmt.Fprintf(&b, " %.0f tok/s", tokensPerSec)
	}
	if p.total > 0 {
		b.WriteString(" ETA ")
		done := step - p.firstStep
		switch {
		case step >= p.total:
			b.WriteString("0s")
		case done <= 0 || !now.After(p.firstTime):
			b.WriteString("?")
		default:
			per := now.Sub(p.firstTime).Seconds() / float64(done)
			eta := time.Duration(per * float64(p.total-step) * float64(time.Second))
			b.WriteString(eta.Round(time.Second).String())
		}
	}
	return b.String()
}

// Finish ends the report: the bar's line is ended (the bar is filled
// only if the last step reached total); in plain mode the last Update is
// written if it was not yet. Later Updates are ignored.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil || p.finished {
		return
	}
	p.finished = true
	if !p.started {
		return
	}
	if p.bar != nil {
		if p.lastStep >= p.total {
			_ = p.bar.Finish()
		} else {
			_ = p.bar.Exit() // stopped early: keep the bar where it is
		}
		fmt.Fprintln(p.w)
		return
	}
	if p.lastLine != p.lastStep {
		fmt.Fprintln(p.w, p.lastText)
		p.lastLine = p.lastStep
	}
}
