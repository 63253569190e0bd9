package infra_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cfnLintAccepted are the informational cfn-lint findings accepted in the
// templates; infra/doc.go gives the reason of each. Errors and warnings are
// never accepted.
var cfnLintAccepted = []string{"I1022"}

// The synthesized templates pass cfn-lint, CloudFormation's own linter
// (resource schemas, value ranges, references, and its informational
// checks), with nothing but the findings above. Where cfn-lint is not
// installed the test skips, unless MAILFLOW_REQUIRE_CFNLINT=1 (set by `make
// test`, as CI has it) makes that a failure.
func TestCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("MAILFLOW_REQUIRE_CFNLINT") == "1" {
			t.Fatal("cfn-lint is not on PATH and MAILFLOW_REQUIRE_CFNLINT=1: pip install cfn-lint")
		}
		t.Skip("cfn-lint is not installed (pip install cfn-lint)")
	}
	for _, c := range []struct{ name, cfg string }{{"main", mainConfig}, {"variant", variantConfig}} {
		t.Run(c.name, func(t *testing.T) {
			s := synth(t, c.name, c.cfg)
			path := filepath.Join(s.outdir, *s.stack.TemplateFile())
			if _, err := os.Stat(path); err != nil {
				t.Fatal(err)
			}
			args := []string{"--format", "parseable", "--include-checks", "I"}
			for _, rule := range cfnLintAccepted {
				args = append(args, "--ignore-checks", rule)
			}
			out, err := exec.Command(lint, append(args, "--", path)...).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("cfn-lint %s: %v\n%s", path, err, out)
			}
		})
	}
}
