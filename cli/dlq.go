package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/mailflow/mailflow/inspect"
)

// The dlq commands manage the dead-letter queue as a list: read it page by
// page, select by error, reason, age, mail or recipient domain, and redrive,
// delete or purge what is selected. Locally they work on the queue store
// itself (nothing is received). On AWS, where SQS cannot read a queue
// without receiving it, list and show read the dead-letter index of the
// delivery table (what the state machine dead-lettered; the messages the
// source queue's redrive policy moved are only counted), a dry run reads it
// too, and what changes the queue receives through it: redrive and delete
// move or delete what they select and give the rest back at once, an
// unfiltered purge is PurgeQueue, an unfiltered redrive a move task.

func runDLQ(ctx context.Context, args []string, s Streams) error {
	return subcommands("dlq", map[string]func(context.Context, []string, Streams) error{
		"list": runDLQList, "show": runDLQShow, "redrive": runDLQRedrive, "delete": runDLQDelete, "purge": runDLQPurge,
	}, []string{"list", "show", "redrive", "delete", "purge"})(ctx, args, s)
}

// openDLQ opens the backend with the delivery table as the dead-letter
// index, where there is one.
func openDLQ(ctx context.Context, o *backendOptions, s Streams) (*inspect.Backend, error) {
	b, err := o.open(ctx, s)
	if err != nil {
		return nil, err
	}
	b.UseDeadLetterIndex()
	return b, nil
}

// progressLines prints each message a selective redrive or purge moved or
// deleted, as it happens, unless the output is JSON.
func progressLines(b *inspect.Backend, s Streams, jsonOut bool, done string) {
	if jsonOut {
		return
	}
	b.Queues.Progress = func(d inspect.DeadLetter) {
		fmt.Fprintf(s.Out, "%s %s  mail %s  %s\n", done, orDash(d.MessageID), orDash(d.MailID), orDash(d.Error))
	}
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
	fs.StringVar(&o.after, "after", "", "start after this message id (with --aws: this key), as the previous page ends")
	if err := parseFiltered(fs, args, &o.backendOptions, &o.dlqFilterFlags); err != nil {
		return err
	}
	if o.limit < 0 {
		return usagef("--limit %d must not be negative (0 lists all)", o.limit)
	}
	if o.useAWS && o.after != "" && o.deliveryTable == "" && o.stack == "" {
		return usagef("--after with --aws needs the delivery table (--delivery-table): SQS cannot read a queue from a given message")
	}
	b, err := openDLQ(ctx, &o.backendOptions, s)
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
	if len(page.Messages) == 0 && page.Scanned == 0 && o.after == "" && (page.QueueMessages == nil || *page.QueueMessages == 0) {
		fmt.Fprintln(s.Out, "the dead-letter queue is empty")
		return nil
	}
	printDeadLetters(s.Out, page.Messages)
	if page.QueueMessages != nil {
		// Read from the index: say what it cannot show.
		fmt.Fprintf(s.Out, "%d dead-lettered mail(s) in the index", page.Scanned)
		if !o.filter.Empty() {
			fmt.Fprintf(s.Out, ", %d match", len(page.Messages))
		}
		fmt.Fprintf(s.Out, "; %s holds about %d message(s)\n", b.Queues.DLQURL, *page.QueueMessages)
		if page.NotIndexed > 0 {
			fmt.Fprintf(s.Out, "not indexed: %d more message(s) in the queue (ApproximateNumberOfMessages): moved by the source queue's redrive policy, or not yet recorded; `dlq redrive --aws` moves them too\n", page.NotIndexed)
		}
		if page.Next != "" {
			fmt.Fprintf(s.Out, "more follow: list them with --after %q\n", page.Next)
		}
		return nil
	}
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
		if m.Indexed {
			fmt.Fprintf(w, "mail %s  %s  dead-lettered %s\n    cause: %s\n    recipients: %s\n    source message %s, execution %s\n", m.MailID, orDash(m.Error),
				m.SentAt.UTC().Format(time.RFC3339), orDash(oneLine(m.Cause)), orDash(strings.Join(m.Recipients, ", ")), orDash(m.SourceMessageID), orDash(m.ExecutionID))
			continue
		}
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
	fs.BoolVar(&o.dryRun, "dry-run", false, "move nothing: list what would move (with --aws: from the dead-letter index)")
	if err := parseFiltered(fs, args, &o.backendOptions, &o.dlqFilterFlags); err != nil {
		return err
	}
	if o.useAWS && o.dryRun && o.deliveryTable == "" && o.stack == "" {
		return usagef("--dry-run with --aws reads the dead-letter index: give --delivery-table (or --stack)")
	}
	b, err := openDLQ(ctx, &o.backendOptions, s)
	if err != nil {
		return err
	}
	defer b.Close()
	if o.filter.Empty() && !o.dryRun {
		return redriveAll(ctx, &o.backendOptions, b, s)
	}
	progressLines(b, s, o.jsonOut, "moved")
	res, err := b.Queues.RedriveSelected(ctx, o.filter, explainSource(&o.backendOptions, b), o.dryRun)
	return printSelective(s, o.jsonOut, res, needStore(err, "redrive without filters moves every message"), "move", "moved", "kept in "+b.Queues.DLQURL)
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
	if res.DryRun {
		// The real run prints each message as it goes (progressLines).
		for _, m := range res.Done {
			fmt.Fprintf(s.Out, "would %s %s  mail %s  %s\n", verb, orDash(m.MessageID), orDash(m.MailID), orDash(m.Error))
		}
	}
	if res.DryRun {
		fmt.Fprintf(s.Out, "dry run: would %s %d, keep %d\n", verb, len(res.Done), res.Kept)
		if res.FromIndex {
			fmt.Fprintf(s.Out, "read from the dead-letter index; not indexed: %d more message(s) in the queue, which the real run also reads\n", res.NotIndexed)
		}
	} else {
		fmt.Fprintf(s.Out, "%s %d, kept %d (%s)\n", done, len(res.Done), res.Kept, kept)
	}
	return err
}

func runDLQDelete(ctx context.Context, args []string, s Streams) error {
	o := backendOptions{needQueues: true}
	fs := newFlags("dlq delete", s, "MESSAGE-ID|MAIL-ID [flags]")
	o.register(fs)
	pos, err := parseInterleaved(fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 || strings.TrimSpace(pos[0]) == "" {
		return usagef("the message id is required (as `dlq list` shows it; with --aws a mail id or source message id)")
	}
	if err := o.validate(); err != nil {
		return err
	}
	b, err := openDLQ(ctx, &o, s)
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
	if err := parseFiltered(fs, args, &o.backendOptions, &o.dlqFilterFlags); err != nil {
		return err
	}
	b, err := openDLQ(ctx, &o.backendOptions, s)
	if err != nil {
		return err
	}
	defer b.Close()
	if o.yes {
		progressLines(b, s, o.jsonOut, "deleted")
	}
	res, err := b.Queues.PurgeSelected(ctx, o.filter, explainSource(&o.backendOptions, b), !o.yes)
	if err != nil && len(res.Done) == 0 {
		return err
	}
	if !o.yes {
		if o.jsonOut {
			if jerr := printJSON(s.Out, res); jerr != nil {
				return jerr
			}
		} else if b.Queues.Store == nil && o.filter.Empty() {
			fmt.Fprintf(s.Out, "about %d message(s) of %s would be deleted (ApproximateNumberOfMessages)\n", res.Purged, b.Queues.DLQURL)
		} else {
			fmt.Fprintf(s.Out, "%d message(s) of %s would be deleted, %d kept\n", len(res.Done), b.Queues.DLQURL, res.Kept)
			if res.FromIndex {
				fmt.Fprintf(s.Out, "read from the dead-letter index; not indexed: %d more message(s) in the queue, which --yes also reads\n", res.NotIndexed)
			}
		}
		return errNotConfirmed
	}
	if b.Queues.Store == nil && o.filter.Empty() {
		if o.jsonOut {
			return printJSON(s.Out, res)
		}
		fmt.Fprintf(s.Out, "purged %s: about %d message(s) deleted, and their dead-letter index entries\n", b.Queues.DLQURL, res.Purged)
		return nil
	}
	return printSelective(s, o.jsonOut, res, err, "delete", "deleted", "kept in "+b.Queues.DLQURL)
}

type dlqShowOptions struct {
	backendOptions
}

// runDLQShow is `dlq show ID`: one dead letter in full, by its message id
// or its mail id.
func runDLQShow(ctx context.Context, args []string, s Streams) error {
	o := dlqShowOptions{backendOptions: backendOptions{needQueues: true}}
	fs := newFlags("dlq show", s, "MESSAGE-ID|MAIL-ID [flags]")
	o.register(fs)
	pos, err := parseInterleaved(fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 || strings.TrimSpace(pos[0]) == "" {
		return usagef("the message id or mail id is required (as `dlq list` shows them)")
	}
	if err := o.validate(); err != nil {
		return err
	}
	b, err := openDLQ(ctx, &o.backendOptions, s)
	if err != nil {
		return err
	}
	defer b.Close()
	now := time.Now()
	d, err := b.Queues.ShowDeadLetter(ctx, pos[0], now)
	if err != nil {
		return needStore(err, "list shows what the dead-letter index holds")
	}
	var rec *inspect.Delivery
	if b.Deliveries != nil && d.MailID != "" {
		if rec, _, err = inspect.DeliveryOf(ctx, d.MailID, b.Deliveries, b.Suppressions, now); err != nil {
			return err
		}
	}
	if o.jsonOut {
		return printJSON(s.Out, struct {
			inspect.DeadLetterDetail
			Delivery *inspect.Delivery `json:"delivery,omitempty"`
		}{d, rec})
	}
	w := s.Out
	row := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k, orDash(v)) }
	row("message", d.MessageID)
	row("mail", d.MailID)
	row("error", d.Error)
	row("cause", d.Cause)
	if d.ReasonFrom != "" {
		row("reason from", d.ReasonFrom)
	}
	row("source message", d.SourceMessageID)
	row("execution", d.ExecutionID)
	row("recipients", strings.Join(d.Recipients, ", "))
	at := "sent at" // to the queue
	if d.Indexed {
		at = "indexed at" // when the pipeline dead-lettered it
	}
	if !d.SentAt.IsZero() {
		row(at, d.SentAt.UTC().Format(time.RFC3339)+" ("+d.Age.Round(time.Second).String()+" ago)")
	}
	if !d.Indexed {
		row("received", fmt.Sprintf("%d time(s)", d.ReceiveCount))
	}
	if len(d.Attributes) > 0 {
		keys := make([]string, 0, len(d.Attributes))
		for k := range d.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "attributes")
		for _, k := range keys {
			fmt.Fprintf(w, "  %s = %s\n", k, oneLine(d.Attributes[k]))
		}
	}
	if d.Note != "" {
		fmt.Fprintf(w, "body             %s\n", d.Note)
	} else {
		fmt.Fprintln(w, "body")
		for _, line := range strings.Split(inspect.IndentBody(d.Body), "\n") {
			fmt.Fprintln(w, "  "+line)
		}
	}
	if rec != nil {
		fmt.Fprintf(w, "delivery record  %s since %s, %d event(s), kept until %s\n", orDash(string(rec.State)),
			rec.StateAt.UTC().Format(time.RFC3339), len(rec.History), rec.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// parseFiltered parses a filtering verb's flags (no positional argument)
// and validates the backend and the filter.
func parseFiltered(fs *flag.FlagSet, args []string, b *backendOptions, f *dlqFilterFlags) error {
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := b.validate(); err != nil {
		return err
	}
	return f.validate(time.Now())
}
