// Package cli is the mailflow command line: `dev` runs the pipeline on this
// machine (and its web console), `send` enqueues a mail, `events` reads the
// local outcome events and their webhook deliveries, and `executions`,
// `replay`, `dlq` and `mail` inspect and replay what happened, locally or
// with --aws on the deployed pipeline (package inspect), and `suppression`
// lists and changes the suppression list; `version` (or --version) says
// which build this is. Each subcommand parses its own flags,
// validates them before doing anything, and writes to the streams it is
// given, so tests drive it like a user does.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
	// ExitTimeout: `send --wait` saw no outcome within its --timeout.
	ExitTimeout = 3
)

// Streams are a command's standard input and outputs.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, s Streams) error
}

func commands() []command {
	return []command{
		{"dev", "run the whole pipeline on this machine, with no AWS account", runDev},
		{"send", "enqueue a mail (uploading attachments first)", runSend},
		{"executions", "list executions, or show one as a timeline (list, show)", runExecutions},
		{"replay", "re-enqueue the records of an execution (its failed ones with --failed-only)", runReplay},
		{"dlq", "the dead-letter queue: list, filter, redrive, delete, purge (list, redrive, delete, purge)", runDLQ},
		{"mail", "a mail's lock state, executions and delivery (status)", runMail},
		{"suppression", "the addresses mailflow does not send to (list, add, remove)", runSuppression},
		{"events", "the outcome events of the local runtime, and their webhook deliveries", runEvents},
		{"version", "the module version and VCS revision of this binary (also --version)", runVersion},
	}
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
	s := Streams{In: in, Out: out, Err: errOut}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
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
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], s)
		var ue *usageError
		var ee *exitError
		switch {
		case err == nil:
			return ExitOK
		case errors.Is(err, flag.ErrHelp):
			return ExitOK
		case errors.As(err, &ue):
			fmt.Fprintf(errOut, "mailflow %s: %v\n(see mailflow %s -h)\n", c.name, err, c.name)
			return ExitUsage
		case errors.As(err, &ee):
			fmt.Fprintf(errOut, "mailflow %s: %v\n", c.name, err)
			return ee.code
		default:
			fmt.Fprintf(errOut, "mailflow %s: %v\n", c.name, err)
			return ExitFailure
		}
	}
	fmt.Fprintf(errOut, "mailflow: unknown command %q\n\n", args[0])
	printHelp(errOut)
	return ExitUsage
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "mailflow: a transactional e-mail pipeline (SQS -> Pipes -> Step Functions -> SES), locally or on AWS.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'mailflow <command> -h' for its flags.")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, s Streams, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("mailflow "+name, flag.ContinueOnError)
	fs.SetOutput(s.Err)
	fs.Usage = func() {
		fmt.Fprintf(s.Err, "usage: mailflow %s %s\n\n", name, usage)
		fs.PrintDefaults()
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
