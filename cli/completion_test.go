package cli

import (
	"bytes"
	"context"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestMain lets the test binary be the mailflow binary the completion
// scripts call back (MAILFLOW_TEST_RUN_CLI=1), so the scripts run in the
// real shell against this build.
func TestMain(m *testing.M) {
	if os.Getenv("MAILFLOW_TEST_RUN_CLI") == "1" {
		os.Exit(Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// walk calls fn with every node of the registry.
func walk(nodes []*node, fn func(*node)) {
	for _, n := range nodes {
		fn(n)
		walk(n.verbs, fn)
	}
}

// TestEveryCommandAndFlagIsDescribed: every command, verb and flag has a
// one-line description.
func TestEveryCommandAndFlagIsDescribed(t *testing.T) {
	t.Parallel()
	nodes := 0
	walk(registry(), func(n *node) {
		nodes++
		if strings.TrimSpace(n.summary) == "" || strings.Contains(n.summary, "\n") {
			t.Errorf("mailflow %s: summary %q is empty or not one line (verbs: verbSummaries)", n.path, n.summary)
		}
		for _, f := range n.flags {
			if strings.TrimSpace(f.usage) == "" || strings.Contains(f.usage, "\n") {
				t.Errorf("mailflow %s %s: usage %q is empty or not one line", n.path, longName(f.names[0]), f.usage)
			}
		}
	})
	if nodes < 20 {
		t.Fatalf("the registry has %d commands and verbs; it does not describe them all", nodes)
	}
}

// describedFlagSet is the flag set the command at path builds, read
// straight from it (not through the registry's specs).
func describedFlagSet(t *testing.T, path string) *flag.FlagSet {
	t.Helper()
	words := strings.Fields(path)
	for _, c := range commands() {
		if c.name != words[0] {
			continue
		}
		d := &describer{}
		s := Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}, global: &globalOptions{}, desc: d}
		_ = c.run(context.Background(), append(words[1:], "-h"), s)
		return d.fs
	}
	t.Fatalf("no command %s", path)
	return nil
}

// TestCompletionOffersEveryFlag: completing "-" after each command and
// verb offers every flag its flag set has, so a new flag cannot be left
// out of completion.
func TestCompletionOffersEveryFlag(t *testing.T) {
	t.Parallel()
	reg := registry()
	walk(reg, func(n *node) {
		fs := describedFlagSet(t, n.path)
		if fs == nil {
			if len(n.verbs) == 0 {
				t.Errorf("mailflow %s builds no flag set", n.path)
			}
			return
		}
		_, cands := complete(reg, strings.Fields(n.path), "-")
		var got []string
		for _, c := range cands {
			got = append(got, c.value)
		}
		fs.VisitAll(func(f *flag.Flag) {
			if !slices.Contains(got, longName(f.Name)) {
				t.Errorf("mailflow %s -<TAB> does not offer %s (offers %v)", n.path, longName(f.Name), got)
			}
		})
	})
}

// TestFlagChoicesNameFlags: every entry of flagChoices names a flag that
// exists, so a renamed flag does not silently lose its values.
func TestFlagChoicesNameFlags(t *testing.T) {
	t.Parallel()
	for key := range flagChoices {
		path, name, _ := strings.Cut(key, " --")
		fs := describedFlagSet(t, path)
		if fs == nil || fs.Lookup(name) == nil {
			t.Errorf("flagChoices names %q, which is no flag", key)
		}
	}
}

// bashComplete sources the generated bash script and completes the
// command line words (the last one being completed) with the mailflow on
// PATH, which is this test binary. It returns the candidates.
func bashComplete(t *testing.T, bin, script, dir string, words ...string) []string {
	t.Helper()
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = strconv.Quote(w)
	}
	prog := "source " + strconv.Quote(script) + "\n" +
		"COMP_WORDS=(mailflow " + strings.Join(quoted, " ") + ")\n" +
		"COMP_CWORD=" + strconv.Itoa(len(words)) + "\n" +
		"_mailflow\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "MAILFLOW_TEST_RUN_CLI=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			got = append(got, l)
		}
	}
	return got
}

// TestBashCompletion runs the bash script in bash as a user's shell does:
// commands, verbs, flags, flag values, paths.
func TestBashCompletion(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "mailflow")); err != nil {
		t.Fatal(err)
	}
	code, script, errOut := runCLI(t, "completion", "bash")
	if code != ExitOK {
		t.Fatalf("completion bash: exit %d: %s", code, errOut)
	}
	scriptPath := filepath.Join(t.TempDir(), "mailflow.bash")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "receipt.pdf"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(work, "state"), 0o755)
	for _, tc := range []struct {
		words []string
		want  []string // all of these, and only they when exact
		exact bool
	}{
		{[]string{""}, []string{"dev", "send", "executions", "replay", "dlq", "mail", "suppression", "events", "version", "completion", "help"}, true},
		{[]string{"dl"}, []string{"dlq"}, true},
		{[]string{"dlq", ""}, []string{"list", "redrive", "delete", "purge"}, false},
		{[]string{"executions", ""}, []string{"list", "show"}, true},
		{[]string{"executions", "list", "--st"}, []string{"--status", "--stack"}, true},
		{[]string{"executions", "list", "--status", ""}, []string{"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "failed"}, true},
		{[]string{"executions", "list", "--status", "T"}, []string{"TIMED_OUT"}, true},
		{[]string{"executions", "list", "-o", ""}, []string{"json", "table"}, true},
		{[]string{"executions", "list", "--status", "=", "T"}, []string{"TIMED_OUT"}, true},
		{[]string{"executions", "list", "--status", "=", "x", "--li"}, []string{"--limit"}, true},
		{[]string{"-v", "mail", "status", "--output", "j"}, []string{"json"}, true},
		{[]string{"dev", "--log-level", ""}, []string{"debug", "info", "warn", "error"}, true},
		{[]string{"dev", "--pacing", ""}, []string{"on", "off"}, true},
		{[]string{"suppression", "add", "a@example.org", "--reason", ""}, []string{"BOUNCE", "COMPLAINT"}, true},
		{[]string{"events", ""}, []string{"deliveries"}, true},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}, true},
		{[]string{"help", "ex"}, []string{"executions", "exit-codes"}, true},
		{[]string{"send", "--attach", "rec"}, []string{"receipt.pdf"}, true},
		{[]string{"dev", "--data", "st"}, []string{"state"}, true},
		{[]string{"send", "--subject", "-", "--to", "x", "--wa"}, []string{"--wait"}, true},
	} {
		got := bashComplete(t, bin, scriptPath, work, tc.words...)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("mailflow %s<TAB>: %v lacks %q", strings.Join(tc.words, " "), got, w)
			}
		}
		if tc.exact && len(got) != len(tc.want) {
			t.Errorf("mailflow %s<TAB>: %v, want exactly %v", strings.Join(tc.words, " "), got, tc.want)
		}
	}
}

// TestZshAndFishScripts checks the scripts' syntax in their shell where
// it is installed; both ask the same __complete the bash test runs.
func TestZshAndFishScripts(t *testing.T) {
	t.Parallel()
	for _, sh := range []struct{ name, check string }{{"zsh", "-n"}, {"fish", "--no-execute"}} {
		code, script, _ := runCLI(t, "completion", sh.name)
		if code != ExitOK || !strings.Contains(script, completeCommand) {
			t.Fatalf("completion %s: exit %d, script %q", sh.name, code, script)
		}
		if _, err := exec.LookPath(sh.name); err != nil {
			t.Logf("%s is not installed: its script's syntax is not checked", sh.name)
			continue
		}
		path := filepath.Join(t.TempDir(), "mailflow."+sh.name)
		os.WriteFile(path, []byte(script), 0o644)
		if out, err := exec.Command(sh.name, sh.check, path).CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v\n%s", sh.name, sh.check, err, out)
		}
	}
	if code, _, errOut := runCLI(t, "completion", "powershell"); code != ExitUsage || !strings.Contains(errOut, `shell "powershell" is not one of bash, zsh, fish`) {
		t.Errorf("completion powershell: exit %d, %q", code, errOut)
	}
}

// TestExitCodesDocumented: `help exit-codes` and docs/CLI.md list exactly
// the Exit* constants of cli.go.
func TestExitCodesDocumented(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "cli.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []int
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			for i, name := range spec.(*ast.ValueSpec).Names {
				if strings.HasPrefix(name.Name, "Exit") {
					lit := spec.(*ast.ValueSpec).Values[i].(*ast.BasicLit)
					n, _ := strconv.Atoi(lit.Value)
					declared = append(declared, n)
				}
			}
		}
	}
	var documented []int
	for _, e := range exitCodes {
		documented = append(documented, e.code)
	}
	if !slices.Equal(declared, documented) {
		t.Fatalf("exit codes declared %v, documented %v", declared, documented)
	}
	code, out, _ := runCLI(t, "help", "exit-codes")
	doc, err := os.ReadFile("../docs/CLI.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exitCodes {
		if line := "  " + strconv.Itoa(e.code) + "  " + e.meaning; code != ExitOK || !strings.Contains(out, line) {
			t.Errorf("help exit-codes lacks %q:\n%s", line, out)
		}
		if row := "| " + strconv.Itoa(e.code) + " | " + e.meaning + " |"; !strings.Contains(string(doc), row) {
			t.Errorf("docs/CLI.md lacks %q", row)
		}
	}
}

// TestDocsUpToDate: docs/CLI.md is what the registry says. With
// MAILFLOW_UPDATE_DOCS=1 it writes the file. Not parallel: it clears the
// environment variables that give flags their defaults.
func TestDocsUpToDate(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "MAILFLOW_") || strings.HasPrefix(name, "AWS_") {
			if name != "MAILFLOW_UPDATE_DOCS" && name != "MAILFLOW_TOOLS_CACHE" {
				t.Setenv(name, "")
			}
		}
	}
	want := referenceMarkdown()
	const path = "../docs/CLI.md"
	if os.Getenv("MAILFLOW_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("docs/CLI.md is stale: regenerate it with MAILFLOW_UPDATE_DOCS=1 go test ./cli -run DocsUpToDate")
	}
}

// TestDescribingRunsNothing: reading the registry runs each command with
// -h only, so it creates nothing, not even the default data directory.
// Not parallel: it changes the working directory.
func TestDescribingRunsNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if n := len(registry()); n < 10 {
		t.Fatalf("%d commands described", n)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Fatalf("describing the commands left %v in the working directory (%v)", entries, err)
	}
}
