package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/webhooks"
	"github.com/mailflow/mailflow/workflow"
)

type eventsOptions struct {
	data    string
	follow  bool
	jsonOut bool
	since   time.Duration
}

// runEvents is `mailflow events`: the outcome events the local runtime
// recorded, read from the data directory's log (a running `mailflow dev`
// keeps writing it; SQLite's WAL lets this process read meanwhile), and
// `mailflow events deliveries` for their webhook deliveries.
func runEvents(ctx context.Context, args []string, s Streams) error {
	if len(args) > 0 && args[0] == "deliveries" {
		return runEventDeliveries(ctx, args[1:], s)
	}
	declareVerbs(s, "deliveries")
	var o eventsOptions
	fs := newFlags("events", s, "[--follow] [-o json] [--since DURATION] [--data DIR]  |  mailflow events deliveries [EVENT-ID]")
	fs.StringVar(&o.data, "data", DefaultDataDir, "data directory of the local runtime (as for dev)")
	fs.BoolVar(&o.follow, "follow", false, "keep printing events as they are recorded, until interrupted")
	// In JSON, one event a line (JSON Lines), as webhooks receive it:
	// --follow prints each as it comes.
	bindOutputFlag(fs, &o.jsonOut)
	fs.DurationVar(&o.since, "since", 0, "only events of the last DURATION, by the event's time (default: all; with --follow, events recorded later are printed whatever their time)")
	if _, err := parseInterleaved(fs, args, 0); err != nil {
		return err
	}
	var msgs []string
	if o.data == "" {
		msgs = append(msgs, "--data must name a directory")
	}
	if o.since < 0 {
		msgs = append(msgs, fmt.Sprintf("--since %s must be positive", o.since))
	}
	if err := usageErrors(msgs...); err != nil {
		return err
	}
	log, err := datadir.New(o.data).OpenOutcomes(nil)
	if err != nil {
		return err
	}
	defer log.Close()
	q := webhooks.Query{}
	if o.since > 0 {
		q.Since = time.Now().Add(-o.since)
	}
	emit := func(r webhooks.Record) error {
		if o.jsonOut {
			_, err := fmt.Fprintf(s.Out, "%s\n", r.Body)
			return err
		}
		_, err := fmt.Fprintln(s.Out, eventLine(r.Event))
		return err
	}
	if o.follow {
		return log.Follow(ctx, q, emit)
	}
	for {
		rs, err := log.List(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if err := emit(r); err != nil {
				return err
			}
			q.After = r.Seq
		}
		if len(rs) == 0 {
			return nil
		}
	}
}

// eventLine is the one line printed per event: time, type, mail, recipient
// and what the type carries.
func eventLine(e workflow.OutcomeEvent) string {
	return fmt.Sprintf("%s  %-16s  %s  %s  %s", e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), e.Type, e.MailID, orDash(e.Recipient), eventDetail(e))
}

func eventDetail(e workflow.OutcomeEvent) string {
	var parts []string
	switch {
	case e.Bounce != nil:
		parts = append(parts, e.Bounce.Type+"/"+e.Bounce.SubType)
		if e.Bounce.DiagnosticCode != "" {
			parts = append(parts, oneLine(e.Bounce.DiagnosticCode))
		}
	case e.Complaint != nil:
		parts = append(parts, "feedback "+orDash(e.Complaint.FeedbackType))
	case e.Reason != nil:
		parts = append(parts, e.Reason.Error)
		if e.Reason.Cause != "" {
			parts = append(parts, oneLine(e.Reason.Cause))
		}
	}
	if e.SESMessageID != "" {
		parts = append(parts, "ses "+e.SESMessageID)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "  ")
}

// runEventDeliveries is `mailflow events deliveries [EVENT-ID]`: each
// delivery of the event (or the latest ones) with its attempts.
func runEventDeliveries(ctx context.Context, args []string, s Streams) error {
	var data string
	var jsonOut bool
	var limit int
	fs := newFlags("events deliveries", s, "[EVENT-ID] [-o json] [--limit N] [--data DIR]")
	fs.StringVar(&data, "data", DefaultDataDir, "data directory of the local runtime (as for dev)")
	bindOutputFlag(fs, &jsonOut)
	fs.IntVar(&limit, "limit", 20, "at most this many deliveries, newest first (1-1000)")
	pos, err := parseInterleaved(fs, args, 1)
	if err != nil {
		return err
	}
	var msgs []string
	if data == "" {
		msgs = append(msgs, "--data must name a directory")
	}
	if limit < 1 || limit > 1000 {
		msgs = append(msgs, fmt.Sprintf("--limit %d is outside 1..1000", limit))
	}
	if err := usageErrors(msgs...); err != nil {
		return err
	}
	id := ""
	if len(pos) == 1 {
		id = pos[0]
	}
	log, err := datadir.New(data).OpenOutcomes(nil)
	if err != nil {
		return err
	}
	defer log.Close()
	ds, err := log.Deliveries(ctx, id, limit)
	if err != nil {
		return err
	}
	if id != "" && len(ds) == 0 {
		return fmt.Errorf("no deliveries of event %q in %s (unknown event, or no webhook URL was set when it was recorded)", id, data)
	}
	for i := range ds {
		ds[i].URL = webhooks.Redact(ds[i].URL)
	}
	if jsonOut {
		return printJSON(s.Out, ds)
	}
	printDeliveries(s.Out, ds)
	return nil
}

func printDeliveries(w io.Writer, ds []webhooks.Delivery) {
	if len(ds) == 0 {
		fmt.Fprintln(w, "no webhook deliveries")
		return
	}
	for _, d := range ds {
		state := d.Status
		switch d.Status {
		case webhooks.StatusPending:
			state += ", next attempt " + d.NextAttempt.Format(time.RFC3339) + ", given up at " + d.Deadline.Format(time.RFC3339)
		case webhooks.StatusFailed:
			state += " at " + d.Deadline.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s  %s  %s (%d attempt(s))\n", d.EventID, d.URL, state, len(d.Attempts))
		for _, a := range d.Attempts {
			answer := fmt.Sprintf("HTTP %d", a.StatusCode)
			if a.Error != "" {
				answer = oneLine(a.Error)
			}
			fmt.Fprintf(w, "  #%d %s  %s (%s)\n", a.N, a.At.Format(time.RFC3339), answer, a.Duration.Round(time.Millisecond))
		}
	}
}
