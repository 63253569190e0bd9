package contractlint_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/internal/contractlint"
)

// moduleRoot is the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// TestContractStringsHaveOneHome is the check itself: no contract string
// is spelled outside the package that owns it.
func TestContractStringsHaveOneHome(t *testing.T) {
	found, err := contractlint.Contract().CheckTree(moduleRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Error(f)
	}
}

// TestCheckFails shows the check failing, and passing, where it should.
func TestCheckFails(t *testing.T) {
	rules := contractlint.Contract()
	check := func(pkg, src string) []string {
		t.Helper()
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, pkg+"/x.go", src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, fd := range rules.CheckFile(fset, f, pkg) {
			out = append(out, fd.String())
		}
		return out
	}
	src := `package x

const a = "sent"

func f(status string) bool {
	return status == "SUCCEEDED" || status == "States.Runtime" || status == "Mail.Throtled"
}

var l = map[string]string{"SENT": "yes"}

const b = "RUNNING" //contract:unrelated another service's state

const c = "FAILED" //contract:unrelated

var d = "sent out" + "Mail." + "States.format"
`
	got := check("cli", src)
	want := []string{
		`cli/x.go:3: "sent" is workflow's; use its constant`,
		`cli/x.go:6: "SUCCEEDED" is asl's; use its constant`,
		`cli/x.go:6: "States.Runtime" is asl's; use its constant`,
		`cli/x.go:6: "Mail.Throtled" is workflow's; use its constant`,
		`cli/x.go:9: "SENT" is lock's; use its constant`,
		`cli/x.go:13: "FAILED" is asl's; use its constant`,
		`cli/x.go:13: //contract:unrelated must say why`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The owners may spell their own strings, in their subpackages too.
	for pkg, src := range map[string]string{
		"workflow":               `package workflow; const a, b = "sent", "Mail.Throttled"`,
		"asl":                    `package asl; const a, b = "SUCCEEDED", "States.Runtime"`,
		"asl/internal/intrinsic": `package intrinsic; const a = "States.Runtime"`,
		"lock":                   `package lock; const a = "SENT"`,
	} {
		if got := check(pkg, src); len(got) != 0 {
			t.Errorf("%s: owner flagged: %v", pkg, got)
		}
	}
	// A package whose name starts like an owner's is not the owner.
	if got := check("workflowx", `package workflowx; const a = "sent"`); len(got) != 1 {
		t.Errorf("workflowx: %v", got)
	}
}
