package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailflow/mailflow/inspect"
)

type replayOptions struct {
	backendOptions
	id         string
	failedOnly bool
	force      bool
}

func runReplay(ctx context.Context, args []string, s Streams) error {
	// The bodies replay re-enqueues are read unmasked: the stack masks the
	// addresses in its execution log, and a masked body is not the mail.
	o := replayOptions{backendOptions: backendOptions{needLogs: true, needQueues: true, unmask: true}}
	fs := newFlags("replay", s, "ID [--failed-only] [--force] [flags]")
	o.register(fs)
	fs.BoolVar(&o.failedOnly, "failed-only", false, "re-enqueue only the items that were not delivered (delivered ones are skipped either way)")
	fs.BoolVar(&o.force, "force", false, "also send again the mails whose outcome is unknown (a send started and its answer was never recorded, so they may have been delivered; deletes their lock records first), and the records that failed permanently (after their cause was fixed)")
	b, x, err := o.openExecution(ctx, fs, args, &o.id, s)
	if err != nil {
		return err
	}
	defer b.Close()
	b.UseDeadLetterIndex() // so a removed dead-letter copy leaves the index too
	var progress func(inspect.ReplayResult)
	if !o.jsonOut {
		progress = func(r inspect.ReplayResult) {
			from := ""
			switch r.KnownFrom {
			case inspect.KnownFromDeadLetterQueue:
				from = ", known from its dead-letter copy"
			case inspect.KnownFromDeadLetterIndex:
				from = ", known from the dead-letter index"
			}
			if r.Action == inspect.ActionEnqueued {
				fmt.Fprintf(s.Out, "#%d %s (%s%s): re-enqueued as %s; %s\n", r.Index, orDash(r.MailID), r.Outcome, from, r.NewMessageID, r.Note)
			} else {
				fmt.Fprintf(s.Out, "#%d %s (%s%s): %s, %s\n", r.Index, orDash(r.MailID), r.Outcome, from, r.Action, r.Note)
			}
		}
	}
	results, err := inspect.Replay(ctx, x, inspect.ReplayOptions{FailedOnly: o.failedOnly, Force: o.force}, b.Queues, b.Locks, time.Now(), progress)
	if err == nil {
		err = replayGaps(x, results)
	}
	summary := inspect.SummarizeReplay(results)
	if o.jsonOut {
		out := map[string]any{"execution": x.ID, "results": results, "summary": summary}
		if note := inspect.ReplayInputNote(x); note != "" {
			out["inputNote"] = note
		}
		if jerr := printJSON(s.Out, out); jerr != nil {
			return jerr
		}
		return err
	}
	if note := inspect.ReplayInputNote(x); note != "" {
		fmt.Fprintln(s.Out, "note: "+note)
	}
	enqueued := 0
	for _, r := range results {
		if r.Action == inspect.ActionEnqueued {
			enqueued++
		}
	}
	fmt.Fprintf(s.Out, "replay of %s: %d of %d items re-enqueued onto %s%s\n", x.Name, enqueued, len(results), b.Queues.SourceURL, replaySummaryText(summary))
	return err
}

// replayGaps is the error a replay that left a record undelivered ends
// with, though every call succeeded: a record whose body is known neither
// from the log nor from the dead-letter queue, or an execution of which no
// record is known at all. Records left on the source queue are not one:
// SQS delivers them again.
func replayGaps(x *inspect.Execution, results []inspect.ReplayResult) error {
	if n := inspect.NotReplayed(results); n > 0 {
		return fmt.Errorf("%d item(s) not replayed: their bodies are in neither the execution log nor the dead-letter queue, and nothing else will deliver them", n)
	}
	if len(results) == 0 && x.InputMissing {
		return fmt.Errorf("no record of %s is known: its input is not logged, its log names none and no dead-letter copy names it", x.Name)
	}
	return nil
}

// replaySummaryText is the per-class counts, e.g.
// " (transient 1 re-enqueued; permanent 2: 1 forced, 1 skipped)".
func replaySummaryText(counts []inspect.ReplayCount) string {
	var parts []string
	for _, c := range counts {
		var what []string
		if n := c.Enqueued - c.Forced; n > 0 {
			what = append(what, fmt.Sprintf("%d re-enqueued", n))
		}
		if c.Forced > 0 {
			what = append(what, fmt.Sprintf("%d forced", c.Forced))
		}
		if c.Skipped > 0 {
			what = append(what, fmt.Sprintf("%d skipped", c.Skipped))
		}
		if failed := c.Items - c.Enqueued - c.Skipped; failed > 0 {
			what = append(what, fmt.Sprintf("%d failed", failed))
		}
		parts = append(parts, fmt.Sprintf("%s %d: %s", c.Class, c.Items, strings.Join(what, ", ")))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
