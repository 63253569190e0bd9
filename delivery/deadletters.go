package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DeadLetter is a mail's entry in the dead-letter index: the mail's latest
// whole-mail state is dead-lettered, and this is what the pipeline
// recorded when it dead-lettered the mail's record.
//
// The index exists because SQS cannot list a queue without receiving its
// messages: the delivery record, which every dead-lettered mail has, can
// be listed instead. Only mails the state machine dead-lettered are in it;
// a record the source queue's redrive policy moved (its executions failed
// as a whole) has no dead-lettered event and so no entry.
//
// [Merge] keeps the entry: a dead-lettered event that becomes the mail's
// state sets it; a later whole-mail event (accepted, sent, rejected,
// rendering-failed) or a later delivered recipient removes it, since the
// mail went on; [DeadLetterIndex.ForgetDeadLetter] removes it when the
// queue's copy is deleted or redriven.
type DeadLetter struct {
	// At is the dead-lettered event's time (the execution's start).
	At    time.Time
	Error string
	Cause string
	// MessageID, ExecutionID and Recipients are the event's [QueuedRecord].
	MessageID   string
	ExecutionID string
	Recipients  []string
}

// Key is the entry's place in the index: its time, then the mail id.
func (d DeadLetter) Key(mailID string) string { return DeadLetterKey(d.At, mailID) }

// deadLetterKeyLayout is fixed-width, so keys sort by time as strings.
const deadLetterKeyLayout = "2006-01-02T15:04:05.000Z"

// DeadLetterKey is the index key of a mail dead-lettered at at: the time
// in UTC to the millisecond, a space, the mail id. Keys sort by time, then
// mail id; a listing's cursor is a key.
func DeadLetterKey(at time.Time, mailID string) string {
	return at.UTC().Format(deadLetterKeyLayout) + " " + mailID
}

// ParseDeadLetterKey reads a key DeadLetterKey made.
func ParseDeadLetterKey(key string) (at time.Time, mailID string, err error) {
	n := len(deadLetterKeyLayout)
	if len(key) < n+2 || key[n] != ' ' {
		return time.Time{}, "", fmt.Errorf("dead-letter cursor %q: want the time and the mail id, like %q", key, DeadLetterKey(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "mail-1"))
	}
	at, err = time.Parse(deadLetterKeyLayout, key[:n])
	if err != nil {
		return time.Time{}, "", fmt.Errorf("dead-letter cursor %q: its time: %w", key, err)
	}
	return at, key[n+1:], nil
}

// MaxDeadLetterPage bounds one page of [DeadLetterIndex.DeadLettered].
const MaxDeadLetterPage = 1000

// DeadLetterPageParams select a page of the index.
type DeadLetterPageParams struct {
	// After is the key the previous page ended with ("" from the start).
	After string
	// Limit is the most records returned, 1..MaxDeadLetterPage.
	Limit int
	// Now: records expired at Now are left out.
	Now time.Time
}

// Validate checks the params; adapters call it before touching storage.
func (p DeadLetterPageParams) Validate() error {
	if p.Limit < 1 || p.Limit > MaxDeadLetterPage {
		return fmt.Errorf("delivery: dead letters: limit %d is not within 1..%d", p.Limit, MaxDeadLetterPage)
	}
	if p.Now.IsZero() {
		return errors.New("delivery: dead letters: Now is the zero time")
	}
	if p.After != "" {
		if _, _, err := ParseDeadLetterKey(p.After); err != nil {
			return fmt.Errorf("delivery: %w", err)
		}
	}
	return nil
}

// DeadLetterIndex lists the mails whose latest state is dead-lettered
// without reading the dead-letter queue. Every adapter of [Store] also
// implements it (deliverytest.RunDeadLetterIndex checks them).
type DeadLetterIndex interface {
	// DeadLettered returns up to p.Limit records with a DeadLetter entry,
	// not expired at p.Now, in key order ([DeadLetter.Key]) after p.After;
	// next is the key of the last one returned when more follow, "" when
	// the index was read to its end.
	DeadLettered(ctx context.Context, p DeadLetterPageParams) (mails []Mail, next string, err error)
	// ForgetDeadLetter removes the mail's entry (its dead-letter copy was
	// deleted or redriven); the record and its history stay. ok=false
	// when the mail had no entry.
	ForgetDeadLetter(ctx context.Context, mailID string, now time.Time) (ok bool, err error)
}

// ForgetWith is ForgetDeadLetter for adapters that write optimistically,
// with the read and the conditional write of [ApplyWith]: it clears the
// entry of a live record and bumps its version, retrying a lost race.
func ForgetWith(ctx context.Context, mailID string, now time.Time,
	read func(ctx context.Context, mailID string) (*Mail, error),
	write func(ctx context.Context, next Mail, readVersion int64) error,
) (bool, error) {
	if strings.TrimSpace(mailID) == "" {
		return false, errors.New("delivery: forget dead letter: MailID is empty")
	}
	if now.IsZero() {
		return false, errors.New("delivery: forget dead letter: Now is the zero time")
	}
	for range MaxAttempts {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		cur, err := read(ctx, mailID)
		if err != nil {
			return false, err
		}
		if cur == nil || !now.Before(cur.ExpiresAt) || cur.DeadLetter == nil {
			return false, nil
		}
		next := *cur
		next.DeadLetter = nil
		next.Version = cur.Version + 1
		next.UpdatedAt = now
		switch err := write(ctx, next, cur.Version); {
		case err == nil:
			return true, nil
		case !errors.Is(err, ErrVersionConflict):
			return false, err
		}
	}
	return false, fmt.Errorf("delivery: forget dead letter %q: lost the race to other writers %d times", mailID, MaxAttempts)
}

// EncodeDeadLetter is how adapters store a record's DeadLetter: JSON, times
// in Unix milliseconds; nil for none.
func EncodeDeadLetter(m Mail) ([]byte, error) {
	d := m.DeadLetter
	if d == nil {
		return nil, nil
	}
	b, err := json.Marshal(wireDeadLetter{At: unixMilli(d.At), Error: d.Error, Cause: d.Cause,
		MessageID: d.MessageID, ExecutionID: d.ExecutionID, Recipients: d.Recipients})
	if err != nil {
		return nil, fmt.Errorf("delivery: encode the dead letter of %q: %w", m.MailID, err)
	}
	return b, nil
}

// DecodeDeadLetter reads what EncodeDeadLetter wrote into m; empty data
// is no entry.
func DecodeDeadLetter(m *Mail, data []byte) error {
	if len(data) == 0 {
		m.DeadLetter = nil
		return nil
	}
	var w wireDeadLetter
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	m.DeadLetter = &DeadLetter{At: fromUnixMilli(w.At), Error: w.Error, Cause: w.Cause,
		MessageID: w.MessageID, ExecutionID: w.ExecutionID, Recipients: w.Recipients}
	return nil
}

type wireDeadLetter struct {
	At          int64    `json:"at"`
	Error       string   `json:"error,omitempty"`
	Cause       string   `json:"cause,omitempty"`
	MessageID   string   `json:"messageId,omitempty"`
	ExecutionID string   `json:"executionId,omitempty"`
	Recipients  []string `json:"recipients,omitempty"`
}

// deadLetterOf is the entry a dead-lettered event makes.
func deadLetterOf(e Event) *DeadLetter {
	d := &DeadLetter{At: e.Time}
	if e.Reason != nil {
		d.Error, d.Cause = e.Reason.Error, e.Reason.Cause
	}
	if q := e.Queued; q != nil {
		d.MessageID, d.ExecutionID = q.MessageID, q.ExecutionID
		d.Recipients = append([]string(nil), q.Recipients...)
	}
	return d
}
