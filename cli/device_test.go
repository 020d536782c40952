package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestSelectDevice(t *testing.T) {
	for _, c := range []struct {
		device, line, err string
	}{
		{"cpu", "tune: running on the CPU, cpu", ""},
		{"auto", "tune: running on the CPU, cpu", ""},
		{"cuda", "", "--device cuda:"},
		{"tpu", "", `--device "tpu": want auto, cpu or cuda`},
	} {
		var w bytes.Buffer
		b, err := selectDevice(c.device, 1, &w)
		t.Logf("%s: %q %v", c.device, w.String(), err)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || b != nil {
				t.Errorf("%s: %v", c.device, err)
			}
			continue
		}
		if err != nil || b == nil || !strings.HasPrefix(w.String(), c.line) || strings.Count(w.String(), "\n") != 1 {
			t.Errorf("%s: %q, %v", c.device, w.String(), err)
		}
	}
}
