package runlog

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock makes step s happen s seconds after t0.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressPlain(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, 100, false)
	if p.Every != 5 {
		t.Errorf("Every = %d, want 100/20", p.Every)
	}
	p.Every = 10
	clk := &fakeClock{t: time.Unix(1000, 0)}
	p.now = clk.now
	for s := 1; s <= 100; s++ {
		clk.t = time.Unix(1000+int64(s), 0)
		p.Update(s, 2-float64(s)/100, 5000)
	}
	p.Finish()
	p.Update(101, 0, 0) // ignored after Finish
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	if lines[0] != "step 1/100 loss 1.9900 5000 tok/s ETA ?" {
		t.Errorf("first line %q", lines[0])
	}
	// 9 s for the 9 steps after the first: 1 s/step, 90 steps left.
	if lines[1] != "step 10/100 loss 1.9000 5000 tok/s ETA 1m30s" {
		t.Errorf("second line %q", lines[1])
	}
	if lines[10] != "step 100/100 loss 1.0000 5000 tok/s ETA 0s" {
		t.Errorf("last line %q", lines[10])
	}
	if strings.Contains(buf.String(), "\r") || strings.Contains(buf.String(), "|") {
		t.Error("plain mode drew a bar")
	}
}

func TestProgressPlainFinishWritesLast(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, 0, false) // unknown total
	p.Every = 10
	for s := 21; s <= 33; s++ { // a resumed run
		p.Update(s, 0.25, 0)
	}
	p.Finish()
	want := "step 21 loss 0.2500\nstep 30 loss 0.2500\nstep 33 loss 0.2500\n"
	if buf.String() != want {
		t.Errorf("output %q, want %q", buf.String(), want)
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, 100, true)
	for s := 1; s <= 50; s++ {
		p.Update(s, 1.2345, 4321)
	}
	out := buf.String()
	for _, want := range []string{"step 50/100", "loss 1.2345", "4321 tok/s", "ETA", "50%", "\r"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q:\n%q", want, out)
		}
	}
	p.Update(100, 0.5, 4000)
	p.Finish()
	out = buf.String()
	if !strings.Contains(out, "100%") || !strings.Contains(out, "step 100/100") || !strings.HasSuffix(out, "\n") {
		t.Errorf("finished bar output %q", out[max(0, len(out)-200):])
	}
	// Steps past total are clamped, not an error.
	p2 := NewProgress(&bytes.Buffer{}, 10, true)
	p2.Update(12, 1, 1)
	p2.Finish()
}

func TestProgressNilWriter(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		p := NewProgress(nil, 10, enabled)
		p.Update(1, 1, 1)
		p.Finish()
	}
	var buf bytes.Buffer
	if IsTerminal(&buf) {
		t.Error("a buffer is not a terminal")
	}
}
