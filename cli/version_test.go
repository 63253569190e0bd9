package cli

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersion runs `mailflow --version` and `mailflow version` on a binary
// with and without the toolchain's build stamp. Not parallel: it replaces
// the build information.
func TestVersion(t *testing.T) {
	saved := readBuildInfo
	defer func() { readBuildInfo = saved }()
	stamped := &debug.BuildInfo{Main: debug.Module{Path: "github.com/mailflow/mailflow", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "dc24e63a1b"}, {Key: "vcs.modified", Value: "false"}}}
	dirty := &debug.BuildInfo{Main: debug.Module{Path: "github.com/mailflow/mailflow", Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "dc24e63a1b"}, {Key: "vcs.modified", Value: "true"}}}
	for _, c := range []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"stamped", stamped, true, "mailflow v1.4.0 (revision dc24e63a1b)\n"},
		{"modified checkout", dirty, true, "mailflow (devel) (revision dc24e63a1b, modified)\n"},
		{"no VCS stamp", &debug.BuildInfo{Main: debug.Module{Path: "github.com/mailflow/mailflow"}}, true, "mailflow (devel) (revision (devel))\n"},
		{"no build information", nil, false, "mailflow (devel) (revision (devel))\n"},
	} {
		readBuildInfo = func() (*debug.BuildInfo, bool) { return c.info, c.ok }
		for _, args := range [][]string{{"--version"}, {"version"}} {
			var out, errOut bytes.Buffer
			code := Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
			if code != ExitOK || out.String() != c.want || errOut.Len() != 0 {
				t.Errorf("%s: %v: exit %d, stdout %q, stderr %q; want exit 0 and %q", c.name, args, code, out.String(), errOut.String(), c.want)
			}
		}
	}
	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"version", "extra"}, strings.NewReader(""), &out, &errOut); code != ExitUsage {
		t.Errorf("version extra: exit %d, want %d", code, ExitUsage)
	}
}
