package cli

import (
	"context"
	"fmt"
	"io"
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
	fs := newFlags("version", s, "[-o json]")
	out := addOutputFlag(fs)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	v := readVersion()
	return out.write(s, v, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, v.line())
		return err
	})
}

// buildVersion is what the toolchain stamped into the binary.
type buildVersion struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	Modified bool   `json:"modified"`
}

// line is "mailflow VERSION (revision REV)"; either part is "(devel)"
// when the build did not record it (go run, a build outside a checkout),
// and a revision built with uncommitted changes says "modified".
func (v buildVersion) line() string {
	revision := v.Revision
	if v.Modified {
		revision += ", modified"
	}
	return fmt.Sprintf("mailflow %s (revision %s)", v.Version, revision)
}

func readVersion() buildVersion {
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
	return buildVersion{Version: version, Revision: revision, Modified: modified}
}
