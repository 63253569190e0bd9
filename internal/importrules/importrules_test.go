// Package importrules holds the test that keeps the module's layers apart:
// it reads the import graph with `go list` and fails, naming the edge, when
// a package imports across a forbidden boundary. docs/ARCHITECTURE.md
// explains the layers; the rules below are that page in code, and the two
// change together.
package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/mailflow/mailflow"

// A rule restricts what the packages matching From import from this
// module. A pattern is a path relative to the module root; "x/..." matches
// x and everything under it. Either Only lists what may be imported (the
// package's own subtree is always allowed), or Never lists what may not.
type rule struct {
	From  []string
	Only  []string
	Never []string
	Why   string
}

var (
	ports    = []string{"lock", "store", "sender", "pacer", "delivery", "suppression", "notify", "eventqueue"}
	leaves   = []string{"workflow", "clock"}
	testOnly = []string{"testkit/...", "test/...", "perf/...", "*test"}
)

const adapterWhy = "adapters and conformance suites implement or exercise their own port only"

func join(lists ...[]string) []string { return slices.Concat(lists...) }

var rules = []rule{
	{From: []string{"asl/..."}, Only: []string{"asl/..."},
		Why: "the interpreter knows nothing of mail or of the rest of mailflow"},
	{From: []string{"workflow"}, Only: []string{},
		Why: "the mail contract is the leaf every other package may import"},
	{From: []string{"clock"}, Only: []string{},
		Why: "the clock is a leaf"},
	{From: []string{"feedback/sesevent"}, Only: []string{},
		Why: "the SES event record types are a leaf: read by whoever handles delivery feedback, written by the simulator"},
	{From: ports, Only: leaves,
		Why: "a port is an interface and its contract, nothing else"},
	{From: []string{"lock/..."}, Only: join(leaves, []string{"lock", "internal/..."}), Why: adapterWhy},
	{From: []string{"store/..."}, Only: join(leaves, []string{"store", "internal/..."}), Why: adapterWhy},
	{From: []string{"sender/..."}, Only: join(leaves, []string{"sender", "internal/..."}), Why: adapterWhy},
	{From: []string{"pacer/..."}, Only: join(leaves, []string{"pacer", "internal/..."}), Why: adapterWhy},
	{From: []string{"delivery/..."}, Only: join(leaves, []string{"delivery", "internal/..."}), Why: adapterWhy},
	{From: []string{"suppression/..."}, Only: join(leaves, []string{"suppression", "internal/..."}), Why: adapterWhy},
	{From: []string{"notify/..."}, Only: join(leaves, []string{"notify", "internal/..."}), Why: adapterWhy},
	{From: []string{"eventqueue/..."}, Only: join(leaves, []string{"eventqueue", "internal/..."}), Why: adapterWhy},
	{From: []string{"local/sqlitefeedback"}, Only: join(leaves, []string{"delivery", "suppression", "internal/..."}),
		Why: "the local feedback database implements the delivery and suppression ports in one file"},
	{From: []string{"local/sqlitelock"}, Only: join(leaves, []string{"lock", "internal/..."}), Why: adapterWhy},
	{From: []string{"local/sqlitepacer"}, Only: join(leaves, []string{"pacer", "internal/..."}), Why: adapterWhy},
	{From: []string{"local/fakes3store"}, Only: join(leaves, []string{"store", "internal/..."}), Why: adapterWhy},
	{From: []string{"local/outbox"}, Only: join(leaves, []string{"sender", "internal/..."}), Why: adapterWhy},
	{From: []string{"local/sessim"}, Only: join(leaves, []string{"sender", "internal/...", "feedback/sesevent"}),
		Why: "the SES simulator implements the sender port and publishes SES's event records"},
	{From: []string{"local/webhooks"}, Only: join(leaves, []string{"notify", "client", "internal/..."}),
		Why: "the webhook dispatcher implements the notify port and signs with the producers' scheme"},
	{From: []string{"local/health"}, Only: leaves,
		Why: "the health and metrics endpoints are handed what they report; they open and import no store"},
	{From: []string{"local/sqsstore"}, Only: join(leaves, []string{"internal/..."}),
		Why: "the local queue store is a storage engine; the runtime wires it"},
	{From: []string{"local/execstore"}, Only: join(leaves, []string{"internal/...", "inspect/model", "asl"}),
		Why: "the execution store keeps the read model's types and nothing else"},
	{From: []string{"inspect/model"}, Only: join(leaves, []string{"asl"}),
		Why: "the read model's types are a leaf beside the contract"},
	{From: []string{"tasks/reserve-sends", "tasks/acquire-lock", "tasks/fetch-attachments", "tasks/send", "tasks/release-lock", "tasks/record-event"},
		Only: join(leaves, ports, []string{"internal/taskkit", "tasks/internal/...", "feedback/sesevent"}),
		Why:  "task handlers know ports, not adapters"},
	{From: []string{"tasks/..."}, Never: []string{"local/...", "inspect/...", "cli/...", "infra/..."},
		Why: "the Lambda mains wire AWS adapters only"},
	{From: []string{"internal/..."}, Never: []string{"local/...", "tasks/...", "inspect/...", "cli/...", "infra/...", "client/..."},
		Why: "internal/ is shared machinery below every wing"},
	{From: []string{"local/..."}, Never: []string{"cli/...", "cmd/...", "infra/..."},
		Why: "the local wing is wired by the CLI, never the other way"},
	{From: []string{"inspect/..."}, Never: []string{"local/...", "tasks/...", "cli/...", "infra/...", "lock/dynamolock", "local/sqlitelock"},
		Why: "inspect is the read model; the wiring root hands it its backends"},
	{From: []string{"infra/..."}, Never: []string{"local/...", "tasks/...", "inspect/...", "cli/...", "client/..."},
		Why: "the CDK app deploys the Lambda zips; it does not link the tasks or the local wing"},
	{From: []string{"client/..."}, Only: []string{"workflow"},
		Why: "the producer client depends on the message contract only"},
	{From: []string{"cmd/..."}, Only: []string{"cli"},
		Why: "main only calls cli.Run"},
	{From: []string{"!testOnly"}, Never: testOnly,
		Why: "test kits, suites, end-to-end tests and benchmarks are imported by tests only"},
}

// pkg is what `go list -json` tells of one package.
type pkg struct {
	ImportPath string
	Imports    []string
}

// violation is one forbidden edge.
type violation struct {
	From, To string
	Rule     rule
}

func (v violation) String() string {
	return fmt.Sprintf("%s imports %s: forbidden (%s)", v.From, v.To, v.Rule.Why)
}

// match reports whether the module-relative path p matches pattern.
func match(pattern, p string) bool {
	switch {
	case pattern == "*test":
		return strings.HasSuffix(filepath.Base(p), "test")
	case strings.HasSuffix(pattern, "/..."):
		root := strings.TrimSuffix(pattern, "/...")
		return p == root || strings.HasPrefix(p, root+"/")
	}
	return p == pattern
}

func matchAny(patterns []string, p string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return match(pat, p) })
}

func (r rule) applies(p string) bool {
	if len(r.From) == 1 && r.From[0] == "!testOnly" {
		return !matchAny(testOnly, p)
	}
	return matchAny(r.From, p)
}

func (r rule) forbids(from, to string) bool {
	if r.Only != nil {
		own := slices.ContainsFunc(r.From, func(pat string) bool {
			return match(pat, from) && (strings.HasSuffix(pat, "/...") && match(pat, to))
		})
		return !own && to != from && !matchAny(r.Only, to) && !strings.HasPrefix(to, from+"/")
	}
	return matchAny(r.Never, to)
}

// check returns every forbidden edge of the graph.
func check(pkgs []pkg) []violation {
	var out []violation
	for _, p := range pkgs {
		from, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			to, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			for _, r := range rules {
				if r.applies(from) && r.forbids(from, to) {
					out = append(out, violation{From: from, To: to, Rule: r})
				}
			}
		}
	}
	return out
}

// TestImportRules checks the module's production imports (test files may
// import test kits and adapters freely).
func TestImportRules(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...")
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 50 {
		t.Fatalf("go list found %d packages; the module has more", len(pkgs))
	}
	for _, v := range check(pkgs) {
		t.Error(v)
	}
}

// TestRulesCatchForbiddenEdges: each kind of rule fails on an edge it
// forbids and passes the edges the layers allow.
func TestRulesCatchForbiddenEdges(t *testing.T) {
	t.Parallel()
	m := func(p string) string { return module + "/" + p }
	cases := []struct {
		from, to string
		bad      bool
	}{
		{"asl", "workflow", true},
		{"asl", "asl/internal/jsonata", false},
		{"workflow", "clock", true},
		{"tasks/send", "lock/dynamolock", true},
		{"tasks/send", "lock", false},
		{"tasks/acquire-lock", "suppression", false},
		{"tasks/acquire-lock", "suppression/memsuppression", true},
		{"tasks/send", "tasks/internal/mailmime", false},
		{"tasks/send", "feedback/sesevent", false},
		{"tasks/send/lambda", "lock/dynamolock", false},
		{"tasks/send/lambda", "local/outbox", true},
		{"inspect", "local/execstore", true},
		{"local/execstore", "inspect/model", false},
		{"local/execstore", "inspect", true},
		{"inspect/model", "lock", true},
		{"local", "cli", true},
		{"local", "tasks/send", false},
		{"cli", "testkit", true},
		{"test/reliability", "testkit/faults", false},
		{"lock/memlock", "lock", false},
		{"lock/memlock", "store", true},
		{"local/console", "lock/locktest", true},
		{"client", "workflow", false},
		{"client", "lock", true},
		{"cmd/mailflow", "cli", false},
		{"cmd/mailflow", "local", true},
		{"local/webhooks", "client", false},
		{"local/webhooks", "notify", false},
		{"local/webhooks", "local/sqlitelock", true},
	}
	for _, c := range cases {
		got := check([]pkg{{ImportPath: m(c.from), Imports: []string{m(c.to), "fmt"}}})
		if (len(got) > 0) != c.bad {
			t.Errorf("%s → %s: violations %v, want forbidden=%v", c.from, c.to, got, c.bad)
		}
		for _, v := range got {
			if !strings.Contains(v.String(), c.from+" imports "+c.to) {
				t.Errorf("message %q does not name the edge", v)
			}
		}
	}
}
