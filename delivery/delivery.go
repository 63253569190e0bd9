// Package delivery is the port for what became of each mail after the
// pipeline took it: the per-recipient delivery state and a short event
// history, fed by the events SES publishes (delivered, bounced,
// complained, delayed, rejected, rendering failed) and by the pipeline's
// own (accepted, sent, dead-lettered).
//
// The port is [Store]; adapters live beside it (memdelivery, dynamodelivery)
// and locally (local/sqlitefeedback). Every adapter passes delivery/deliverytest.
//
// Contract, fixed here:
//   - The merge rules are [Merge], in Go, and every adapter applies them:
//     it reads the mail's record, merges, and writes back only if the
//     record did not change in between (optimistic, on [Mail.Version]),
//     retrying a lost race itself a bounded number of times. So the rules
//     are written once and the adapters only store.
//   - Events are applied at least once and in any order, as SES publishes
//     them: an event whose ID is already in the history changes nothing;
//     a recipient's state is its latest event by time, ties broken by
//     [Rank]; the history keeps the MaxHistory latest events by time.
//   - The dead-letter index ([DeadLetterIndex], [DeadLetter]) lists the
//     mails whose latest state is dead-lettered, kept by [Merge] from the
//     dead-lettered event's [QueuedRecord]; every adapter implements it.
//   - A record counts as absent after ExpiresAt (judged on the caller's
//     Now, not by TTL deletion, which is lazy); Apply on an expired record
//     starts afresh.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailflow/mailflow/workflow"
)

// MaxHistory is how many events a mail's record keeps.
const MaxHistory = 32

// Event is one state change of a mail, as recorded.
type Event struct {
	// ID identifies the event for deduplication; the same SES record or
	// pipeline step always yields the same ID.
	ID   string
	Type workflow.OutcomeEventType
	// Recipient is set for per-recipient types (Type.PerRecipient()).
	Recipient    string
	Time         time.Time
	SESMessageID string
	Bounce       *workflow.EventBounce
	Complaint    *workflow.EventComplaint
	// Reason is set for dead-lettered, rejected and rendering-failed.
	Reason *workflow.EventReason
	// Queued is set for dead-lettered: the queue record the pipeline
	// dead-lettered, which the mail's [DeadLetter] entry names.
	Queued *QueuedRecord
}

// QueuedRecord is what the pipeline knew of a record it dead-lettered.
type QueuedRecord struct {
	// MessageID is the source queue's message id of the record; the
	// dead-letter queue's copy carries it as workflow.DLQAttrMessageID.
	MessageID   string
	ExecutionID string
	// Recipients are the to, cc and bcc addresses of the record's body,
	// as far as it could be read.
	Recipients []string
}

// Recipient is one recipient's delivery state: the type of its latest event.
type Recipient struct {
	Address   string
	State     workflow.OutcomeEventType
	At        time.Time
	Bounce    *workflow.EventBounce
	Complaint *workflow.EventComplaint
}

// Mail is the record of one mailId.
type Mail struct {
	MailID       string
	SESMessageID string
	// State is the latest whole-mail event's type (accepted, sent, rejected,
	// rendering-failed, dead-lettered), "" before any.
	State      workflow.OutcomeEventType
	StateAt    time.Time
	Recipients []Recipient // sorted by Address
	History    []Event     // by Time, oldest first, at most MaxHistory
	// DeadLetter is the mail's entry in the dead-letter index: set while
	// its latest whole-mail state is dead-lettered and the entry was not
	// forgotten ([DeadLetterIndex]); nil otherwise.
	DeadLetter *DeadLetter
	Version    int64 // incremented by every write; 0 = not stored
	UpdatedAt  time.Time
	ExpiresAt  time.Time
}

// Recipient returns the state of addr, if any event named it.
func (m Mail) Recipient(addr string) (Recipient, bool) {
	for _, r := range m.Recipients {
		if r.Address == addr {
			return r, true
		}
	}
	return Recipient{}, false
}

// ApplyParams are the inputs of [Store.Apply].
type ApplyParams struct {
	MailID    string
	Events    []Event
	Now       time.Time
	ExpiresAt time.Time // the record's new end (kept if later already)
}

// Validate checks the params; adapters call it before touching storage.
func (p ApplyParams) Validate() error {
	if p.MailID == "" {
		return errors.New("delivery: apply: MailID is empty")
	}
	if p.Now.IsZero() || !p.ExpiresAt.After(p.Now) {
		return errors.New("delivery: apply: ExpiresAt is not after Now")
	}
	for i, e := range p.Events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("delivery: apply: event %d: %w", i, err)
		}
	}
	return nil
}

// Validate checks one event.
func (e Event) Validate() error {
	switch {
	case e.ID == "":
		return errors.New("ID is empty")
	case e.Time.IsZero():
		return errors.New("its Time is the zero time")
	case !knownType(e.Type):
		return fmt.Errorf("type %q is not an outcome event type", e.Type)
	case e.Type.PerRecipient() && e.Recipient == "":
		return fmt.Errorf("a %s event names no recipient", e.Type)
	case !e.Type.PerRecipient() && e.Recipient != "":
		return fmt.Errorf("a %s event is about the whole mail, not %q", e.Type, e.Recipient)
	case e.Queued != nil && e.Type != workflow.EventDeadLettered:
		return fmt.Errorf("a %s event names no queue record; only %s does", e.Type, workflow.EventDeadLettered)
	}
	return nil
}

func knownType(t workflow.OutcomeEventType) bool {
	for _, k := range workflow.OutcomeEventTypes() {
		if k == t {
			return true
		}
	}
	return false
}

// Store is the delivery record port.
type Store interface {
	// Apply merges p.Events into the mail's record with [Merge] and returns
	// the record as written and the events that were new to it.
	Apply(ctx context.Context, p ApplyParams) (Mail, []Event, error)
	// Get returns the record, ok=false when there is none or it expired
	// at now.
	Get(ctx context.Context, mailID string, now time.Time) (m Mail, ok bool, err error)
}

// ErrVersionConflict is what an adapter's conditional write reports when
// the record's Version is no longer the one it read: another writer won.
var ErrVersionConflict = errors.New("delivery: the record changed since it was read")

// MaxAttempts bounds the read–merge–write cycles of one Apply. Each lost
// race means another Apply was written, so contention of a few writers on
// one mail (SES's events of one mail arrive close together) settles well
// within it.
const MaxAttempts = 64

// ApplyWith is Apply for adapters that write optimistically: it validates
// p, reads the record (nil when there is none), merges, and writes the
// next record with write, conditional on the version read (0: no record),
// retrying when write returns [ErrVersionConflict]. A merge that adds no
// event and does not extend ExpiresAt writes nothing and returns the
// record as read. It sets Version and UpdatedAt (p.Now) of what it writes.
func ApplyWith(ctx context.Context, p ApplyParams,
	read func(ctx context.Context, mailID string) (*Mail, error),
	write func(ctx context.Context, next Mail, readVersion int64) error,
) (Mail, []Event, error) {
	if err := p.Validate(); err != nil {
		return Mail{}, nil, err
	}
	for range MaxAttempts {
		if err := ctx.Err(); err != nil {
			return Mail{}, nil, err
		}
		cur, err := read(ctx, p.MailID)
		if err != nil {
			return Mail{}, nil, err
		}
		next, applied := Merge(cur, p)
		if cur != nil && len(applied) == 0 && !next.ExpiresAt.After(cur.ExpiresAt) {
			return *cur, nil, nil
		}
		var readVersion int64
		if cur != nil {
			readVersion = cur.Version
		}
		next.Version = readVersion + 1
		next.UpdatedAt = p.Now
		switch err := write(ctx, next, readVersion); {
		case err == nil:
			return next, applied, nil
		case !errors.Is(err, ErrVersionConflict):
			return Mail{}, nil, err
		}
	}
	return Mail{}, nil, fmt.Errorf("delivery: apply %q: lost the race to other writers %d times", p.MailID, MaxAttempts)
}
