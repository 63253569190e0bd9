// Package cli is the mailflow command line: `dev` runs the pipeline on this
// machine (and its web console), `send` enqueues a mail, `events` reads the
// local outcome events and their webhook deliveries, and `executions`,
// `replay`, `dlq` and `mail` inspect and replay what happened, locally or
// with --aws on the deployed pipeline (package inspect), and `suppression`
// lists and changes the suppression list; `version` (or --version) says
// which build this is, and `completion` prints a shell completion script.
// Each subcommand parses its own flags, validates them before doing
// anything, and writes to the streams it is given, so tests drive it like a
// user does.
//
// Flags are the standard library's flag package, not cobra/pflag. The
// command line has always taken Go-style flags, with one dash or two
// (`-status x` and `--status x`), and docs, tests and scripts spell both;
// pflag rejects a single-dash long flag, so moving to it would break every
// one of them. What a library would add, a tree of commands that can be
// listed without running them, is the registry in this file: the
// command table below, and for each command the verbs and the
// flag set its own code builds. A command is described by running it with
// -h on describing streams: newFlags hands the flag set to the describer
// and subcommands its verbs, and as every command parses before it acts,
// nothing else runs. So completion, `mailflow help` and docs/CLI.md list
// exactly the flags the commands parse, and a new flag is completed and
// documented without anything else to change.
//
// Conventions, as aws, gh and kubectl have them: every command that prints
// data takes -o table (the default) or -o json (--json is the older
// spelling of -o json), and in JSON mode stdout holds the JSON alone;
// -v/--verbose, before or after the command, adds the internal cause to an
// error, which otherwise says in the user's terms what went wrong and what
// to do (userError); the exit codes are listed by `mailflow help
// exit-codes`.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/suppression"
)

// Exit codes. exitCodes says what each means; `mailflow help exit-codes`
// and docs/CLI.md print it.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
	// ExitTimeout: `send --wait` saw no outcome within its --timeout.
	ExitTimeout = 3
)

// exitCodes is the meaning of every exit code, in order.
var exitCodes = []struct {
	code    int
	meaning string
}{
	{ExitOK, "success (also -h and --help)"},
	{ExitFailure, "the command failed: the error is printed on stderr (with -v, its internal cause too); `send --wait`: the mail was dead-lettered (with `--until delivered` also bounced, complained or rejected)"},
	{ExitUsage, "usage error: an unknown command, verb or flag, a missing argument or an invalid value, named on stderr; nothing was done"},
	{ExitTimeout, "`send --wait` saw no outcome within its --timeout (the mail was enqueued and may still be sent)"},
}

// Streams are a command's standard input and outputs.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer

	// global holds the options every command takes (-v); never nil
	// within Run.
	global *globalOptions
	// desc, when set, makes the command describe itself instead of
	// running: see describe.
	desc *describer
}

// globalOptions are the flags of every command.
type globalOptions struct {
	verbose bool
}

func (s Streams) verbose() bool { return s.global != nil && s.global.verbose }

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, s Streams) error
	// hidden commands are left out of help, docs and completion.
	hidden bool
}

func commands() []command {
	return []command{
		{name: "dev", summary: "run the whole pipeline on this machine, with no AWS account", run: runDev},
		{name: "send", summary: "enqueue a mail (uploading attachments first)", run: runSend},
		{name: "executions", summary: "list executions, or show one as a timeline", run: runExecutions},
		{name: "replay", summary: "re-enqueue the records of an execution (its failed ones with --failed-only)", run: runReplay},
		{name: "dlq", summary: "the dead-letter queue, as a list to filter, redrive, delete and purge", run: runDLQ},
		{name: "mail", summary: "a mail's lock state, executions and delivery", run: runMail},
		{name: "suppression", summary: "the addresses mailflow does not send to", run: runSuppression},
		{name: "events", summary: "the outcome events of the local runtime, and their webhook deliveries", run: runEvents},
		{name: "version", summary: "the module version and VCS revision of this binary (also --version)", run: runVersion},
		{name: "completion", summary: "print the shell completion script for bash, zsh or fish", run: runCompletion},
		{name: "help", summary: "help on a command, or on the exit codes (help exit-codes)", run: runHelp},
		{name: completeCommand, summary: "the completion candidates for a partial command line (called by the completion scripts)", run: runComplete, hidden: true},
	}
}

// verbSummaries is the one line said of each verb. A verb without one
// fails TestEveryCommandAndFlagIsDescribed.
var verbSummaries = map[string]string{
	"executions list":    "list executions, newest first, with filters and pages",
	"executions show":    "show one execution: its items and its timeline",
	"dlq list":           "list the dead-letter queue's messages, with their reasons",
	"dlq show":           "show one dead-lettered message in full",
	"dlq redrive":        "move dead-lettered messages back to the source queue",
	"dlq delete":         "delete one message from the dead-letter queue",
	"dlq purge":          "delete the selected messages of the dead-letter queue (with --yes)",
	"mail status":        "a mail's lock state, executions and delivery",
	"suppression list":   "list the suppression list",
	"suppression add":    "add an address to the suppression list",
	"suppression remove": "remove an address from the suppression list",
	"events deliveries":  "the webhook deliveries of an event (or the latest ones) with their attempts",
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError is a failure with an exit code of its own.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrors is one usage error listing every mistake found, one a line;
// nil when there is none.
func usageErrors(msgs ...string) error {
	if len(msgs) == 0 {
		return nil
	}
	return &usageError{strings.Join(msgs, "\n")}
}

// Run runs the command line args and returns the exit code.
func Run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	g := &globalOptions{}
	// Global flags may come before the command, as in `mailflow -v dlq list`.
	for len(args) > 0 && isVerboseFlag(args[0]) {
		g.verbose = true
		args = args[1:]
	}
	s := Streams{In: in, Out: out, Err: errOut, global: g}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		printHelp(out)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return report(errOut, c.name, c.run(ctx, args[1:], s), g.verbose)
		}
	}
	fmt.Fprintf(errOut, "mailflow: unknown command %q\n\n", args[0])
	printHelp(errOut)
	return ExitUsage
}

func isVerboseFlag(arg string) bool {
	switch arg {
	case "-v", "--v", "-verbose", "--verbose":
		return true
	}
	return false
}

// report prints a command's error and returns its exit code: a usage
// error with the way to the command's help, another error in the user's
// terms (userErrorOf), with its internal cause when verbose.
func report(w io.Writer, name string, err error, verbose bool) int {
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(w, "mailflow %s: %v\n(see mailflow %s -h)\n", name, err, name)
		return ExitUsage
	}
	code := ExitFailure
	if errors.As(err, &ee) {
		code = ee.code
	}
	printError(w, "mailflow "+name, userErrorOf(err), verbose)
	return code
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "mailflow: a transactional e-mail pipeline (SQS -> Pipes -> Step Functions -> SES), locally or on AWS.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: mailflow [-v] <command> [<verb>] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		if c.hidden {
			continue
		}
		summary := c.summary
		if verbs := describe(c).verbs; len(verbs) > 0 {
			names := make([]string, len(verbs))
			for i, v := range verbs {
				names[i] = v.name
			}
			summary += " (" + strings.Join(names, ", ") + ")"
		}
		fmt.Fprintf(w, "  %-12s %s\n", c.name, summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Global flags:")
	fmt.Fprintln(w, "  -v, --verbose  with an error, also print its internal cause (before or after the command)")
	fmt.Fprintln(w, "  -o json|table  on every command that prints data (--json is -o json)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'mailflow <command> -h' for its flags, 'mailflow help exit-codes' for the exit codes,")
	fmt.Fprintln(w, "'mailflow completion bash|zsh|fish' for shell completion.")
}

func printExitCodes(w io.Writer) {
	fmt.Fprintln(w, "Exit codes:")
	for _, e := range exitCodes {
		fmt.Fprintf(w, "  %d  %s\n", e.code, e.meaning)
	}
}

// runHelp is `mailflow help [COMMAND [VERB] | exit-codes]`.
func runHelp(ctx context.Context, args []string, s Streams) error {
	fs := newFlags("help", s, "[COMMAND [VERB] | exit-codes]")
	if s.desc != nil {
		s.desc.args = append(visibleCommandNames(), "exit-codes")
	}
	args, err := parseInterleaved(fs, args, 2)
	if err != nil {
		return err
	}
	switch {
	case len(args) == 0:
		printHelp(s.Out)
		return nil
	case args[0] == "exit-codes":
		printExitCodes(s.Out)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] && !c.hidden {
			// The command's own -h, on stdout: help was asked for.
			return c.run(ctx, append(args[1:], "-h"), Streams{In: s.In, Out: s.Out, Err: s.Out, global: s.global})
		}
	}
	return usagef("no help on %q: want a command (%s) or exit-codes", args[0], strings.Join(visibleCommandNames(), ", "))
}

func visibleCommandNames() []string {
	var names []string
	for _, c := range commands() {
		if !c.hidden {
			names = append(names, c.name)
		}
	}
	return names
}

// newFlags returns a flag set that reports errors instead of exiting, with
// the global flags on it (so they also work after the command). When the
// command is describing itself, the describer takes the flag set.
func newFlags(name string, s Streams, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("mailflow "+name, flag.ContinueOnError)
	fs.SetOutput(s.Err)
	fs.Usage = func() {
		fmt.Fprintf(s.Err, "usage: mailflow %s %s\n\n", name, usage)
		fs.PrintDefaults()
	}
	g := s.global
	if g == nil {
		g = &globalOptions{}
	}
	// The default is the value so far: a -v before the command stays set.
	fs.BoolVar(&g.verbose, "v", g.verbose, "with an error, also print its internal cause")
	fs.BoolVar(&g.verbose, "verbose", g.verbose, "with an error, also print its internal cause (as -v)")
	if s.desc != nil {
		s.desc.fs, s.desc.usage = fs, usage
	}
	return fs
}

// parse parses flags and refuses stray positional arguments.
func parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	if fs.NArg() > positional {
		return nil, usagef("unexpected argument %q", strings.Join(fs.Args()[positional:], " "))
	}
	return fs.Args(), nil
}

// listFlag collects a repeatable flag, one value per use (addresses may
// contain commas, so values are never split).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error {
	if v = strings.TrimSpace(v); v == "" {
		return errors.New("empty value")
	}
	*l = append(*l, v)
	return nil
}

// The registry: every command, its verbs and its flags, as the commands'
// own code declares them.

// describer is what a command tells of itself when run with -h on
// describing streams: the flag set it built, its usage line, its verbs
// and the values of its positional argument when they are a set.
type describer struct {
	fs    *flag.FlagSet
	usage string
	verbs []string
	args  []string
}

// declareVerbs tells a describer the verbs of a command that dispatches
// them itself (events deliveries).
func declareVerbs(s Streams, verbs ...string) {
	if s.desc != nil {
		s.desc.verbs = verbs
	}
}

// node is one command or verb of the registry.
type node struct {
	name    string // "list"
	path    string // "dlq list"
	summary string
	usage   string // the synopsis after the path, as -h prints it
	flags   []flagSpec
	verbs   []*node
	// args are the values the positional argument takes, when a set
	// (completion SHELL).
	args []string
}

// flagSpec is one flag with its aliases (the names sharing its value).
type flagSpec struct {
	names    []string // longest first: "output", "o"
	usage    string
	def      string
	isBool   bool
	choices  []string
	complete string // completeFiles or completeDirs for a path, else ""
}

// registry is the command tree, the hidden commands left out.
func registry() []*node {
	var nodes []*node
	for _, c := range commands() {
		if !c.hidden {
			nodes = append(nodes, describe(c))
		}
	}
	return nodes
}

// describe builds the node of a command by running it with -h on
// describing streams, then each of its verbs.
func describe(c command) *node {
	n := describeAt(c.run, nil, c.name)
	n.summary = c.summary
	return n
}

func describeAt(run func(context.Context, []string, Streams) error, prefix []string, path string) *node {
	d := &describer{}
	s := Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard, global: &globalOptions{}, desc: d}
	_ = run(context.Background(), append(append([]string{}, prefix...), "-h"), s)
	n := &node{name: path[strings.LastIndex(path, " ")+1:], path: path, usage: d.usage, args: d.args}
	if d.fs != nil {
		n.flags = flagSpecs(path, d.fs)
	}
	for _, v := range d.verbs {
		child := describeAt(run, append(append([]string{}, prefix...), v), path+" "+v)
		child.summary = verbSummaries[child.path]
		n.verbs = append(n.verbs, child)
	}
	return n
}

// choicesOf is a flag's set of values: its Value's, or flagChoices'.
type choicer interface{ choices() []string }

// flagChoices are the values of the plain string flags that take a set.
// Each key names a flag that exists (TestFlagChoicesNameFlags).
var flagChoices = map[string][]string{
	"dev --pacing":              {"on", "off"},
	"dev --log-level":           logLevelNames,
	"dev --log-format":          {logText, logJSON},
	"executions list --outcome": inspect.Outcomes,
	"suppression add --reason":  {string(suppression.Bounce), string(suppression.Complaint)},
}

// Path completion kinds.
const (
	completeFiles = "files"
	completeDirs  = "dirs"
)

// pathFlags are the flags whose value is a file or a directory.
var pathFlags = map[string]string{
	"data": completeDirs, "text-file": completeFiles, "html-file": completeFiles,
	"attach": completeFiles, "config": completeFiles,
}

func flagSpecs(path string, fs *flag.FlagSet) []flagSpec {
	var specs []flagSpec
	byValue := map[any]int{}
	fs.VisitAll(func(f *flag.Flag) {
		// Aliases share one Value (-v and --verbose, --limit and --max):
		// one spec with both names, the usage of the first.
		key, keyed := valueKey(f.Value)
		if i, ok := byValue[key]; ok && keyed {
			specs[i].names = append(specs[i].names, f.Name)
			return
		}
		spec := flagSpec{names: []string{f.Name}, usage: f.Usage, def: f.DefValue, complete: pathFlags[f.Name]}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			spec.isBool = true
		}
		if c, ok := f.Value.(choicer); ok {
			spec.choices = c.choices()
		} else if c, ok := flagChoices[path+" --"+f.Name]; ok {
			spec.choices = c
		}
		if keyed {
			byValue[key] = len(specs)
		}
		specs = append(specs, spec)
	})
	for i := range specs {
		sort.SliceStable(specs[i].names, func(a, b int) bool { return len(specs[i].names[a]) > len(specs[i].names[b]) })
	}
	return specs
}

// valueKey is a flag's Value as a map key, when it can be one (a Value
// holding a func cannot).
func valueKey(v flag.Value) (any, bool) {
	if !reflect.TypeOf(v).Comparable() {
		return nil, false
	}
	return v, true
}

// longName is a flag's name as written on a command line: --name, or -n
// for a one-letter one.
func longName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
