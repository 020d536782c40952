package cli

import (
	"runtime/debug"
	"strings"
)

// version and commit are stamped by the Makefile's build with -ldflags
// "-X github.com/tune-dev/tune/cli.version=... -X ...cli.commit=...": git
// describe's output and the full commit. CI builds with -buildvcs=false,
// so the Go toolchain's own stamp (debug.ReadBuildInfo) is not always
// there.
var version, commit string

// versionString is what tune --version prints after "tune version".
func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return describeVersion(version, commit, bi)
}

// describeVersion says which tune this is: the stamped version, else the
// module version the Go toolchain recorded (a tagged or pseudo-version, not
// "(devel)"); the stamped commit, else the VCS revision the toolchain
// recorded, marked when the tree had changes; and the Go version. It says
// so when neither a version nor a commit is known.
func describeVersion(version, commit string, bi *debug.BuildInfo) string {
	goVersion, modified := "", false
	if bi != nil {
		goVersion = bi.GoVersion
		if version == "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && commit == "":
				commit = s.Value
			case s.Key == "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	unknown := version == "" && commit == ""
	switch {
	case unknown:
		version = "unknown"
	case version == "":
		version = "devel"
	}
	var extra []string
	if commit != "" {
		c := "commit " + commit
		if modified {
			c += " with uncommitted changes"
		}
		extra = append(extra, c)
	}
	if goVersion != "" {
		extra = append(extra, goVersion)
	}
	if len(extra) > 0 {
		version += " (" + strings.Join(extra, ", ") + ")"
	}
	if unknown {
		version += ": built without version control information (make build stamps it)"
	}
	return version
}
