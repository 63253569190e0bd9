package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailflow/mailflow/inspect"
)

// The dlq commands manage the dead-letter queue as a list: read it page by
// page, select by error, reason, age, mail or recipient domain, and redrive,
// delete or purge what is selected. Locally they work on the queue store
// itself (nothing is received); on AWS, list (without --after) and the
// unfiltered redrive work as SQS allows, and the rest says it needs the
// local store.

func runDLQ(ctx context.Context, args []string, s Streams) error {
	return subcommands("dlq", map[string]func(context.Context, []string, Streams) error{
		"list": runDLQList, "redrive": runDLQRedrive, "delete": runDLQDelete, "purge": runDLQPurge,
	}, []string{"list", "redrive", "delete", "purge"})(ctx, args, s)
}

// dlqFilterFlags are the selection flags list, redrive and purge share.
type dlqFilterFlags struct {
	filter inspect.DeadLetterFilter
}

func (f *dlqFilterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.filter.Error, "error", "", "only messages with this error name (any case), like Mail.InvalidMessage")
	fs.StringVar(&f.filter.Reason, "reason", "", "only messages whose cause contains this text (any case)")
	fs.DurationVar(&f.filter.OlderThan, "older-than", 0, "only messages sent longer ago than this, like 24h")
	fs.StringVar(&f.filter.MailID, "mail-id", "", "only the messages of this mail")
	fs.StringVar(&f.filter.RecipientDomain, "recipient-domain", "", "only mails with a to, cc or bcc address at this domain")
}

func (f *dlqFilterFlags) validate(now time.Time) error {
	f.filter.Now = now
	if f.filter.OlderThan < 0 {
		return usagef("--older-than %s must not be negative", f.filter.OlderThan)
	}
	if d := f.filter.RecipientDomain; d != "" && (strings.Contains(d, "@") || strings.ContainsAny(d, " \t\r\n")) {
		return usagef("--recipient-domain %q must be a domain alone, like example.com", d)
	}
	return nil
}

// explainSource is where reasons for messages without one are read: the
// executions, when they can be read (on AWS, with --log-group).
func explainSource(o *backendOptions, b *inspect.Backend) inspect.Source {
	if b.Via != "aws" || o.logGroup != "" {
		return b.Source
	}
	return nil
}

// needStore turns the error of an operation SQS cannot do into one that
// says what works instead.
func needStore(err error, instead string) error {
	if errors.Is(err, inspect.ErrNoDeadLetterStore) {
		return fmt.Errorf("%w; with --aws %s", err, instead)
	}
	return err
}

type dlqListOptions struct {
	backendOptions
	dlqFilterFlags
	limit int
	after string
}

func runDLQList(ctx context.Context, args []string, s Streams) error {
	o := dlqListOptions{backendOptions: backendOptions{needQueues: true}}
	fs := newFlags("dlq list", s, "[flags]")
	o.backendOptions.register(fs)
	o.dlqFilterFlags.register(fs)
	fs.IntVar(&o.limit, "limit", 0, "at most this many messages; 0 lists all (with --aws, all that 10000 receives find)")
	fs.IntVar(&o.limit, "max", 0, "the older name of --limit")
	fs.StringVar(&o.after, "after", "", "start after this message id: the last one of the previous page (not with --aws)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := o.backendOptions.validate(); err != nil {
		return err
	}
	if err := o.dlqFilterFlags.validate(time.Now()); err != nil {
		return err
	}
	if o.limit < 0 {
		return usagef("--limit %d must not be negative (0 lists all)", o.limit)
	}
	if o.useAWS && o.after != "" {
		return usagef("--after is not available with --aws: SQS cannot read a queue from a given message")
	}
	b, err := o.open(ctx, s)
	if err != nil {
		return err
	}
	defer b.Close()
	page, err := b.Queues.FindDeadLetters(ctx, inspect.DeadLetterQuery{Filter: o.filter, After: o.after, Limit: o.limit,
		Explain: explainSource(&o.backendOptions, b)})
	if err != nil {
		return err
	}
	if o.jsonOut {
		// The next page starts after the last message listed (--after).
		return printJSON(s.Out, page.Messages)
	}
	if len(page.Messages) == 0 && page.Scanned == 0 && o.after == "" {
		fmt.Fprintln(s.Out, "the dead-letter queue is empty")
		return nil
	}
	printDeadLetters(s.Out, page.Messages)
	if o.filter.Empty() {
		fmt.Fprintf(s.Out, "%d message(s) in %s\n", len(page.Messages), b.Queues.DLQURL)
	} else {
		fmt.Fprintf(s.Out, "%d message(s) match, of %d read in %s\n", len(page.Messages), page.Scanned, b.Queues.DLQURL)
	}
	if page.Next != "" {
		fmt.Fprintf(s.Out, "more follow: list them with --after %s\n", page.Next)
	}
	return nil
}

func printDeadLetters(w io.Writer, msgs []inspect.DeadLetter) {
	for _, m := range msgs {
		fmt.Fprintf(w, "%s  mail %s  %s\n    cause: %s\n    execution %s, sent %s, received %d time(s)\n", m.MessageID, orDash(m.MailID), orDash(m.Error),
			orDash(oneLine(m.Cause)), orDash(m.ExecutionID), m.SentAt.UTC().Format(time.RFC3339), m.ReceiveCount)
		if m.ReasonFrom != "" {
			fmt.Fprintf(w, "    reason from %s\n", m.ReasonFrom)
		}
	}
}

type dlqRedriveOptions struct {
	backendOptions
	dlqFilterFlags
	dryRun bool
}

func runDLQRedrive(ctx context.Context, args []string, s Streams) error {
	o := dlqRedriveOptions{backendOptions: backendOptions{needQueues: true}}
	fs := newFlags("dlq redrive", s, "[flags]")
	o.backendOptions.register(fs)
	o.dlqFilterFlags.register(fs)
	fs.BoolVar(&o.dryRun, "dry-run", false, "move nothing: list what would move (not with --aws)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := o.backendOptions.validate(); err != nil {
		return err
	}
	if err := o.dlqFilterFlags.validate(time.Now()); err != nil {
		return err
	}
	if o.useAWS && (!o.filter.Empty() || o.dryRun) {
		return usagef("filters and --dry-run are not available with --aws: an SQS move task moves every message (run `dlq redrive --aws` alone)")
	}
	b, err := o.open(ctx, s)
	if err != nil {
		return err
	}
	defer b.Close()
	if o.filter.Empty() && !o.dryRun {
		return redriveAll(ctx, &o.backendOptions, b, s)
	}
	res, err := b.Queues.RedriveSelected(ctx, o.filter, explainSource(&o.backendOptions, b), o.dryRun)
	return printSelective(s, o.jsonOut, res, needStore(err, "redrive moves every message"), "move", "moved", "kept in "+b.Queues.DLQURL)
}

// redriveAll moves every message with a move task, as SQS does.
func redriveAll(ctx context.Context, o *backendOptions, b *inspect.Backend, s Streams) error {
	var progress func(inspect.MoveStatus)
	if !o.jsonOut {
		fmt.Fprintf(s.Out, "redriving %s back to %s\n", b.Queues.DLQURL, b.Queues.SourceURL)
		progress = func(m inspect.MoveStatus) {
			fmt.Fprintf(s.Out, "  %s: %d of %d moved\n", m.Status, m.Moved, m.ToMove)
		}
	}
	st, err := b.Queues.Redrive(ctx, progress)
	if o.jsonOut {
		if jerr := printJSON(s.Out, st); jerr != nil {
			return jerr
		}
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "redrive %s: %d message(s) moved to the source queue\n", strings.ToLower(st.Status), st.Moved)
	return nil
}

// printSelective reports a selective redrive or purge: each message done
// (or that would be), then the summary line.
func printSelective(s Streams, jsonOut bool, res inspect.SelectiveResult, err error, verb, done, kept string) error {
	if jsonOut {
		if err != nil && len(res.Done) == 0 && res.Kept == 0 {
			return err
		}
		if jerr := printJSON(s.Out, res); jerr != nil {
			return jerr
		}
		return err
	}
	if err != nil && len(res.Done) == 0 {
		return err
	}
	for _, m := range res.Done {
		prefix := done
		if res.DryRun {
			prefix = "would " + verb
		}
		fmt.Fprintf(s.Out, "%s %s  mail %s  %s\n", prefix, m.MessageID, orDash(m.MailID), orDash(m.Error))
	}
	if res.DryRun {
		fmt.Fprintf(s.Out, "dry run: would %s %d, keep %d\n", verb, len(res.Done), res.Kept)
	} else {
		fmt.Fprintf(s.Out, "%s %d, kept %d (%s)\n", done, len(res.Done), res.Kept, kept)
	}
	return err
}

func runDLQDelete(ctx context.Context, args []string, s Streams) error {
	o := backendOptions{needQueues: true}
	fs := newFlags("dlq delete", s, "MESSAGE-ID [flags]")
	o.register(fs)
	pos, err := parseInterleaved(fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 || strings.TrimSpace(pos[0]) == "" {
		return usagef("the message id is required (as `dlq list` shows it)")
	}
	if err := o.validate(); err != nil {
		return err
	}
	if o.useAWS {
		return usagef("dlq delete is not available with --aws: SQS deletes a message only by the receipt handle of a receive")
	}
	b, err := o.open(ctx, s)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Queues.DeleteDeadLetter(ctx, pos[0]); err != nil {
		return err
	}
	if o.jsonOut {
		return printJSON(s.Out, map[string]string{"deleted": pos[0]})
	}
	fmt.Fprintf(s.Out, "deleted %s from %s\n", pos[0], b.Queues.DLQURL)
	return nil
}

type dlqPurgeOptions struct {
	backendOptions
	dlqFilterFlags
	yes bool
}

// errNotConfirmed is a purge without --yes: it counted, deleted nothing.
var errNotConfirmed = errors.New("nothing deleted: run again with --yes to delete them")

func runDLQPurge(ctx context.Context, args []string, s Streams) error {
	o := dlqPurgeOptions{backendOptions: backendOptions{needQueues: true}}
	fs := newFlags("dlq purge", s, "[flags] --yes")
	o.backendOptions.register(fs)
	o.dlqFilterFlags.register(fs)
	fs.BoolVar(&o.yes, "yes", false, "delete for good; without it purge only counts what it would delete")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := o.backendOptions.validate(); err != nil {
		return err
	}
	if err := o.dlqFilterFlags.validate(time.Now()); err != nil {
		return err
	}
	if o.useAWS {
		return usagef("dlq purge is not available with --aws: SQS deletes a message only by the receipt handle of a receive (aws sqs purge-queue empties the whole queue)")
	}
	b, err := o.open(ctx, s)
	if err != nil {
		return err
	}
	defer b.Close()
	res, err := b.Queues.PurgeSelected(ctx, o.filter, explainSource(&o.backendOptions, b), !o.yes)
	if err != nil && len(res.Done) == 0 {
		return err
	}
	if !o.yes {
		if o.jsonOut {
			if jerr := printJSON(s.Out, res); jerr != nil {
				return jerr
			}
		} else {
			fmt.Fprintf(s.Out, "%d message(s) of %s would be deleted, %d kept\n", len(res.Done), b.Queues.DLQURL, res.Kept)
		}
		return errNotConfirmed
	}
	return printSelective(s, o.jsonOut, res, err, "delete", "deleted", "kept in "+b.Queues.DLQURL)
}
