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
	"time"
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

// completionShell is the real shell a completion test runs a script in.
type completionShell struct {
	t      *testing.T
	name   string
	bin    string // holds mailflow: a link to this test binary
	work   string // the working directory, with a file and a directory to complete
	home   string // HOME and XDG directories, so no user configuration is read
	script string // the generated script, at the path its install names
}

// newCompletionShell finds the shell, which must be installed (.ci/run
// installs zsh and fish), and writes the script `mailflow completion
// NAME` prints where a user would put it.
func newCompletionShell(t *testing.T, name string) *completionShell {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed (.ci/run installs it): %v", name, err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sh := &completionShell{t: t, name: name, bin: t.TempDir(), work: t.TempDir(), home: t.TempDir()}
	if err := os.Symlink(self, filepath.Join(sh.bin, "mailflow")); err != nil {
		t.Fatal(err)
	}
	code, script, errOut := runCLI(t, "completion", name)
	if code != ExitOK {
		t.Fatalf("completion %s: exit %d: %s", name, code, errOut)
	}
	dir := sh.home
	if name == "fish" {
		// fish autoloads completions/mailflow.fish, as its install says.
		dir = filepath.Join(sh.home, "config", "fish", "completions")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sh.script = filepath.Join(dir, "mailflow."+name)
	if err := os.WriteFile(sh.script, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sh.work, "receipt.pdf"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sh.work, "my receipt.pdf"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(sh.work, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	return sh
}

// run runs the shell with args in the working directory, mailflow on
// PATH, and returns its output. A shell that hangs is killed.
func (sh *completionShell) run(extraEnv []string, args ...string) string {
	sh.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sh.name, args...)
	cmd.Dir = sh.work
	cmd.Env = append(os.Environ(),
		"PATH="+sh.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"MAILFLOW_TEST_RUN_CLI=1",
		"HOME="+sh.home,
		"XDG_CONFIG_HOME="+filepath.Join(sh.home, "config"),
		"XDG_DATA_HOME="+filepath.Join(sh.home, "data"),
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		sh.t.Fatalf("%s %q: %v\n%s", sh.name, args, err, out)
	}
	return string(out)
}

// listedCandidates is the non-empty lines of out, each cut at its first tab (the
// description) and without a directory's trailing slash, in order and
// once each: the candidates as the shell lists them.
func listedCandidates(out string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		l, _, _ = strings.Cut(l, "\t")
		l = strings.TrimSuffix(strings.TrimSpace(l), "/")
		if l != "" && !slices.Contains(got, l) {
			got = append(got, l)
		}
	}
	return got
}

// bashComplete sources the script in bash, sets the words as bash's
// completion does (COMP_WORDS, COMP_CWORD) and calls the function
// `complete -F` names, returning COMPREPLY.
func bashComplete(sh *completionShell, words []string) []string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = strconv.Quote(w)
	}
	prog := "source " + strconv.Quote(sh.script) + "\n" +
		"COMP_WORDS=(mailflow " + strings.Join(quoted, " ") + ")\n" +
		"COMP_CWORD=" + strconv.Itoa(len(words)) + "\n" +
		"_mailflow\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	return listedCandidates(sh.run(nil, "--norc", "--noprofile", "-c", prog))
}

// fishComplete asks fish what it completes the command line with: the
// script is autoloaded from the user's completions directory, and
// `complete --do-complete` prints the candidates as Tab lists them.
func fishComplete(sh *completionShell, words []string) []string {
	line := "mailflow " + strings.Join(words, " ")
	return listedCandidates(sh.run(nil, "-c", "complete --do-complete=$argv[1]", line))
}

// zshDriver types the command line and a Tab into an interactive zsh on
// a pseudo-terminal (zsh/zpty), so the whole completion system runs:
// compinit, the widget, _main_complete, the script's _mailflow, _describe, _files.
// $1 is the setup file, $2 the line. It prints what the terminal showed.
const zshDriver = `zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "source ${(q)1}"
local line screen
while zpty -r z line; do
    screen+=$line
    [[ $line == *READY* ]] && break
done
zpty -w -n z "$2"$'\t'
while zpty -r z line; do screen+=$line; done
print -r -- $screen
`

// zshSetup runs in the interactive zsh. It loads the script as the user
// does, then wraps compadd so each match the completion adds is also
// written to $MAILFLOW_COMPLETION_OUT (builtin compadd -O does zsh's own
// matching against the word, without adding), and ends the shell once
// the completion is done, each match with the prefixes inserted before
// it (IPREFIX, -P, -p) and unquoted, as the command would get it. Calls that only filter (-O, -A, -D) pass
// through.
const zshSetup = `PROMPT='' RPROMPT=''
if [[ $MAILFLOW_COMPLETION_FPATH == 1 ]]; then
    fpath=(${MAILFLOW_COMPLETION_SCRIPT:h} $fpath)
fi
autoload -Uz compinit && compinit -u -D
if [[ $MAILFLOW_COMPLETION_FPATH != 1 ]]; then
    source $MAILFLOW_COMPLETION_SCRIPT || exit 1
fi
compadd() {
    local -a opts hits apre hpre
    local hit
    opts=("${(@)argv[1,${argv[(i)(-|--)]}-1]}")
    if (( ${opts[(I)-O]} || ${opts[(I)-A]} || ${opts[(I)-D]} )); then
        builtin compadd "$@"
        return
    fi
    builtin compadd -O hits "$@"
    () { zparseopts -E P:=apre p:=hpre } "${(@)opts}"
    for hit in "${(@)hits}"; do
        print -r -- "${(Q):-$IPREFIX${apre[2]}${hpre[2]}$hit}" >> $MAILFLOW_COMPLETION_OUT
    done
    builtin compadd "$@"
}
__mailflow_test_done() {
    compstate[list]='' compstate[insert]=''
    print -r -- done >> $MAILFLOW_COMPLETION_OUT.done
    exit
}
comppostfuncs=(__mailflow_test_done)
bindkey '^I' complete-word
print -r -- ${(U):-ready}
`

// zshCompleter returns the completer for zsh; with fpath, the script is
// autoloaded as _mailflow from $fpath instead of sourced.
func zshCompleter(fpath bool) func(*completionShell, []string) []string {
	return func(sh *completionShell, words []string) []string {
		sh.t.Helper()
		dir := sh.t.TempDir()
		driver, setup, out := filepath.Join(dir, "driver.zsh"), filepath.Join(dir, "setup.zsh"), filepath.Join(dir, "matches")
		if err := os.WriteFile(driver, []byte(zshDriver), 0o644); err != nil {
			sh.t.Fatal(err)
		}
		if err := os.WriteFile(setup, []byte(zshSetup), 0o644); err != nil {
			sh.t.Fatal(err)
		}
		script := sh.script
		if fpath {
			script = filepath.Join(dir, "fpath", "_mailflow")
			if err := os.Mkdir(filepath.Dir(script), 0o755); err != nil {
				sh.t.Fatal(err)
			}
			body, err := os.ReadFile(sh.script)
			if err != nil {
				sh.t.Fatal(err)
			}
			if err := os.WriteFile(script, body, 0o644); err != nil {
				sh.t.Fatal(err)
			}
		}
		env := []string{"MAILFLOW_COMPLETION_SCRIPT=" + script, "MAILFLOW_COMPLETION_OUT=" + out,
			"MAILFLOW_COMPLETION_FPATH=" + map[bool]string{false: "0", true: "1"}[fpath]}
		screen := sh.run(env, "-f", driver, setup, "mailflow "+strings.Join(words, " "))
		if _, err := os.Stat(out + ".done"); err != nil {
			sh.t.Fatalf("zsh did not complete %q: the terminal showed\n%s", words, screen)
		}
		matches, err := os.ReadFile(out)
		if err != nil && !os.IsNotExist(err) {
			sh.t.Fatal(err)
		}
		return listedCandidates(string(matches))
	}
}

type completionCase struct {
	words []string // after mailflow; the last is the word completed
	want  []string // all of these, and only they when exact
	exact bool
}

// completionCases hold in every shell: commands, verbs, flags, flag
// values, paths.
var completionCases = []completionCase{
	{[]string{""}, []string{"dev", "send", "executions", "replay", "dlq", "mail", "suppression", "events", "version", "completion", "help"}, true},
	{[]string{"dl"}, []string{"dlq"}, true},
	{[]string{"dlq", ""}, []string{"list", "redrive", "delete", "purge"}, false},
	{[]string{"dlq", "li"}, []string{"list"}, true},
	{[]string{"executions", ""}, []string{"list", "show"}, true},
	{[]string{"executions", "list", "--st"}, []string{"--status", "--stack"}, true},
	{[]string{"executions", "list", "--status", ""}, []string{"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "failed"}, true},
	{[]string{"executions", "list", "--status", "T"}, []string{"TIMED_OUT"}, true},
	{[]string{"executions", "list", "-o", ""}, []string{"json", "table"}, true},
	{[]string{"-v", "mail", "status", "--output", "j"}, []string{"json"}, true},
	{[]string{"dev", "--log-level", ""}, []string{"debug", "info", "warn", "error"}, true},
	{[]string{"dev", "--pacing", ""}, []string{"on", "off"}, true},
	{[]string{"suppression", "add", "a@example.org", "--reason", ""}, []string{"BOUNCE", "COMPLAINT"}, true},
	{[]string{"events", ""}, []string{"deliveries"}, true},
	{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}, true},
	{[]string{"help", "ex"}, []string{"executions", "exit-codes"}, true},
	{[]string{"send", "--attach", "rec"}, []string{"receipt.pdf"}, true},
	{[]string{"send", "--attach", ""}, []string{"receipt.pdf", "my receipt.pdf", "state"}, true},
	{[]string{"dev", "--data", "st"}, []string{"state"}, true},
	{[]string{"executions", "list", "--limit", ""}, nil, true}, // free text
	{[]string{"--ver"}, []string{"--version", "--verbose"}, true},
	{[]string{"send", "--subject", "-", "--to", "x", "--wa"}, []string{"--wait"}, true},
}

// wholeWordCases: zsh and fish keep --flag=value one word, where bash
// splits it at "=" (COMP_WORDBREAKS), and hand the command the word
// unquoted.
var wholeWordCases = []completionCase{
	{[]string{"executions", "list", "--status=T"}, []string{"--status=TIMED_OUT"}, true},
	{[]string{"executions", "list", "--status=x", "--li"}, []string{"--limit"}, true},
	{[]string{"send", "--attach=rec"}, []string{"--attach=receipt.pdf"}, true},
	{[]string{"dev", "--data=st"}, []string{"--data=state"}, true},
}

// quotedCases: words typed with a quote or a backslash escape are
// completed as the command will see them, in every shell.
var quotedCases = []completionCase{
	{[]string{"dlq", "'li"}, []string{"list"}, true},
	{[]string{"send", "--attach", `my\ r`}, []string{"my receipt.pdf"}, true},
	{[]string{"send", "--attach", `"my`}, []string{"my receipt.pdf"}, true},
	{[]string{"send", "--subject", "'a b'", "--wa"}, []string{"--wait"}, true},
}

var bashSplitCases = []completionCase{
	{[]string{"executions", "list", "--status", "=", "T"}, []string{"TIMED_OUT"}, true},
	{[]string{"executions", "list", "--status", "=", "x", "--li"}, []string{"--limit"}, true},
}

// TestShellCompletion runs each shell's script in that shell as a
// user's shell does and checks what it offers.
func TestShellCompletion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		shell    string
		complete func(*completionShell, []string) []string
		cases    []completionCase
	}{
		{"bash", bashComplete, slices.Concat(completionCases, bashSplitCases, quotedCases)},
		{"zsh", zshCompleter(false), slices.Concat(completionCases, wholeWordCases, quotedCases)},
		// autoloaded from $fpath, the script's other entry
		{"zsh", zshCompleter(true), completionCases[:4]},
		{"fish", fishComplete, slices.Concat(completionCases, wholeWordCases, quotedCases)},
	} {
		sh := newCompletionShell(t, tc.shell)
		for _, c := range tc.cases {
			got := tc.complete(sh, c.words)
			for _, w := range c.want {
				if !slices.Contains(got, w) {
					t.Errorf("%s: mailflow %s<TAB>: %v lacks %q", tc.shell, strings.Join(c.words, " "), got, w)
				}
			}
			if c.exact && len(got) != len(c.want) {
				t.Errorf("%s: mailflow %s<TAB>: %v, want exactly %v", tc.shell, strings.Join(c.words, " "), got, c.want)
			}
		}
	}
}

// TestCompletionScriptsSyntax checks each script's syntax in its shell,
// branches the completion cases do not reach included.
func TestCompletionScriptsSyntax(t *testing.T) {
	t.Parallel()
	for _, sh := range []struct{ name, check string }{{"bash", "-n"}, {"zsh", "-n"}, {"fish", "--no-execute"}} {
		s := newCompletionShell(t, sh.name)
		if !strings.Contains(mustRead(t, s.script), completeCommand) {
			t.Errorf("the %s script does not call %s", sh.name, completeCommand)
		}
		s.run(nil, sh.check, s.script)
	}
	if code, _, errOut := runCLI(t, "completion", "powershell"); code != ExitUsage || !strings.Contains(errOut, `shell "powershell" is not one of bash, zsh, fish`) {
		t.Errorf("completion powershell: exit %d, %q", code, errOut)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
