package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is the release name, set at build time with -ldflags "-X main.version=v1.2.3". When it is
// empty the module version from the build information is used ("(devel)" for a build from a checkout).
var version string

func init() {
	register("version", "print the version, Go version and commit", func(args []string) error {
		fs := newFlagSet("version", "mqttds version", os.Stderr)
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usagef("version takes no arguments")
		}
		info, _ := debug.ReadBuildInfo()
		_, err = io.WriteString(os.Stdout, versionText(version, info))
		return err
	})
}

// versionText formats what is known about this build. info may be nil (a binary built without module
// support); the commit is known only when the build recorded VCS information.
func versionText(version string, info *debug.BuildInfo) string {
	goVersion, commit, when, modified := runtime.Version(), "", "", false
	if info != nil {
		if version == "" {
			version = info.Main.Version
		}
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if version == "" {
		version = "unknown"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mqttds %s\ngo: %s\n", version, goVersion)
	switch {
	case commit == "":
		b.WriteString("commit: unknown (built without VCS information)\n")
	case modified:
		fmt.Fprintf(&b, "commit: %s (with uncommitted changes)\n", commit)
	default:
		fmt.Fprintf(&b, "commit: %s\n", commit)
	}
	if when != "" {
		fmt.Fprintf(&b, "commit time: %s\n", when)
	}
	return b.String()
}
