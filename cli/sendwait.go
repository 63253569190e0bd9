package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/workflow"
)

// defaultWaitTimeout is how long send --wait waits without --timeout: the
// local runtime sends a mail within seconds, a throttled one within a
// minute of retries.
const defaultWaitTimeout = 2 * time.Minute

// waitPoll is how often send --wait reads the data directory.
const waitPoll = 100 * time.Millisecond

// waitForOutcome polls the data directory's inspection backend (the SQLite
// files the running runtime commits to) until an execution has processed
// the message the mail was enqueued as: sent or already sent ends it with
// nil, dead-lettered with an error naming the reason (exit 1), and no
// outcome within timeout with an exit-3 error. Only the item of this
// message counts: an earlier send of the same mailId says nothing about
// this one. A record the pipeline leaves for retry (retry-later,
// unfinished) is waited out.
func waitForOutcome(ctx context.Context, b *inspect.Backend, data, mailID, messageID string, timeout time.Duration) (waitOutcome, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "not yet processed"
	polls := 0
	for {
		st, err := inspect.Mail(ctx, mailID, b, time.Now())
		if err != nil && ctx.Err() == nil {
			return waitOutcome{Outcome: waitUnknown}, fmt.Errorf("--wait: reading mail %s in %s: %w", mailID, data, err)
		}
		if st != nil {
			for _, e := range st.Executions {
				if e.Item.MessageID != messageID {
					continue
				}
				switch e.Item.Outcome {
				case workflow.OutcomeSent, workflow.OutcomeAlreadySent:
					return waitOutcome{Outcome: string(e.Item.Outcome), ExecutionID: e.ExecutionID}, nil
				case workflow.OutcomeDeadLettered:
					reason := reasonOf(e.Item.Error, e.Item.Cause)
					return waitOutcome{Outcome: string(e.Item.Outcome), ExecutionID: e.ExecutionID, Reason: reason},
						fmt.Errorf("mail %s dead-lettered (execution %s): %s", mailID, e.ExecutionID, reason)
				default:
					last = fmt.Sprintf("last outcome %s in execution %s", e.Item.Outcome, e.ExecutionID)
				}
			}
		}
		// A record the pipeline kept giving back reaches the dead-letter
		// queue by the queue's redrive policy, with no execution saying so.
		if polls++; polls%10 == 0 && b.Queues != nil {
			if d, ok := redriven(ctx, b, mailID, messageID); ok {
				reason := reasonOf(d.Error, d.Cause)
				return waitOutcome{Outcome: string(workflow.OutcomeDeadLettered), Reason: reason},
					fmt.Errorf("mail %s dead-lettered by the queue after %d receive(s): %s", mailID, d.ReceiveCount, reason)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return waitOutcome{Outcome: waitTimedOut, Reason: last},
					&exitError{code: ExitTimeout, err: fmt.Errorf("mail %s: no outcome within %s (%s); `mailflow mail status %s` follows it", mailID, timeout, last, mailID)}
			}
			return waitOutcome{Outcome: waitUnknown}, ctx.Err()
		case <-time.After(waitPoll):
		}
	}
}

// waitOutcome is what send --wait saw: the item's outcome (sent,
// already-sent, dead-lettered), or timed-out or unknown when it saw none.
type waitOutcome struct {
	Outcome     string `json:"outcome"`
	ExecutionID string `json:"executionId,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Outcomes of a wait that saw no item's.
const (
	waitTimedOut = "timed-out"
	waitUnknown  = "unknown"
)

// redriven finds the message in the dead-letter queue; a queue it cannot
// read leaves the wait to the executions.
func redriven(ctx context.Context, b *inspect.Backend, mailID, messageID string) (inspect.DeadLetter, bool) {
	page, err := b.Queues.FindDeadLetters(ctx, inspect.DeadLetterQuery{Filter: inspect.DeadLetterFilter{MailID: mailID}, Explain: b.Source})
	if err != nil {
		return inspect.DeadLetter{}, false
	}
	for _, d := range page.Messages {
		if d.MessageID == messageID || d.SourceMessageID == messageID {
			return d, true
		}
	}
	return inspect.DeadLetter{}, false
}

// reasonOf is an item's error name and its cause, as far as known.
func reasonOf(name, cause string) string {
	switch {
	case name == "":
		return oneLine(cause)
	case cause == "":
		return name
	}
	return name + ": " + oneLine(cause)
}

// openWaitBackend opens the data directory send --wait reads, before
// anything is enqueued: a directory that holds no runtime's data, or whose
// running dev serves another endpoint than the mail goes to, would never
// see the mail.
func openWaitBackend(ctx context.Context, data, endpoint string, s Streams) (*inspect.Backend, error) {
	if info, ok := datadir.New(data).ReadDevInfo(); ok && info.Endpoint != "" &&
		strings.TrimSuffix(info.Endpoint, "/") != strings.TrimSuffix(endpoint, "/") {
		return nil, usagef("--wait: the dev running on --data %s serves %s, not --endpoint %s: give the --data of the runtime on %s", data, info.Endpoint, endpoint, endpoint)
	}
	o := backendOptions{data: data}
	b, err := o.open(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("--wait: %w", err)
	}
	return b, nil
}
