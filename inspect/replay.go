package inspect

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/workflow"
)

// Replay actions.
const (
	ActionEnqueued = "enqueued"
	ActionSkipped  = "skipped"
	ActionFailed   = "failed"
)

// Replay classes: what replay found an item to be, before acting on it.
const (
	// ClassTransient is a record that was not delivered for a reason that
	// may have passed (a transient error, a retry, an unfinished run): it
	// is re-enqueued.
	ClassTransient = "transient"
	// ClassPermanent is a record that failed with a permanent error: sent
	// as it is, it would fail again, so it is skipped unless forced.
	ClassPermanent = "permanent"
	// ClassAlreadySent is a mail that was sent: it is skipped.
	ClassAlreadySent = string(workflow.OutcomeAlreadySent) // what a replay of it would end as
	// ClassOutcomeUnknown is a mail whose send started and was never
	// answered: it is skipped unless forced.
	ClassOutcomeUnknown = "outcome-unknown"
	// ClassOnSourceQueue is a record its execution left on the source
	// queue (retry-later, unfinished) whose body is not known, and of which
	// the dead-letter queue holds no copy: SQS delivers it again by itself
	// (or its redrive policy moves it to the dead-letter queue, where a
	// later replay finds it), so it is not replayed.
	ClassOnSourceQueue = "on-source-queue"
	// ClassBodyUnknown is a record whose body is not known (not logged and
	// no copy in the dead-letter queue, or masked): it cannot be replayed.
	ClassBodyUnknown = "body-unknown"
)

// ReplayClasses lists the classes in the order a summary shows them.
var ReplayClasses = []string{ClassTransient, ClassPermanent, ClassAlreadySent, ClassOutcomeUnknown, ClassOnSourceQueue, ClassBodyUnknown}

// ReplayResult.KnownFrom for a record the execution's items do not name.
const (
	// KnownFromDeadLetterQueue: found as a dead-letter copy the execution
	// tagged.
	KnownFromDeadLetterQueue = "dead-letter-queue"
	// KnownFromDeadLetterIndex: found in the dead-letter index (the
	// delivery records) as dead-lettered by the execution, with no copy
	// left in the queue.
	KnownFromDeadLetterIndex = "dead-letter-index"
)

// ReplayResult says what replay did with one item.
type ReplayResult struct {
	Index        int              `json:"index"`
	MessageID    string           `json:"messageId"`
	MailID       string           `json:"mailId,omitempty"`
	Outcome      workflow.Outcome `json:"outcome"`
	Class        string           `json:"class"`
	Action       string           `json:"action"`
	Forced       bool             `json:"forced,omitempty"`
	NewMessageID string           `json:"newMessageId,omitempty"`
	LockStatus   lock.Status      `json:"lockStatus,omitempty"`
	// BodyFrom is the dead-letter queue's message id of the copy the body
	// was taken from, when the execution's log did not have it.
	BodyFrom string `json:"bodyFrom,omitempty"`
	// KnownFrom is KnownFromDeadLetterQueue or KnownFromDeadLetterIndex for
	// a record only a dead-letter copy or index entry names (Index then
	// follows the execution's items).
	KnownFrom string `json:"knownFrom,omitempty"`
	// DeadLettersRemoved counts the item's copies deleted from the
	// dead-letter queue once it was re-enqueued.
	DeadLettersRemoved int    `json:"deadLettersRemoved,omitempty"`
	Note               string `json:"note"`
}

// ReplayCount is how many items of a class replay saw, re-enqueued (of
// which forced) and skipped.
type ReplayCount struct {
	Class    string `json:"class"`
	Items    int    `json:"items"`
	Enqueued int    `json:"enqueued"`
	Forced   int    `json:"forced,omitempty"`
	Skipped  int    `json:"skipped"`
}

// SummarizeReplay counts results per class, in [ReplayClasses] order,
// leaving out the classes no item has.
func SummarizeReplay(results []ReplayResult) []ReplayCount {
	by := map[string]*ReplayCount{}
	for _, r := range results {
		c := by[r.Class]
		if c == nil {
			c = &ReplayCount{Class: r.Class}
			by[r.Class] = c
		}
		c.Items++
		switch r.Action {
		case ActionEnqueued:
			c.Enqueued++
			if r.Forced {
				c.Forced++
			}
		case ActionSkipped:
			c.Skipped++
		}
	}
	out := []ReplayCount{}
	for _, k := range ReplayClasses {
		if c := by[k]; c != nil {
			out = append(out, *c)
		}
	}
	return out
}

// ReplayOptions choose what Replay re-enqueues.
type ReplayOptions struct {
	// FailedOnly replays only the items that were not delivered. Delivered
	// items are skipped either way (they are already sent); the option
	// only names them "not failed".
	FailedOnly bool
	// Force also replays a mail whose outcome is unknown (its send started
	// and the answer was never recorded, so it may have been delivered):
	// its lock record is deleted first, so the replay sends it again. It
	// needs a lock table that is a [LockForgetter]. Force implies
	// RetryPermanent.
	Force bool
	// RetryPermanent also replays a record that failed permanently, for
	// when its cause was fixed outside the record (a sender verified, an
	// address unsuppressed). Unlike Force it cannot send a mail twice: such
	// a mail was not sent.
	RetryPermanent bool
}

// LockForgetter deletes an outcome-unknown lock record (a lock.Table does).
type LockForgetter interface {
	Forget(ctx context.Context, p lock.ForgetParams) error
}

// ErrOutcomeUnknown is returned (wrapped) by Replay when it left items
// alone because their outcome is unknown and Force was not set.
var ErrOutcomeUnknown = errors.New("the outcome of a send is unknown")

// Replay re-enqueues the source records of an execution's items onto the
// source queue. Only the body is sent (the state machine reads nothing else
// of a record); SQS gives the copy a new message id. Each item is first
// classified (see the Class constants), from its outcome, its error and,
// when locks is given, its dedup lock:
//   - a delivered mail, or one whose lock is SENT, is skipped: already sent;
//   - a mail whose lock is outcome-unknown, or that failed with
//     Mail.OutcomeUnknown, is skipped unless o.Force (then Replay returns
//     an error wrapping ErrOutcomeUnknown after the other items); forced,
//     its lock record is deleted and the mail is sent again;
//   - a record that failed permanently (workflow.KindOf its error) is
//     skipped unless o.Force or o.RetryPermanent: sent as it is, it would only be dead-lettered
//     again;
//   - a record whose body is unknown is skipped: on-source-queue when the
//     execution left it on the source queue (retry-later, unfinished),
//     which delivers it again, body-unknown otherwise (see [NotReplayed]);
//   - anything else is re-enqueued.
//
// The bodies are those of the items, whatever source built them. When the
// execution input is not logged (log level ERROR, or execution data off)
// or an item that was not delivered has no body, the dead-letter queue is
// read once ([Queues.DeadLetters]: the store is peeked, SQS received and
// given back at once) and an item's body is taken from its copy, found by
// the source message id the state machine tags its copies with, or by its
// own message id for a copy the source queue's redrive policy moved; an
// item without a message id is matched by mail id to a copy this execution
// tagged. A copy tagged with this execution that no item names is replayed
// as one more item (KnownFrom), so a replay works from the copies alone
// when the log names no record; with a dead-letter index (q.Index), a
// mail it lists as dead-lettered by this execution whose copy is gone is
// one more item too, reported body-unknown.
//
// A re-enqueued record that was not sent has its copies removed from the
// dead-letter queue, after the enqueue succeeded (so a failure in between
// leaves the copy, never loses the record): the replay is now the record's
// one pending delivery, and a later redrive would only enqueue it twice.
// progress, when set, sees each result as it is made.
func Replay(ctx context.Context, x *Execution, o ReplayOptions, q *Queues, locks LockReader, now time.Time, progress func(ReplayResult)) ([]ReplayResult, error) {
	refused := 0
	out := []ReplayResult{}
	report := func(r ReplayResult) {
		out = append(out, r)
		if progress != nil {
			progress(r)
		}
	}
	items, knownFrom, copies, copiesRead, err := replayItems(ctx, x, q)
	if err != nil {
		return out, err
	}
	for i, it := range items {
		r := ReplayResult{Index: it.Index, MessageID: it.MessageID, MailID: it.MailID, Outcome: it.Outcome, KnownFrom: knownFrom[i]}
		sourceID := it.MessageID
		if it.Body == "" {
			if c := copyFor(copies, it, x.ID); c != nil {
				it.Body, r.BodyFrom = c.Body, c.MessageID
				if it.Error == "" {
					it.Error, it.Cause = c.Error, c.Cause
				}
				if sourceID == "" {
					sourceID = cmp.Or(c.SourceMessageID, c.MessageID)
				}
				if it.MailID == "" {
					it.MailID = c.MailID
					r.MailID = c.MailID
				}
			}
		}
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
		errName := workflow.ErrorName(it.Error)
		unknown := held && rec.OutcomeUnknown()
		r.Class = ClassTransient
		switch {
		case unknown || errName == workflow.OutcomeUnknown:
			r.Class = ClassOutcomeUnknown
		case held && rec.Status == lock.Sent, !it.Failed():
			r.Class = ClassAlreadySent
		case workflow.KindOf(errName) == workflow.KindPermanent:
			r.Class = ClassPermanent
		}
		// A record without its body cannot be replayed, whatever it is;
		// nor one whose addresses the log masked, which is not the mail.
		masked := false
		if r.Class != ClassAlreadySent {
			switch {
			case it.Body == "" && (it.Outcome == workflow.OutcomeRetryLater || it.Outcome == workflow.OutcomeUnfinished):
				r.Class = ClassOnSourceQueue
			case it.Body == "":
				r.Class = ClassBodyUnknown
			default:
				if masked = MaskedAddresses(it.Body); masked {
					r.Class = ClassBodyUnknown
				}
			}
		}
		r.Action = ActionSkipped
		switch r.Class {
		case ClassOnSourceQueue:
			r.Note = "not replayed: its execution left the record on the source queue, which delivers it again (its redrive policy moves it to the dead-letter queue once its receives run out, and a replay then finds it there); its body " + bodyNowhere(copiesRead)
			report(r)
			continue
		case ClassBodyUnknown:
			r.Note = "cannot replay it: its body " + bodyNowhere(copiesRead)
			if masked {
				r.Note = "the record's addresses are masked in the log (its data protection policy): cannot replay it; read the log unmasked, which takes logs:Unmask"
			} else if r.KnownFrom == KnownFromDeadLetterIndex {
				r.Note += " (the dead-letter index lists it as dead-lettered by this execution; its copy was deleted or purged, or is past the queue's retention)"
			} else if copiesRead && it.Outcome == workflow.OutcomeDeadLettered {
				r.Note += " (redriven, replayed or purged already, or past the queue's retention)"
			}
			report(r)
			continue
		case ClassAlreadySent:
			r.Note = alreadySentNote(rec, held, it, o.FailedOnly)
			report(r)
			continue
		case ClassOutcomeUnknown:
			if !o.Force {
				refused++
				r.Note = unknownNote(rec, unknown, it) + "; check the recipient's mailbox or the provider's logs, then replay with --force to send it again"
				report(r)
				continue
			}
		case ClassPermanent:
			if !o.Force && !o.RetryPermanent {
				r.Note = "will fail again: " + failureReason(it) + "; fix the cause, then replay with --force to send it anyway"
				report(r)
				continue
			}
		}
		r.Forced = r.Class == ClassOutcomeUnknown || r.Class == ClassPermanent
		if unknown {
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
		}
		id, err := q.Enqueue(ctx, it.Body)
		if err != nil {
			r.Action, r.Note = ActionFailed, err.Error()
			report(r)
			return out, err
		}
		r.Action, r.NewMessageID = ActionEnqueued, id
		switch {
		case r.Class == ClassOutcomeUnknown:
			r.Note = "forced: " + unknownNote(rec, unknown, it) + "; its lock record was deleted and it will be sent again"
		case r.Class == ClassPermanent:
			r.Note = "forced: it failed with " + failureReason(it) + "; it will be sent again"
		case it.Outcome == workflow.OutcomeRetryLater && r.BodyFrom == "":
			r.Note = "will be sent; the original message also returns to the queue, the dedup lock lets only one send"
		case held && rec.Status == lock.Sending:
			r.Note = "another attempt holds the lock; the replay waits for it (LockBusy) and ends sent or already-sent"
		default:
			r.Note = "will be sent; if it was sent meanwhile, the dedup lock makes it already-sent"
		}
		if r.BodyFrom != "" {
			r.Note += "; the body is that of its dead-letter copy " + r.BodyFrom
		}
		// A record the source queue's redrive policy moved was recorded
		// as retry-later or unfinished, never dead-lettered: look for its
		// copy whatever the outcome.
		if it.Outcome != workflow.OutcomeSent && sourceID != "" {
			n, err := q.removeDeadLetters(ctx, sourceID, it.MailID)
			r.DeadLettersRemoved = n
			if err != nil {
				r.Note += "; its copy in the dead-letter queue stays there: " + err.Error()
				report(r)
				return out, err
			}
			if n > 0 || it.Outcome == workflow.OutcomeDeadLettered {
				r.Note += "; " + removedNote(n)
			}
		}
		report(r)
	}
	if refused > 0 {
		return out, fmt.Errorf("%d item(s) not replayed: %w (the mail may have been delivered); replay with --force to send them again", refused, ErrOutcomeUnknown)
	}
	return out, nil
}

// replayItems is what Replay works through: the execution's items, then
// the records only a dead-letter copy tagged with the execution, or the
// dead-letter index, names; knownFrom says which, item by item ("" for the
// execution's own). The dead-letter queue is read (copiesRead) when the
// execution input is not logged or an item that was not delivered has no
// body.
func replayItems(ctx context.Context, x *Execution, q *Queues) (items []Item, knownFrom []string, copies []DeadLetter, copiesRead bool, err error) {
	items = append(items, x.Items...)
	knownFrom = make([]string, len(items))
	need := x.InputMissing
	for _, it := range x.Items {
		need = need || (it.Body == "" && it.Failed())
	}
	if !need || q.DLQURL == "" {
		return items, knownFrom, nil, false, nil
	}
	if copies, err = q.DeadLetters(ctx, awsListCap); err != nil {
		return items, knownFrom, nil, false, fmt.Errorf("reading the dead-letter queue for the bodies the log does not have: %w", err)
	}
	named := map[string]bool{}
	for _, it := range x.Items {
		if it.MessageID != "" {
			named[it.MessageID] = true
		}
	}
	add := func(d DeadLetter, from string) {
		if d.ExecutionID == "" || d.ExecutionID != x.ID || d.SourceMessageID == "" || named[d.SourceMessageID] || mailNamed(x.Items, d.MailID) {
			return // an item without a message id takes it by its mail id
		}
		named[d.SourceMessageID] = true
		items = append(items, Item{Index: len(items), MessageID: d.SourceMessageID, MailID: d.MailID,
			Outcome: workflow.OutcomeDeadLettered, Error: d.Error, Cause: d.Cause})
		knownFrom = append(knownFrom, from)
	}
	for _, c := range copies {
		add(c, KnownFromDeadLetterQueue)
	}
	if q.Index != nil {
		err = q.scanIndex(ctx, "", func(d DeadLetter, _ bool) bool { add(d, KnownFromDeadLetterIndex); return true })
		if err != nil {
			return items, knownFrom, copies, true, err
		}
	}
	return items, knownFrom, copies, true, nil
}

// mailNamed reports whether an item without a message id names mailID.
func mailNamed(items []Item, mailID string) bool {
	for _, it := range items {
		if it.MessageID == "" && mailID != "" && it.MailID == mailID {
			return true
		}
	}
	return false
}

// copyFor is the dead-letter copy of the item's record: tagged with its
// message id, or holding it as its own (moved by the redrive policy); for
// an item without a message id, a copy of its mail that execution tagged.
func copyFor(copies []DeadLetter, it Item, execution string) *DeadLetter {
	for i, c := range copies {
		if it.MessageID != "" && (c.SourceMessageID == it.MessageID || c.MessageID == it.MessageID) {
			return &copies[i]
		}
	}
	if it.MessageID != "" || it.MailID == "" {
		return nil
	}
	for i, c := range copies {
		if c.MailID == it.MailID && c.ExecutionID != "" && c.ExecutionID == execution {
			return &copies[i]
		}
	}
	return nil
}

// bodyNowhere says where a record's body was looked for.
func bodyNowhere(copiesRead bool) string {
	if copiesRead {
		return "was not logged (execution data off, or a log level that logs no input) and no copy of it is in the dead-letter queue"
	}
	return "is unknown (execution data not logged, or truncated)"
}

// NotReplayed counts the results of records that were not delivered and
// that replay could not re-enqueue for want of their body (body-unknown):
// nothing else will deliver them, so the command says so in its exit
// status. An on-source-queue record is not counted: SQS delivers it again.
func NotReplayed(results []ReplayResult) int {
	n := 0
	for _, r := range results {
		if r.Class == ClassBodyUnknown && !r.Outcome.Delivered() {
			n++
		}
	}
	return n
}

// ReplayInputNote says what a replay of x could not see, "" when the
// execution input is logged: without it the records are those the log and
// the dead-letter copies name, and a record the execution handled without
// failing is not known.
func ReplayInputNote(x *Execution) string {
	if !x.InputMissing {
		return ""
	}
	level := ""
	if x.LogLevel != "" && x.LogLevel != LevelAll {
		level = " (log level " + x.LogLevel + ")"
	}
	return "the execution input is not logged" + level + ": the records replayed are those its log and the dead-letter copies it tagged name; a record it handled without failing is not known"
}

func removedNote(n int) string {
	switch n {
	case 0:
		return "no copy of it in the dead-letter queue (redriven already, or held by a listing)"
	case 1:
		return "its copy in the dead-letter queue was removed"
	}
	return fmt.Sprintf("its %d copies in the dead-letter queue were removed", n)
}

// failureReason is an item's error name and readable cause.
func failureReason(it Item) string {
	if c := CauseMessage(it.Cause); c != "" {
		return it.Error + ": " + c
	}
	return it.Error
}

// alreadySentNote says how replay knows a mail was sent.
func alreadySentNote(rec lock.Record, held bool, it Item, failedOnly bool) string {
	switch {
	case failedOnly && !it.Failed():
		return "not failed (" + string(it.Outcome) + ")"
	case held && rec.Status == lock.Sent:
		return "already sent " + rec.SESMessageID
	}
	return "already sent (this execution recorded it " + string(it.Outcome) + ")"
}

// unknownNote says what is known of an outcome-unknown mail.
func unknownNote(rec lock.Record, locked bool, it Item) string {
	if !locked {
		return "outcome unknown: " + failureReason(it)
	}
	n := "outcome unknown: a send started at " + rec.AttemptedAt.UTC().Format(time.RFC3339) + " and its answer was never recorded"
	if it.Outcome == workflow.OutcomeSent {
		n += " (this execution recorded it as sent: it was most likely delivered)"
	}
	return n
}

// removeDeadLetters deletes the dead-letter queue's copies of the source
// record sourceMessageID: those the state machine tagged with it, and the
// record itself when the source queue's redrive policy moved it (it keeps
// its message id). It receives through the queue until no new message
// comes, deletes the copies, forgets the mail's index entry and makes every
// other message visible again at once.
func (q *Queues) removeDeadLetters(ctx context.Context, sourceMessageID, mailID string) (int, error) {
	if q.DLQURL == "" {
		return 0, nil
	}
	removed := 0
	err := q.sweep(ctx, func(m types.Message) (bool, error) {
		if !copyOf(m, sourceMessageID) {
			return false, nil
		}
		if err := q.deleteReceived(ctx, m); err != nil {
			return false, err
		}
		removed++
		return true, nil
	})
	if removed > 0 {
		q.forget(ctx, mailID)
	}
	return removed, err
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

// MaskedAddresses reports whether a message body's address fields (from,
// to, cc, bcc, replyTo) hold a value made of asterisks only: what a log
// group's data protection policy shows instead of an e-mail address to a
// reader without logs:Unmask.
func MaskedAddresses(body string) bool {
	var m map[string]any
	if json.Unmarshal([]byte(body), &m) != nil {
		return false
	}
	masked := func(v any) bool {
		s, ok := v.(string)
		return ok && len(s) > 0 && strings.Trim(s, "*") == ""
	}
	for _, field := range []string{"from", "to", "cc", "bcc", "replyTo"} {
		switch v := m[field].(type) {
		case []any:
			for _, e := range v {
				if masked(e) {
					return true
				}
			}
		default:
			if masked(v) {
				return true
			}
		}
	}
	return false
}
