package cli

import (
	"context"
	"fmt"
	"runtime/debug"
)

// readBuildInfo is replaced by tests: a test binary has no module version
// and no VCS stamp.
var readBuildInfo = debug.ReadBuildInfo

// devel is what Go calls a version it does not know.
const devel = "(devel)"

// runVersion prints the module version and the VCS revision the binary was
// built from, as the Go toolchain stamped them into it.
func runVersion(_ context.Context, args []string, s Streams) error {
	fs := newFlags("version", s, "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	fmt.Fprintln(s.Out, versionLine())
	return nil
}

// versionLine is "mailflow VERSION (revision REV)"; either part is "(devel)"
// when the build did not record it (go run, a build outside a checkout),
// and a revision built with uncommitted changes says "modified".
func versionLine() string {
	version, revision, modified := devel, devel, false
	if info, ok := readBuildInfo(); ok && info != nil {
		if v := info.Main.Version; v != "" {
			version = v
		}
		for _, kv := range info.Settings {
			switch kv.Key {
			case "vcs.revision":
				if kv.Value != "" {
					revision = kv.Value
				}
			case "vcs.modified":
				modified = kv.Value == "true"
			}
		}
	}
	if modified {
		revision += ", modified"
	}
	return fmt.Sprintf("mailflow %s (revision %s)", version, revision)
}
