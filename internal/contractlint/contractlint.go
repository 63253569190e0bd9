// Package contractlint checks that the contract's strings are spelled only
// by the packages that own them: the mail outcomes and Mail.* error names
// by workflow, execution statuses and States.* error names by asl, lock
// statuses by lock. Everyone else uses the owners' constants, so a value
// cannot drift in one place and a rename is one edit.
//
// The check runs in `go test ./...` (see the test of this package): it
// parses every non-test Go file of the module and reports each string
// literal that is one of those strings outside its owner (the owner's
// subpackages included), naming file and line. Test files are left out:
// they spell wire values on purpose. The state-machine definition
// (workflow/mail.asl.json) is data owned by workflow and not Go.
//
// A literal that happens to be spelled like a contract string but belongs
// to another vocabulary (SQS's move-task status "RUNNING", a pipe's desired
// state) is let through by a comment on its line that says so:
//
//	TaskRunning = "RUNNING" //contract:unrelated SQS move-task status
//
// The comment must give the reason.
package contractlint

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/workflow"
)

// Owner packages, relative to the module.
const (
	OwnerWorkflow = "workflow"
	OwnerASL      = "asl"
	OwnerLock     = "lock"
)

// Rules say which package owns which strings.
type Rules struct {
	// Exact maps a string to its owner.
	Exact map[string]string
	// Patterns map every string they match to an owner, for names that are
	// not constants yet (a new or misspelt error name).
	Patterns []Pattern
}

// Pattern is a family of strings one package owns.
type Pattern struct {
	Match *regexp.Regexp
	Owner string
}

// Contract returns the rules of mailflow's contract, built from the
// owners' constants.
func Contract() Rules {
	r := Rules{Exact: map[string]string{}}
	for _, o := range workflow.Outcomes() {
		r.Exact[string(o)] = OwnerWorkflow
	}
	for _, n := range workflow.ErrorNames() {
		r.Exact[string(n)] = OwnerWorkflow
	}
	for _, s := range []asl.Status{asl.StatusRunning, asl.StatusSucceeded, asl.StatusFailed, asl.StatusTimedOut, asl.StatusAborted} {
		r.Exact[string(s)] = OwnerASL
	}
	for _, s := range []lock.Status{lock.Sending, lock.Sent} {
		r.Exact[string(s)] = OwnerLock
	}
	r.Patterns = []Pattern{
		{regexp.MustCompile(`^Mail\.[A-Z][A-Za-z]*$`), OwnerWorkflow},
		{regexp.MustCompile(`^States\.[A-Z][A-Za-z]*$`), OwnerASL},
	}
	return r
}

// owner returns the package that owns s, or "".
func (r Rules) owner(s string) string {
	if o, ok := r.Exact[s]; ok {
		return o
	}
	for _, p := range r.Patterns {
		if p.Match.MatchString(s) {
			return p.Owner
		}
	}
	return ""
}

// Finding is a contract string spelled outside its owner.
type Finding struct {
	Pos   token.Position
	Value string
	Owner string
}

func (f Finding) String() string {
	if f.Owner == "" {
		return fmt.Sprintf("%s:%d: %s must say why", f.Pos.Filename, f.Pos.Line, f.Value)
	}
	return fmt.Sprintf("%s:%d: %q is %s's; use its constant", f.Pos.Filename, f.Pos.Line, f.Value, f.Owner)
}

const directive = "//contract:unrelated"

// CheckFile reports the contract strings of one parsed file (parsed with
// comments) that lie outside their owner. pkg is the file's package
// directory relative to the module ("local/pipes").
func (r Rules) CheckFile(fset *token.FileSet, f *ast.File, pkg string) []Finding {
	exempt := map[int]bool{}
	var bad []Finding
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if rest, ok := strings.CutPrefix(c.Text, directive); ok {
				line := fset.Position(c.Slash).Line
				if strings.TrimSpace(rest) == "" {
					bad = append(bad, Finding{Pos: fset.Position(c.Slash), Value: directive})
					continue
				}
				exempt[line] = true
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		owner := r.owner(s)
		if owner == "" || pkg == owner || strings.HasPrefix(pkg, owner+"/") {
			return true
		}
		pos := fset.Position(lit.Pos())
		if !exempt[pos.Line] {
			bad = append(bad, Finding{Pos: pos, Value: s, Owner: owner})
		}
		return true
	})
	sortFindings(bad)
	return bad
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i].Pos, fs[j].Pos
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// CheckTree parses the non-test Go files under root, the module's
// directory, and reports their findings with paths relative to root,
// sorted. Directories named testdata, hidden ones, node_modules and other
// modules are skipped.
func (r Rules) CheckTree(root string) ([]Finding, error) {
	var out []Finding
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != root && (name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if p != root {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, rel, src, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		out = append(out, r.CheckFile(fset, f, path.Dir(rel))...)
		return nil
	})
	sortFindings(out)
	return out, err
}
