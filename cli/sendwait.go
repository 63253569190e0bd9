package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/workflow"
)

// defaultWaitTimeout is how long send --wait waits without --timeout: the
// local runtime sends a mail within seconds, a throttled one within a
// minute of retries.
const defaultWaitTimeout = 2 * time.Minute

// waitPoll is how often send --wait reads the data directory; awsWaitPoll
// how often it reads the stack's tables (two GetItem calls a poll).
const (
	waitPoll    = 100 * time.Millisecond
	awsWaitPoll = 2 * time.Second
)

// clockSkew is how far apart the sender's clock and the pipeline's may be
// when a record's time is compared with the enqueue time.
const clockSkew = time.Minute

// What --until waits for.
const (
	untilSent      = string(workflow.EventSent)
	untilDelivered = "delivered"
)

// waiter follows one enqueued message to its outcome.
//
// Locally it reads the executions of the data directory: only the item of
// this message counts, so an earlier send of the same mailId says nothing
// about this one. On AWS the executions are only in CloudWatch Logs, whose
// searches take seconds and are billed per byte scanned, so it reads the
// mail's lock record (sent, and when) and its delivery record (the
// dead-lettered entry) instead: a lock sent before this message was
// enqueued is already-sent.
type waiter struct {
	b                 *inspect.Backend
	where             string // the data directory or the stack, for messages
	mailID, messageID string
	recipients        []string
	enqueuedAt        time.Time
	until             string
	onAWS             bool
	poll              time.Duration
}

// wait polls until the outcome --until asks for: sent or already sent ends
// it with nil (with --until delivered, once every recipient is delivered),
// dead-lettered, bounced, complained or rejected with an error naming the
// reason (exit 1), and no outcome within timeout with an exit-3 error. A
// record the pipeline leaves for retry (retry-later, unfinished) and a
// delayed delivery are waited out.
func (w *waiter) wait(ctx context.Context, timeout time.Duration) (waitOutcome, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "not yet processed"
	var sent *waitOutcome
	for polls := 1; ; polls++ {
		var (
			out  waitOutcome
			done bool
			err  error
		)
		if sent == nil {
			out, done, err = w.processed(ctx, polls, &last)
			if done && err == nil && w.until == untilDelivered {
				sent, done = &out, false
				last = "sent, no delivery event yet"
			}
		} else {
			out, done, err = w.delivered(ctx, *sent, &last)
		}
		if done {
			return out, err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				o := waitOutcome{Outcome: waitTimedOut, Reason: last}
				if sent != nil {
					o.ExecutionID, o.SESMessageID = sent.ExecutionID, sent.SESMessageID
				}
				return o, &exitError{code: ExitTimeout, err: fmt.Errorf("mail %s: no outcome within %s (%s); `mailflow mail status %s%s` follows it", w.mailID, timeout, last, w.mailID, w.statusFlags())}
			}
			return waitOutcome{Outcome: waitUnknown}, ctx.Err()
		case <-time.After(w.poll):
		}
	}
}

func (w *waiter) statusFlags() string {
	if w.onAWS {
		return " --aws"
	}
	return ""
}

// processed reads whether the pipeline has sent or dead-lettered the mail.
func (w *waiter) processed(ctx context.Context, polls int, last *string) (waitOutcome, bool, error) {
	if w.onAWS {
		if out, done, err := w.processedOnAWS(ctx, last); done || err != nil {
			return out, done, err
		}
	} else {
		st, err := inspect.Mail(ctx, w.mailID, w.b, time.Now())
		if err != nil && ctx.Err() == nil {
			return waitOutcome{Outcome: waitUnknown}, true, fmt.Errorf("--wait: reading mail %s in %s: %w", w.mailID, w.where, err)
		}
		if st != nil {
			for _, e := range st.Executions {
				if e.Item.MessageID != w.messageID {
					continue
				}
				switch e.Item.Outcome {
				case workflow.OutcomeSent, workflow.OutcomeAlreadySent:
					o := waitOutcome{Outcome: string(e.Item.Outcome), ExecutionID: e.ExecutionID}
					if st.Lock != nil {
						o.SESMessageID = st.Lock.SESMessageID
					}
					return o, true, nil
				case workflow.OutcomeDeadLettered:
					reason := reasonOf(e.Item.Error, e.Item.Cause)
					return waitOutcome{Outcome: string(e.Item.Outcome), ExecutionID: e.ExecutionID, Reason: reason}, true,
						fmt.Errorf("mail %s dead-lettered (execution %s): %s", w.mailID, e.ExecutionID, reason)
				default:
					*last = fmt.Sprintf("last outcome %s in execution %s", e.Item.Outcome, e.ExecutionID)
				}
			}
		}
	}
	// A record the pipeline kept giving back reaches the dead-letter
	// queue by the queue's redrive policy, with no execution saying so.
	// (On AWS such a move is in no record the wait reads without receiving.)
	if every := int(time.Second / w.poll); !w.onAWS && polls%max(every, 1) == 0 && w.b.Queues != nil {
		if d, ok := redriven(ctx, w.b, w.mailID, w.messageID); ok {
			reason := reasonOf(d.Error, d.Cause)
			return waitOutcome{Outcome: string(workflow.OutcomeDeadLettered), Reason: reason}, true,
				fmt.Errorf("mail %s dead-lettered by the queue after %d receive(s): %s", w.mailID, d.ReceiveCount, reason)
		}
	}
	return waitOutcome{}, false, nil
}

// processedOnAWS reads the lock record and the delivery record.
func (w *waiter) processedOnAWS(ctx context.Context, last *string) (waitOutcome, bool, error) {
	rec, ok, err := w.b.Locks.Get(ctx, w.mailID)
	if err != nil {
		if ctx.Err() != nil {
			return waitOutcome{}, false, nil
		}
		return waitOutcome{Outcome: waitUnknown}, true, fmt.Errorf("--wait: reading the lock of mail %s on %s: %w", w.mailID, w.where, err)
	}
	if ok && rec.Status == lock.Sent {
		o := waitOutcome{Outcome: string(workflow.OutcomeSent), SESMessageID: rec.SESMessageID}
		if rec.SentAt.Before(w.enqueuedAt.Add(-clockSkew)) {
			o.Outcome = string(workflow.OutcomeAlreadySent)
			o.Reason = "sent at " + rec.SentAt.UTC().Format(time.RFC3339) + ", before this message was enqueued"
		}
		return o, true, nil
	}
	if ok {
		*last = "lock " + string(rec.Status)
	}
	if w.b.Deliveries == nil {
		return waitOutcome{}, false, nil
	}
	d, found, err := inspect.DeliveryOf(ctx, w.mailID, w.b.Deliveries, nil, time.Now())
	if err != nil || !found {
		return waitOutcome{}, false, nil
	}
	if d.State == workflow.EventDeadLettered && !d.StateAt.Before(w.enqueuedAt.Add(-clockSkew)) {
		reason := string(workflow.EventDeadLettered)
		for i := len(d.History) - 1; i >= 0; i-- {
			if e := d.History[i]; e.Type == workflow.EventDeadLettered && e.Reason != nil {
				reason = reasonOf(e.Reason.Error, e.Reason.Cause)
				break
			}
		}
		return waitOutcome{Outcome: string(workflow.OutcomeDeadLettered), Reason: reason}, true,
			fmt.Errorf("mail %s dead-lettered: %s", w.mailID, reason)
	}
	return waitOutcome{}, false, nil
}

// delivered reads the delivery record until every recipient has a final
// state (delivered, bounced, complained) or the mail a final refusal
// (rejected, rendering failed).
func (w *waiter) delivered(ctx context.Context, sent waitOutcome, last *string) (waitOutcome, bool, error) {
	d, found, err := inspect.DeliveryOf(ctx, w.mailID, w.b.Deliveries, nil, time.Now())
	if err != nil {
		if ctx.Err() != nil {
			return sent, false, nil
		}
		return sent, true, fmt.Errorf("--wait: reading the delivery record of mail %s on %s: %w", w.mailID, w.where, err)
	}
	if !found {
		return sent, false, nil
	}
	out := sent
	switch d.State {
	case workflow.EventRejected, workflow.EventRenderingFailed:
		out.Outcome = string(d.State)
		out.Reason = string(d.State)
		for i := len(d.History) - 1; i >= 0; i-- {
			if e := d.History[i]; e.Type == d.State && e.Reason != nil {
				out.Reason = reasonOf(e.Reason.Error, e.Reason.Cause)
				break
			}
		}
		return out, true, fmt.Errorf("mail %s %s by SES: %s", w.mailID, d.State, out.Reason)
	}
	states := map[string]inspect.DeliveryRecipient{}
	for _, r := range d.Recipients {
		states[strings.ToLower(r.Address)] = r
	}
	var failed, pending []string
	worst := workflow.EventDelivered
	for _, addr := range w.recipients {
		r, ok := states[strings.ToLower(addr)]
		switch {
		case !ok || (r.State != workflow.EventDelivered && r.State != workflow.EventBounced && r.State != workflow.EventComplained):
			state := "no event yet"
			if ok {
				state = string(r.State)
			}
			pending = append(pending, addr+" "+state)
		case r.State != workflow.EventDelivered:
			if worst != workflow.EventBounced {
				worst = r.State
			}
			f := addr + " " + string(r.State)
			if det := r.Detail(); det != "" {
				f += " (" + det + ")"
			}
			failed = append(failed, f)
		}
	}
	if len(pending) > 0 {
		*last = "waiting for " + strings.Join(pending, ", ")
		return sent, false, nil
	}
	out.Outcome = string(worst)
	if len(failed) == 0 {
		return out, true, nil
	}
	out.Reason = strings.Join(failed, "; ")
	return out, true, fmt.Errorf("mail %s not delivered to every recipient: %s", w.mailID, out.Reason)
}

// waitOutcome is what send --wait saw: the item's outcome (sent,
// already-sent, dead-lettered), or timed-out or unknown when it saw none.
type waitOutcome struct {
	Outcome      string `json:"outcome"`
	ExecutionID  string `json:"executionId,omitempty"`
	SESMessageID string `json:"sesMessageId,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// where says where the outcome was read: the execution, the SES message
// id, and for an already-sent mail when it was sent.
func (o waitOutcome) where() string {
	var parts []string
	if o.ExecutionID != "" {
		parts = append(parts, "execution "+o.ExecutionID)
	}
	if o.SESMessageID != "" {
		parts = append(parts, "SES message "+o.SESMessageID)
	}
	if o.Reason != "" {
		parts = append(parts, o.Reason)
	}
	if len(parts) == 0 {
		return "no execution recorded"
	}
	return strings.Join(parts, ", ")
}

// Outcomes of a wait that saw no item's.
const (
	waitTimedOut = "timed-out"
	waitUnknown  = "unknown"
)

// redriven finds the message itself in the dead-letter queue, where the
// queue's redrive policy moves it keeping its id; the copy the state
// machine sends there (tagged with the source message id) is left to the
// execution that sent it, which names the reason. A queue it cannot read
// leaves the wait to the executions.
func redriven(ctx context.Context, b *inspect.Backend, mailID, messageID string) (inspect.DeadLetter, bool) {
	page, err := b.Queues.FindDeadLetters(ctx, inspect.DeadLetterQuery{Filter: inspect.DeadLetterFilter{MailID: mailID}, Explain: b.Source})
	if err != nil {
		return inspect.DeadLetter{}, false
	}
	for _, d := range page.Messages {
		if d.MessageID == messageID && d.SourceMessageID == "" {
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

// openAWSWaitBackend opens the stack's lock table and delivery table for
// send --aws --wait.
func openAWSWaitBackend(ctx context.Context, region, stack string, s Streams) (*inspect.Backend, error) {
	o := backendOptions{useAWS: true, region: region, stack: stack, needDB: true, lookback: time.Hour}
	b, err := o.open(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("--wait: %w", err)
	}
	return b, nil
}
