package infra_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cfnLintIgnored are the cfn-lint findings accepted in the templates, each
// with its reason:
//
//   - W3005 (a DependsOn that a GetAtt already enforces): CDK makes every
//     function and the state machine and the pipe depend on their role and
//     its default policy; the role's entry is redundant, the policy's is
//     what matters (the resource must not start before its permissions).
var cfnLintIgnored = []string{"W3005"}

// The synthesized templates pass cfn-lint, CloudFormation's own linter
// (resource schemas, value ranges, references), with nothing but the
// findings above.
func TestCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed (pip install cfn-lint)")
	}
	for _, c := range []struct{ name, cfg string }{{"main", mainConfig}, {"variant", variantConfig}} {
		t.Run(c.name, func(t *testing.T) {
			s := synth(t, c.name, c.cfg)
			path := filepath.Join(s.outdir, *s.stack.TemplateFile())
			if _, err := os.Stat(path); err != nil {
				t.Fatal(err)
			}
			args := []string{"--format", "parseable"}
			for _, rule := range cfnLintIgnored {
				args = append(args, "--ignore-checks", rule)
			}
			out, err := exec.Command(lint, append(args, "--", path)...).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("cfn-lint %s: %v\n%s", path, err, out)
			}
		})
	}
}
