package cli

import (
	"runtime/debug"
	"testing"
)

func TestDescribeVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, c := range []struct {
		name, version, commit string
		bi                    *debug.BuildInfo
		want                  string
	}{
		{"make build", "v0.2.0-3-gabc1234", "abc1234def", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"v0.2.0-3-gabc1234 (commit abc1234def, go1.26.8)"},
		{"stamp wins over the toolchain's", "v0.2.0", "abc", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-x"}, Settings: vcs("fff", "false")},
			"v0.2.0 (commit abc, go1.26.8)"},
		{"go build in a checkout", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260101000000-0123456789ab+dirty"}, Settings: vcs("0123456789abcdef", "true")},
			"v0.0.0-20260101000000-0123456789ab+dirty (commit 0123456789abcdef with uncommitted changes, go1.26.8)"},
		{"go install module@version", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.1"}},
			"v0.3.1 (go1.26.8)"},
		{"a revision, no version", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123", "false")},
			"devel (commit 0123, go1.26.8)"},
		{"-buildvcs=false, no stamp", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"unknown (go1.26.8): built without version control information (make build stamps it)"},
		{"no build info", "", "", nil, "unknown: built without version control information (make build stamps it)"},
	} {
		if got := describeVersion(c.version, c.commit, c.bi); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
