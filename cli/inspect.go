package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/lock"
)

// backendOptions select where inspection commands look: the local data
// directory (default) or AWS.
type backendOptions struct {
	data                    string
	useAWS                  bool
	region, logGroup, stack string
	// taskLogGroups are the task log groups the stack names; without all
	// four, executions are read from the state machine's log alone.
	taskLogGroups inspect.TaskLogGroups
	// stateMachineARN is the stack's state machine, which the task lines
	// leave out of the executions they name.
	stateMachineARN              string
	queueURL, dlqURL, lockTable  string
	deliveryTable                string
	suppressionTable             string
	lookback                     time.Duration
	jsonOut                      bool
	needLogs, needQueues, needDB bool
	// needSuppression: the command reads or changes the suppression list.
	needSuppression bool
	// unmask: the command reads the execution logs unmasked (replay).
	unmask bool
}

func (o *backendOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.data, "data", DefaultDataDir, "data directory of the local runtime (as for dev)")
	fs.BoolVar(&o.useAWS, "aws", false, "inspect the deployed pipeline on AWS (default credential chain) instead of the local runtime")
	fs.StringVar(&o.region, "region", os.Getenv("AWS_REGION"), "AWS region (--aws)")
	fs.StringVar(&o.stack, "stack", os.Getenv("MAILFLOW_STACK"), "CloudFormation stack of the pipeline: names the queues, the log group and the lock table (--aws; env MAILFLOW_STACK; the other flags win)")
	fs.StringVar(&o.logGroup, "log-group", os.Getenv("MAILFLOW_LOG_GROUP"), "the state machine's CloudWatch Logs log group (--aws; env MAILFLOW_LOG_GROUP)")
	fs.StringVar(&o.queueURL, "queue-url", os.Getenv("MAILFLOW_QUEUE_URL"), "source queue URL, stack output QueueUrl (--aws; env MAILFLOW_QUEUE_URL)")
	fs.StringVar(&o.dlqURL, "dlq-url", os.Getenv("MAILFLOW_DLQ_URL"), "dead-letter queue URL, stack output DeadLetterQueueUrl (--aws; env MAILFLOW_DLQ_URL)")
	fs.StringVar(&o.lockTable, "table", os.Getenv("MAILFLOW_LOCK_TABLE"), "dedup lock table (--aws; env MAILFLOW_LOCK_TABLE)")
	fs.StringVar(&o.deliveryTable, "delivery-table", os.Getenv("MAILFLOW_DELIVERY_TABLE"), "delivery record table (--aws; env MAILFLOW_DELIVERY_TABLE)")
	fs.StringVar(&o.suppressionTable, "suppression-table", os.Getenv("MAILFLOW_SUPPRESSION_TABLE"), "suppression list table (--aws; env MAILFLOW_SUPPRESSION_TABLE)")
	fs.DurationVar(&o.lookback, "lookback", 14*24*time.Hour, "how far back --aws searches the logs when no --since is given")
	bindOutputFlag(fs, &o.jsonOut)
}

func (o *backendOptions) validate() error {
	if !o.useAWS {
		if o.data == "" {
			return usagef("--data must name a directory")
		}
		return nil
	}
	if o.lookback <= 0 {
		return usagef("--lookback %s must be positive", o.lookback)
	}
	if o.stack != "" {
		return nil // checked once the stack is read
	}
	return o.checkNames("")
}

// checkNames reports the AWS resources the command needs and nobody named.
func (o *backendOptions) checkNames(stack string) error {
	var missing []string
	if o.needLogs && o.logGroup == "" {
		missing = append(missing, "--log-group")
	}
	if o.needQueues && o.queueURL == "" {
		missing = append(missing, "--queue-url")
	}
	if o.needQueues && o.dlqURL == "" {
		missing = append(missing, "--dlq-url")
	}
	if o.needDB && o.lockTable == "" {
		missing = append(missing, "--table")
	}
	if o.needSuppression && o.suppressionTable == "" {
		missing = append(missing, "--suppression-table")
	}
	switch {
	case len(missing) > 0 && stack != "":
		return fmt.Errorf("stack %s does not name everything this command needs: give %s", stack, strings.Join(missing, ", "))
	case len(missing) > 0:
		return usagef("--aws needs %s (or their MAILFLOW_* environment variables, or --stack)", strings.Join(missing, ", "))
	}
	return nil
}

// subcommands dispatches "executions list", "dlq redrive", ...
func subcommands(name string, subs map[string]func(context.Context, []string, Streams) error, order []string) func(context.Context, []string, Streams) error {
	return func(ctx context.Context, args []string, s Streams) error {
		if s.desc != nil && len(args) == 1 && args[0] == "-h" {
			s.desc.verbs = order
			return flag.ErrHelp
		}
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprintf(s.Err, "usage: mailflow %s <%s> [flags]\n", name, strings.Join(order, "|"))
			if len(args) == 0 {
				return usagef("a subcommand is required: %s", strings.Join(order, ", "))
			}
			return flag.ErrHelp
		}
		run, ok := subs[args[0]]
		if !ok {
			return usagef("unknown subcommand %q (want %s)", args[0], strings.Join(order, ", "))
		}
		return run(ctx, args[1:], s)
	}
}

func runExecutions(ctx context.Context, args []string, s Streams) error {
	return subcommands("executions", map[string]func(context.Context, []string, Streams) error{
		"list": runExecutionsList, "show": runExecutionsShow,
	}, []string{"list", "show"})(ctx, args, s)
}

// timeFlag parses an RFC 3339 time, a date, or a duration meaning "that
// long ago".
type timeFlag struct {
	t   *time.Time
	now func() time.Time
}

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f timeFlag) Set(v string) error {
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return errors.New("a duration must be positive (it means that long ago)")
		}
		*f.t = f.now().Add(-d)
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			*f.t = t
			return nil
		}
	}
	return errors.New("want an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02) or a duration ago (2h)")
}

// failedMarkLegend explains the mark of the STATUS column.
var failedMarkLegend = "In the STATUS column, ! marks an execution with an item not delivered, or whose status is not " +
	string(asl.StatusSucceeded) + " or " + string(asl.StatusRunning) + "."

// statusFlag is --status in any case. "FAILED" is the execution status
// and "failed" the executions with an item not delivered; a spelling of
// failed in mixed case means the latter, the wider one, which holds the
// former. Another value is kept as given, for Filter.Validate to name.
type statusFlag struct{ dst *string }

func (f statusFlag) String() string {
	if f.dst == nil {
		return ""
	}
	return *f.dst
}

func (f statusFlag) choices() []string {
	return inspect.Statuses
}

func (f statusFlag) Set(v string) error {
	*f.dst = v
	switch {
	case v == string(asl.StatusFailed):
	case strings.EqualFold(v, inspect.StatusFailedItems):
		*f.dst = inspect.StatusFailedItems
	default:
		for _, st := range inspect.Statuses {
			if strings.EqualFold(v, st) {
				*f.dst = st
			}
		}
	}
	return nil
}

type listOptions struct {
	backendOptions
	filter inspect.Filter
}

// validate reports every mistake of the command line at once.
func (o *listOptions) validate() error {
	var msgs []string
	if err := o.backendOptions.validate(); err != nil {
		msgs = append(msgs, err.Error())
	}
	filter := o.filter
	if filter.Limit < 1 || filter.Limit > 1000 {
		msgs = append(msgs, fmt.Sprintf("--limit %d is outside 1..1000", filter.Limit))
		filter.Limit = 0 // reported above, in the flag's own words
	}
	if err := filter.Validate(); err != nil {
		msgs = append(msgs, err.Error())
	}
	return usageErrors(msgs...)
}

func runExecutionsList(ctx context.Context, args []string, s Streams) error {
	o := listOptions{backendOptions: backendOptions{needLogs: true}}
	fs := newFlags("executions list", s, "[flags]\n\n"+failedMarkLegend)
	o.register(fs)
	fs.Var(statusFlag{&o.filter.Status}, "status", "only this status, in any case: "+strings.Join(inspect.Statuses, ", ")+
		" ("+inspect.StatusFailedItems+", in any case but "+string(asl.StatusFailed)+": the executions marked !; "+
		string(asl.StatusFailed)+": the execution's own status)")
	fs.StringVar(&o.filter.Outcome, "outcome", "", "only executions with an item of this outcome: "+strings.Join(inspect.Outcomes, ", "))
	fs.StringVar(&o.filter.MailID, "mail-id", "", "only executions that touched this mail")
	fs.Var(timeFlag{&o.filter.Since, time.Now}, "since", "started at or after (RFC 3339, date, or duration ago like 2h)")
	fs.Var(timeFlag{&o.filter.Until, time.Now}, "until", "started before (RFC 3339, date, or duration ago)")
	fs.IntVar(&o.filter.Limit, "limit", 20, "executions per page (1-1000)")
	fs.StringVar(&o.filter.Cursor, "cursor", "", "continue after a previous page (its next-page cursor)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	b, err := o.open(ctx, s)
	if err != nil {
		return err
	}
	defer b.Close()
	page, err := b.Source.List(ctx, o.filter)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return printJSON(s.Out, page)
	}
	if len(page.Executions) == 0 {
		fmt.Fprintln(s.Out, "no executions"+historyNote(b))
		return nil
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED (UTC)\tSTATUS\tITEMS\tDURATION\tOUTCOMES\tNAME")
	for _, x := range page.Executions {
		status := string(x.Status)
		if (x.LogLevel == inspect.LevelError || x.LogLevel == inspect.LevelFatal) && x.StoppedAt.IsZero() {
			status = "unknown" // no end is logged of a success at these levels
		}
		if x.Failed() {
			status += " !"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", startedText(x.StartedAt), status, len(x.Items),
			durationText(&x), outcomesText(&x), x.Name)
	}
	tw.Flush()
	for _, x := range page.Executions {
		if len(x.Warnings) > 0 {
			fmt.Fprintf(s.Err, "warning: %s: %d log event field(s) unreadable, first: %s (executions show %s lists them)\n", x.Name, len(x.Warnings), x.Warnings[0], x.Name)
		}
	}
	if page.NextCursor != "" {
		fmt.Fprintf(s.Out, "more: --cursor %s\n", page.NextCursor)
	}
	return nil
}

// historyNote is what an answer that found no execution adds: what history
// the backend keeps, as the execution may have been pruned.
func historyNote(b *inspect.Backend) string {
	if b.History == "" {
		return ""
	}
	return " (" + b.History + ")"
}

func outcomesText(x *inspect.Execution) string {
	text := x.Summary()
	var errs []string
	for _, it := range x.Items {
		if it.Error != "" && !contains(errs, it.Error) {
			errs = append(errs, it.Error)
		}
	}
	if len(errs) > 0 {
		text += " (" + strings.Join(errs, ", ") + ")"
	}
	if x.Error != "" {
		text += " execution " + x.Error
	}
	return text
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

type showOptions struct {
	backendOptions
	id     string
	events bool
}

func runExecutionsShow(ctx context.Context, args []string, s Streams) error {
	o := showOptions{backendOptions: backendOptions{needLogs: true}}
	fs := newFlags("executions show", s, "ID [flags]   (ID: execution ARN, name, or a unique prefix of the name)")
	o.register(fs)
	fs.BoolVar(&o.events, "events", false, "also print every history event")
	b, x, err := o.openExecution(ctx, fs, args, &o.id, s)
	if err != nil {
		return err
	}
	defer b.Close()
	tl := inspect.BuildTimeline(x.Events)
	if o.jsonOut {
		return printJSON(s.Out, struct {
			*inspect.Execution
			Timeline inspect.Timeline `json:"timeline"`
		}{x, tl})
	}
	printExecution(s.Out, x, tl, o.events)
	return nil
}

func printExecution(w io.Writer, x *inspect.Execution, tl inspect.Timeline, events bool) {
	failed := 0
	for _, it := range x.Items {
		if it.Failed() {
			failed++
		}
	}
	fmt.Fprintf(w, "execution  %s\n", x.ID)
	onlyFailures := x.LogLevel == inspect.LevelError || x.LogLevel == inspect.LevelFatal
	if onlyFailures && x.StoppedAt.IsZero() {
		// A succeeded or running execution logs no end at these levels.
		fmt.Fprintf(w, "status     unknown: no end logged at log level %s, which logs failures only (%d of %d items not delivered)\n", x.LogLevel, failed, len(x.Items))
	} else {
		fmt.Fprintf(w, "status     %s (%d of %d items not delivered)\n", x.Status, failed, len(x.Items))
	}
	switch {
	case x.StartMissing && onlyFailures:
		fmt.Fprintf(w, "started    unknown (log level %s logs no start; first event logged %s)  duration unknown\n", x.LogLevel, x.FirstLoggedAt.UTC().Format(time.RFC3339Nano))
	case x.StartMissing:
		fmt.Fprintf(w, "started    unknown (the start event is missing from the logs; first event logged %s)  duration unknown\n", x.FirstLoggedAt.UTC().Format(time.RFC3339Nano))
	default:
		fmt.Fprintf(w, "started    %s  duration %s\n", x.StartedAt.UTC().Format(time.RFC3339Nano), durationText(x))
	}
	if x.Error != "" {
		fmt.Fprintf(w, "error      %s: %s\n", x.Error, inspect.CauseMessage(x.Cause))
	}
	switch {
	case x.InputTruncated:
		fmt.Fprintln(w, "input      truncated in the logs (over 248 KB): record bodies come from each iteration's input")
	case x.InputMissing && onlyFailures:
		fmt.Fprintf(w, "input      not logged (log level %s logs failures only): replay is not possible from the logs\n", x.LogLevel)
	case x.InputMissing:
		fmt.Fprintln(w, "input      not logged (execution data is off): replay is not possible from the logs")
	case x.StartMissing:
		fmt.Fprintln(w, "input      its event (the start) is missing from the logs: record bodies come from each iteration's input")
	}
	if x.OutputTruncated {
		fmt.Fprintln(w, "output     truncated in the logs (over 248 KB)")
	}
	for _, warning := range x.Warnings {
		fmt.Fprintf(w, "warning    unreadable in the logs: %s\n", warning)
	}
	fmt.Fprintln(w, "items:")
	for _, it := range x.Items {
		line := fmt.Sprintf("  #%d  %-14s mail %s  message %s", it.Index, it.Outcome, orDash(it.MailID), orDash(it.MessageID))
		if it.Error != "" {
			line += "\n        " + it.Error
			if it.Cause != "" {
				line += ": " + it.Cause
			}
		}
		if it.SESMessageID != "" {
			line += "\n        SES message id " + it.SESMessageID
		}
		for _, st := range it.Steps {
			line += fmt.Sprintf("\n        %s  %-16s %s", st.Time.UTC().Format("15:04:05.000"), st.Task, stepResult(st))
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w, "timeline:")
	printRuns(w, "  ", tl.States)
	for _, it := range tl.Iterations {
		fmt.Fprintf(w, "  iteration %d  mail %s  %s\n", it.Index, orDash(it.MailID), orDash(string(it.Outcome)))
		printRuns(w, "    ", it.States)
	}
	if events {
		fmt.Fprintln(w, "events:")
		for _, ev := range x.Events {
			fmt.Fprintf(w, "  %3d <- %3d  %s  %s %s\n", ev.ID, ev.PreviousID, ev.Timestamp.UTC().Format("15:04:05.000"), ev.Type, ev.Name)
		}
	}
}

func printRuns(w io.Writer, indent string, runs []inspect.StateRun) {
	for _, r := range runs {
		name, took := r.Name, r.Duration.Round(time.Millisecond).String()
		if name == "" {
			name = "(state not logged)"
		}
		if r.Entered.IsZero() {
			took = "?"
		}
		line := fmt.Sprintf("%s%-22s %-7s %9s  %s", indent, name, r.Type, took, r.Status)
		if r.Retries > 0 {
			line += fmt.Sprintf(" after %d retries", r.Retries)
		}
		fmt.Fprintln(w, line)
		for _, f := range r.Failures {
			fmt.Fprintf(w, "%s  ! %s: %s\n", indent, f.Error, oneLine(inspect.CauseMessage(f.Cause)))
		}
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// startedText is a start time for a listing; a start not logged is
// unknown, never guessed.
func startedText(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// durationText is an execution's duration, or "unknown" when one of its
// ends is not logged.
func durationText(x *inspect.Execution) string {
	if x.StartMissing {
		return "unknown"
	}
	return x.Duration().Round(time.Millisecond).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseInterleaved parses flags that may come before or after up to
// positional arguments ("show ID --json" and "show --json ID").
// openExecution parses a command line whose one positional argument is an
// execution ID, validates the options, opens the backend and reads the
// execution. The caller closes the backend.
func (o *backendOptions) openExecution(ctx context.Context, fs *flag.FlagSet, args []string, id *string, s Streams) (*inspect.Backend, *inspect.Execution, error) {
	rest, err := parseInterleaved(fs, args, 1)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) == 0 || strings.TrimSpace(rest[0]) == "" {
		return nil, nil, usagef("an execution ID is required")
	}
	*id = rest[0]
	if err := o.validate(); err != nil {
		return nil, nil, err
	}
	b, err := o.open(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	x, err := b.Source.Get(ctx, *id)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return b, x, nil
}

func parseInterleaved(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) > positional {
		return nil, usagef("unexpected argument %q", strings.Join(pos[positional:], " "))
	}
	return pos, nil
}

func runMail(ctx context.Context, args []string, s Streams) error {
	return subcommands("mail", map[string]func(context.Context, []string, Streams) error{
		"status": runMailStatus,
	}, []string{"status"})(ctx, args, s)
}

func runMailStatus(ctx context.Context, args []string, s Streams) error {
	o := backendOptions{needLogs: true, needDB: true}
	fs := newFlags("mail status", s, "MAILID [flags]")
	o.register(fs)
	rest, err := parseInterleaved(fs, args, 1)
	if err != nil {
		return err
	}
	if len(rest) == 0 || strings.TrimSpace(rest[0]) == "" {
		return usagef("a mail id is required")
	}
	if err := o.validate(); err != nil {
		return err
	}
	b, err := o.open(ctx, s)
	if err != nil {
		return err
	}
	defer b.Close()
	st, err := inspect.Mail(ctx, rest[0], b, time.Now())
	if err != nil {
		return err
	}
	if o.jsonOut {
		return printJSON(s.Out, st)
	}
	fmt.Fprintf(s.Out, "mail %s\n", st.MailID)
	switch l := st.Lock; {
	case l == nil:
		fmt.Fprintln(s.Out, "lock       none (never sent, or released after a failure)")
	case l.Status == lock.Sent:
		fmt.Fprintf(s.Out, "lock       SENT at %s, SES message id %s\n", l.SentAt.UTC().Format(time.RFC3339), l.SESMessageID)
	case l.OutcomeUnknown:
		fmt.Fprintf(s.Out, "lock       OUTCOME UNKNOWN: %s started a send at %s and its answer was never recorded; the mail may have been delivered, so nothing sends it again until `mailflow replay EXECUTION --force`\n",
			l.Owner, l.AttemptedAt.UTC().Format(time.RFC3339))
	default:
		fmt.Fprintf(s.Out, "lock       %s by %s until %s, %d send attempt(s) so far\n", l.Status, l.Owner, l.LeaseUntil.UTC().Format(time.RFC3339), l.SendAttempts)
	}
	if st.Lock != nil && st.Lock.Expired {
		fmt.Fprintln(s.Out, "           (expired: the dedup window is over)")
	}
	if len(st.Executions) == 0 {
		fmt.Fprintln(s.Out, "executions none"+historyNote(b))
	} else {
		fmt.Fprintf(s.Out, "executions %d\n", len(st.Executions))
	}
	for _, e := range st.Executions {
		line := fmt.Sprintf("  %s  %-13s %s", startedText(e.StartedAt), e.Item.Outcome, e.ExecutionID)
		if e.Item.Error != "" {
			line += "  " + e.Item.Error
		}
		if e.Item.SESMessageID != "" {
			line += "  SES " + e.Item.SESMessageID
		}
		for _, st := range e.Item.Steps {
			line += fmt.Sprintf("\n      %s  %-16s %s", st.Time.UTC().Format("15:04:05.000"), st.Task, stepResult(st))
		}
		fmt.Fprintln(s.Out, line)
	}
	printDelivery(s.Out, st)
	return nil
}

// stepResult is a task step's result, or its error and cause.
func stepResult(st inspect.Step) string {
	if st.Error == "" {
		return st.Result
	}
	if st.Cause == "" {
		return st.Error
	}
	return st.Error + ": " + st.Cause
}
