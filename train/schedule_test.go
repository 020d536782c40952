package train

import (
	"math"
	"strings"
	"testing"
)

// Expected values are computed by hand from transformers' lr lambdas
// (optimization.py), W = warmup steps, T = total steps, k = step:
//
//	warmup (all but constant), k < W: k / max(1, W)
//	linear:                 max(0, (T-k) / max(1, T-W))
//	cosine:                 max(0, 0.5*(1 + cos(pi*2*0.5*p))), p = (k-W)/max(1, T-W)
//	constant_with_warmup:   1
//	constant:               1 (no warmup at all)
func TestScheduleLR(t *testing.T) {
	type at struct {
		step int
		want float64
		why  string
	}
	cases := []struct {
		kind        string
		base        float64
		warmup      int
		ratio       float64
		total       int
		wantWarmup  int
		checkpoints []at
	}{
		{"linear", 1, 2, 0, 10, 2, []at{
			{0, 0, "k<W: 0/max(1,2)"},
			{1, 0.5, "k<W: 1/2"},
			{2, 1, "(10-2)/max(1,10-2) = 8/8"},
			{6, 0.5, "(10-6)/8"},
			{9, 0.125, "(10-9)/8"},
			{10, 0, "(10-10)/8"},
			{12, 0, "max(0, (10-12)/8)"},
		}},
		{"linear", 2e-4, 2, 0, 10, 2, []at{
			{1, 1e-4, "2e-4 * 1/2"},
			{6, 1e-4, "2e-4 * (10-6)/8"},
		}},
		{"linear", 1, 0, 0, 4, 0, []at{
			{0, 1, "no warmup: (4-0)/max(1,4-0)"},
			{1, 0.75, "(4-1)/4"},
			{3, 0.25, "(4-3)/4"},
		}},
		{"cosine", 1, 2, 0, 10, 2, []at{
			{0, 0, "k<W: 0/2"},
			{1, 0.5, "k<W: 1/2"},
			{2, 1, "p=0: 0.5*(1+cos 0)"},
			{4, 0.5 * (1 + math.Sqrt2/2), "p=2/8: 0.5*(1+cos(pi/4))"},
			{6, 0.5, "p=4/8: 0.5*(1+cos(pi/2))"},
			{8, 0.5 * (1 - math.Sqrt2/2), "p=6/8: 0.5*(1+cos(3pi/4))"},
			{10, 0, "p=1: 0.5*(1+cos pi)"},
			{14, 0.5, "p=1.5: 0.5*(1+cos(3pi/2)), not clamped past T as in transformers"},
		}},
		{"constant_with_warmup", 1, 4, 0, 0, 4, []at{
			{0, 0, "k<W: 0/max(1.0,4)"},
			{1, 0.25, "1/4"},
			{3, 0.75, "3/4"},
			{4, 1, "k>=W: 1"},
			{1000, 1, "1"},
		}},
		{"constant", 3e-5, 4, 0.5, 10, 0, []at{
			{0, 3e-5, "constant ignores warmup: 1"},
			{7, 3e-5, "1"},
		}},
		// Warmup from the ratio: ceil(ratio * total), float64 product as
		// in Python: 100*0.07 = 7.000000000000001, math.ceil gives 8.
		{"linear", 1, 0, 0.07, 100, 8, []at{
			{2, 0.25, "k<W: 2/8"},
			{8, 1, "(100-8)/92"},
			{54, 0.5, "(100-54)/92"},
		}},
		{"linear", 1, 0, 0.1, 30, 3, []at{
			{1, 1.0 / 3, "30*0.1 = 3.0 exactly; k<W: 1/3"},
			{3, 1, "(30-3)/27"},
		}},
		{"cosine", 1, 0, 0.25, 100, 25, []at{
			{5, 0.2, "ceil(25.0)=25; 5/25"},
			{25, 1, "p=0"},
		}},
		// Steps win over the ratio when positive.
		{"cosine", 1, 5, 0.5, 100, 5, []at{
			{1, 0.2, "1/5"},
			{100, 0, "p=1"},
		}},
	}
	for _, c := range cases {
		s, err := NewSchedule(c.kind, c.base, c.warmup, c.ratio, c.total)
		if err != nil {
			t.Fatalf("NewSchedule(%q, %v, %d, %v, %d): %v", c.kind, c.base, c.warmup, c.ratio, c.total, err)
		}
		if s.WarmupSteps != c.wantWarmup {
			t.Errorf("%s warmup=%d ratio=%v total=%d: WarmupSteps = %d, want %d", c.kind, c.warmup, c.ratio, c.total, s.WarmupSteps, c.wantWarmup)
		}
		for _, a := range c.checkpoints {
			got := s.LR(a.step)
			if math.Abs(got-a.want) > 1e-12*math.Max(1, math.Abs(a.want)) {
				t.Errorf("%s W=%d T=%d: LR(%d) = %.17g, want %.17g (%s)", c.kind, s.WarmupSteps, s.TotalSteps, a.step, got, a.want, a.why)
			}
		}
	}
}

func TestScheduleErrors(t *testing.T) {
	_, err := NewSchedule("polynomial", 1, 0, 0, 10)
	if err == nil {
		t.Fatal("unknown kind: no error")
	}
	for _, k := range ScheduleKinds {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not list %q", err, k)
		}
	}
	bad := []struct {
		kind   string
		base   float64
		warmup int
		ratio  float64
		total  int
	}{
		{"linear", 1, 0, 0, 0},    // linear needs total
		{"cosine", 1, 0, 0, 0},    // cosine needs total
		{"linear", 1, -1, 0, 10},  // negative warmup
		{"linear", 1, 0, 1.5, 10}, // ratio > 1
		{"linear", 1, 0, -0.1, 10},
		{"linear", -1, 0, 0, 10},
		{"linear", math.NaN(), 0, 0, 10},
		{"constant", 1, 0, 0, -1},
	}
	for _, b := range bad {
		if _, err := NewSchedule(b.kind, b.base, b.warmup, b.ratio, b.total); err == nil {
			t.Errorf("NewSchedule(%q, %v, %d, %v, %d): no error", b.kind, b.base, b.warmup, b.ratio, b.total)
		}
	}
	// Schedules that need no total accept 0.
	for _, k := range []string{"constant", "constant_with_warmup"} {
		if _, err := NewSchedule(k, 1, 3, 0, 0); err != nil {
			t.Errorf("%s with total 0: %v", k, err)
		}
	}
}
