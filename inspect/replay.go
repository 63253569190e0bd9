package inspect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/workflow"
)

// Replay actions.
const (
	ActionEnqueued = "enqueued"
	ActionSkipped  = "skipped"
	ActionFailed   = "failed"
)

// ReplayResult says what replay did with one item.
type ReplayResult struct {
	Index        int              `json:"index"`
	MessageID    string           `json:"messageId"`
	MailID       string           `json:"mailId,omitempty"`
	Outcome      workflow.Outcome `json:"outcome"`
	Action       string           `json:"action"`
	NewMessageID string           `json:"newMessageId,omitempty"`
	LockStatus   lock.Status      `json:"lockStatus,omitempty"`
	Note         string           `json:"note"`
}

// ReplayOptions choose what Replay re-enqueues.
type ReplayOptions struct {
	// FailedOnly replays only the items that were not delivered.
	FailedOnly bool
	// Force also replays a mail whose outcome is unknown (its send started
	// and the answer was never recorded, so it may have been delivered):
	// its lock record is deleted first, so the replay sends it again. It
	// needs a lock table that is a [LockForgetter].
	Force bool
}

// LockForgetter deletes an outcome-unknown lock record (a lock.Table does).
type LockForgetter interface {
	Forget(ctx context.Context, p lock.ForgetParams) error
}

// ErrOutcomeUnknown is returned (wrapped) by Replay when it left items
// alone because their outcome is unknown and Force was not set.
var ErrOutcomeUnknown = errors.New("the outcome of a send is unknown")

// Replay re-enqueues the source records of an execution's items onto the
// source queue: the failed ones, or all of them. Only the body is sent (the
// state machine reads nothing else of a record); SQS gives the copy a new
// message id. Locks, when given, is read to tell per item what the dedup
// lock will make of the replay. A mail whose lock is outcome-unknown is
// left alone unless o.Force (then Replay returns an error wrapping
// ErrOutcomeUnknown after the other items), because replaying it would
// only dead-letter it again; forced, its lock record is deleted and the
// mail is sent again. progress, when set, sees each result as it is made.
func Replay(ctx context.Context, x *Execution, o ReplayOptions, q *Queues, locks LockReader, now time.Time, progress func(ReplayResult)) ([]ReplayResult, error) {
	failedOnly := o.FailedOnly
	refused := 0
	out := []ReplayResult{}
	report := func(r ReplayResult) {
		out = append(out, r)
		if progress != nil {
			progress(r)
		}
	}
	for _, it := range x.Items {
		r := ReplayResult{Index: it.Index, MessageID: it.MessageID, MailID: it.MailID, Outcome: it.Outcome}
		var rec lock.Record
		var held bool
		if locks != nil && it.MailID != "" {
			var err error
			rec, held, err = locks.Get(ctx, it.MailID)
			if err != nil {
				return out, fmt.Errorf("lock of %s: %w", it.MailID, err)
			}
			held = held && rec.Live(now)
			if held {
				r.LockStatus = rec.Status
			}
		}
		switch {
		case failedOnly && !it.Failed():
			r.Action = ActionSkipped
			r.Note = "not failed (" + string(it.Outcome) + ")"
			report(r)
			continue
		case it.Body == "":
			r.Action = ActionSkipped
			r.Note = "the record's body is unknown (execution data not logged, or truncated): cannot replay it"
			report(r)
			continue
		}
		forced := false
		if held && rec.OutcomeUnknown() {
			if !o.Force {
				refused++
				r.Action = ActionSkipped
				r.Note = unknownNote(rec, it) + "; check the recipient's mailbox or the provider's logs, then replay with --force to send it again"
				report(r)
				continue
			}
			f, ok := locks.(LockForgetter)
			if !ok {
				r.Action, r.Note = ActionFailed, "--force needs a lock table that can delete the record; this one cannot"
				report(r)
				return out, errors.New(r.Note)
			}
			if err := f.Forget(ctx, lock.ForgetParams{MailID: it.MailID, AttemptedAt: rec.AttemptedAt}); err != nil {
				r.Action, r.Note = ActionFailed, "forgetting the unanswered send: "+err.Error()
				report(r)
				return out, fmt.Errorf("lock of %s: %w", it.MailID, err)
			}
			forced = true
		}
		id, err := q.Enqueue(ctx, it.Body)
		if err != nil {
			r.Action, r.Note = ActionFailed, err.Error()
			report(r)
			return out, err
		}
		r.Action, r.NewMessageID = ActionEnqueued, id
		switch {
		case forced:
			r.Note = "forced: " + unknownNote(rec, it) + "; its lock record was deleted and it will be sent again"
		case held && rec.Status == lock.Sent:
			r.Note = "already sent (SES " + rec.SESMessageID + "): harmless, the dedup lock makes this replay already-sent"
		case it.Outcome == workflow.OutcomeDeadLettered:
			r.Note = "will be sent; its copy in the dead-letter queue stays there (a later redrive ends as already-sent)"
		case it.Outcome == workflow.OutcomeRetryLater:
			r.Note = "will be sent; the original message also returns to the queue, the dedup lock lets only one send"
		case it.Outcome == workflow.OutcomeSent || it.Outcome == workflow.OutcomeAlreadySent:
			r.Note = "was sent: harmless while the dedup lock remembers it (the lock's retention), the replay ends as already-sent"
		case held && rec.Status == lock.Sending:
			r.Note = "another attempt holds the lock; the replay waits for it (LockBusy) and ends sent or already-sent"
		default:
			r.Note = "will be sent; if it was sent meanwhile, the dedup lock makes it already-sent"
		}
		report(r)
	}
	if refused > 0 {
		return out, fmt.Errorf("%d item(s) not replayed: %w (the mail may have been delivered); replay with --force to send them again", refused, ErrOutcomeUnknown)
	}
	return out, nil
}

// unknownNote says what is known of an outcome-unknown mail.
func unknownNote(rec lock.Record, it Item) string {
	n := "outcome unknown: a send started at " + rec.AttemptedAt.UTC().Format(time.RFC3339) + " and its answer was never recorded"
	if it.Outcome == workflow.OutcomeSent {
		n += " (this execution recorded it as sent: it was most likely delivered)"
	}
	return n
}

// MailStatus is what is known about one mail.
type MailStatus struct {
	MailID     string          `json:"mailId"`
	Lock       *LockState      `json:"lock,omitempty"`
	Executions []MailExecution `json:"executions"`
	// Delivery is the mail's delivery record; nil when there is none, and
	// then DeliveryNote says why (no record kept, or [NoDeliveryFeedback]).
	Delivery     *Delivery `json:"delivery,omitempty"`
	DeliveryNote string    `json:"deliveryNote,omitempty"`
}

// NoDeliveryRecord is MailStatus.DeliveryNote when the store has no record.
const NoDeliveryRecord = "no delivery record: no event of it was recorded, or its record expired"

// LockState is the dedup lock record of a mail.
type LockState struct {
	Status       lock.Status `json:"status"`
	Owner        string      `json:"owner"`
	SESMessageID string      `json:"sesMessageId,omitempty"`
	SentAt       time.Time   `json:"sentAt,omitzero"`
	LeaseUntil   time.Time   `json:"leaseUntil,omitzero"`
	// SendAttempts is how often the owner has tried to send (the lease is
	// renewed once per Send attempt).
	SendAttempts int       `json:"sendAttempts,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt"`
	Expired      bool      `json:"expired,omitempty"`
	// AttemptedAt is when the last send attempt started; OutcomeUnknown
	// says its answer was never recorded (see lock.Record.OutcomeUnknown).
	AttemptedAt    time.Time `json:"attemptedAt,omitzero"`
	OutcomeUnknown bool      `json:"outcomeUnknown,omitempty"`
}

// Mail gathers the lock, the executions and the delivery record of a mail
// from b (Source is required; Locks, Deliveries and Suppressions may be nil).
func Mail(ctx context.Context, mailID string, b *Backend, now time.Time) (*MailStatus, error) {
	st := &MailStatus{MailID: mailID}
	if locks := b.Locks; locks != nil {
		rec, ok, err := locks.Get(ctx, mailID)
		if err != nil {
			return nil, fmt.Errorf("lock of %s: %w", mailID, err)
		}
		if ok {
			st.Lock = &LockState{Status: rec.Status, Owner: rec.Owner, SESMessageID: rec.SESMessageID, SentAt: rec.SentAt,
				SendAttempts: rec.Renewals, ExpiresAt: rec.ExpiresAt, Expired: !rec.Live(now),
				AttemptedAt: rec.AttemptedAt, OutcomeUnknown: rec.OutcomeUnknown()}
			if rec.Status == lock.Sending {
				st.Lock.LeaseUntil = rec.LeaseUntil
			}
		}
	}
	execs, err := b.Source.MailExecutions(ctx, mailID)
	if err != nil {
		return nil, err
	}
	st.Executions = execs
	if b.Deliveries == nil {
		st.DeliveryNote = NoDeliveryFeedback
		return st, nil
	}
	d, ok, err := DeliveryOf(ctx, mailID, b.Deliveries, b.Suppressions, now)
	if err != nil {
		return nil, err
	}
	if !ok {
		st.DeliveryNote = NoDeliveryRecord
	}
	st.Delivery = d
	return st, nil
}
