package serve

import "testing"

// TestAnswerStops: the text ends before the earliest stop sequence,
// whichever piece of decoded text completes it, and a stop that spans
// pieces is found.
func TestAnswerStops(t *testing.T) {
	for _, c := range []struct {
		stops, pieces []string
		want          string
		stopped       bool
	}{
		{[]string{"bc", "xyzw"}, []string{"a", "b", "cxy"}, "a", true},
		{[]string{"cd", "bcdx"}, []string{"ab", "cdx"}, "a", true},      // the longer stop starts first
		{[]string{"bcdx", "cd"}, []string{"ab", "cd", "x"}, "ab", true}, // the shorter one is complete first
		{[]string{"end"}, []string{"e", "n", "d", "more"}, "", true},
		{[]string{"zz"}, []string{"ab", "cd"}, "abcd", false},
	} {
		a := &answer{stops: c.stops}
		for _, p := range c.pieces {
			if !a.stopped {
				a.append(p)
			}
		}
		if a.text != c.want || a.stopped != c.stopped {
			t.Errorf("stops %q, pieces %q: text %q (stopped %v), want %q (stopped %v)", c.stops, c.pieces, a.text, a.stopped, c.want, c.stopped)
		}
	}
}
