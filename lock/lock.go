// Package lock is the port for the per-mail dedup lock: one record per
// mailId that says whether the mail is being sent (a lease held by one
// execution attempt) or has been sent (with the SES message id).
//
// The port is a small interface, [Table], implemented by adapters
// (lock/dynamolock for DynamoDB; a SQLite table locally). Every adapter must
// pass the conformance suite in lock/locktest.
//
// Contract, fixed here where the architecture is silent:
//
//   - Every operation takes the current time from its params; adapters never
//     read a clock. Expired leases and expired records are judged by
//     comparing these times, never by relying on TTL deletion, which is lazy.
//   - A record whose ExpiresAt has passed counts as absent: after the
//     retention window a mailId can be sent again.
//   - Acquire succeeds when no live record exists, or when the record is
//     SENDING with the same content hash, no attempt recorded, and either
//     its lease has run out or the same owner re-acquires (a retried task). Anything else fails with
//     a [*ConditionError] carrying the current record, from which the caller
//     decides: SENT, a live lease, or a different content hash.
//   - MarkSent succeeds for the owner while SENDING, even when the lease has
//     run out but nobody took over: the mail did go out and recording it is
//     what prevents a duplicate. Repeating it with the same SES id is a no-op
//     success.
//   - Renew extends the owner's lease while SENDING (no attempt recorded)
//     and adds one to Record.Renewals. Acquire starts the count at 0;
//     MarkSent keeps it. Nothing on the send path renews any more: the
//     attempt write below extends the lease itself.
//   - A send attempt is recorded before the mail service is called
//     (StartAttempt sets Record.AttemptedAt) and cleared only when the
//     service answered that it did not take the mail (ClearAttempt).
//     StartAttempt applies only for the owner, while SENDING, with no
//     attempt recorded; otherwise it fails with a ConditionError carrying
//     the record: SENT (already sent), outcome-unknown, or another owner
//     (the lease was lost to a takeover). Given LeaseUntil and ExpiresAt,
//     the same conditional write also renews the lease and adds one to
//     Record.Renewals, so the Send task's attempt costs one write, not a
//     renewal and then a mark. Renewals thus counts the attempts that
//     reached the mail service's door (the mark was written): an attempt
//     the pacer throttled writes nothing and is not counted. A SENDING
//     record whose attempt is set is outcome-unknown
//     ([Record.OutcomeUnknown]): the mail may have gone out and nothing
//     recorded it. No automatic path takes such a record over, renews or
//     releases it: Acquire, Renew and Release fail with a ConditionError
//     carrying it, so every later attempt (a retry, a redelivery, a
//     producer's resend, a restart) learns the outcome is unknown instead
//     of sending again. Only MarkSent (the answer arrived after all),
//     ResolveSent (SES's own event says it took the mail) and Forget (an
//     operator's explicit choice to send again) end that state.
//   - ResolveSent records what an SES Send or Delivery event proves: SES
//     accepted the mail. It turns a live SENDING record with an attempt
//     recorded (outcome-unknown, or an attempt whose answer its owner is
//     still writing; any owner, lease live or not) into SENT with the
//     event's SES id and SentAt = Now, keeping Owner, so the owner's later
//     MarkSent with the same SES id is still the no-op success above. On a
//     live SENT record with the same SES id it is a no-op success that
//     changes nothing (a repeated or late event must not move the dedup
//     window MarkSent set). Anything else fails with a ConditionError: no
//     record, an expired one, SENDING with no attempt (its holder has not
//     called SES, so the event is about an earlier send of the mailId) or
//     SENT with another SES id.
//   - StartAttempt with a ContentHash (an acquiring attempt) takes the
//     lock and records the attempt in one write: it applies where Acquire
//     would (no live record, or SENDING with the same content hash, no
//     attempt, and a lease that ran out or is the owner's own), and leaves
//     the record SENDING for the owner with the attempt set, the new lease
//     and expiry. A record it creates or takes over from another owner
//     starts Renewals at 1; the owner's own record counts on. This is how
//     the Send task takes the lock: the AcquireLock task only reads it, so
//     a mail's lock costs the attempt write and the SENT mark, and nothing
//     is held while the message is built. It fails with a ConditionError
//     carrying the record as the plain StartAttempt does, and also when the
//     live record has another content hash.
//   - Release deletes the record only for its owner while SENDING with no
//     attempt recorded.
//   - Conditional failures are [*ConditionError] (errors.Is [ErrCondition]);
//     any other error is the backend's and is treated as transient. Adapters
//     never retry.
package lock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Status of a lock record.
type Status string

const (
	// Sending: an execution attempt holds the lease and may be sending.
	Sending Status = "SENDING"
	// Sent: SES accepted the mail; SESMessageID is set.
	Sent Status = "SENT"
)

// Record is the lock item for one mailId.
type Record struct {
	MailID       string
	Status       Status
	Owner        string
	LeaseUntil   time.Time // when the owner's lease ends
	ContentHash  string
	SESMessageID string    // set when Sent
	SentAt       time.Time // set when Sent
	ExpiresAt    time.Time // the record counts as absent from then on (TTL)
	Renewals     int       // Renew calls and lease-renewing StartAttempt calls since Acquire
	// AttemptedAt is when a send attempt started whose answer is not
	// recorded (zero: none). On a SENT record it is the last attempt's
	// start, kept for inspection.
	AttemptedAt time.Time
}

// OutcomeUnknown reports whether a send attempt started and neither its
// success (SENT) nor a refusal was recorded.
func (r Record) OutcomeUnknown() bool { return r.Status == Sending && !r.AttemptedAt.IsZero() }

// Live reports whether the record still counts at now (not past ExpiresAt).
func (r Record) Live(now time.Time) bool { return now.Before(r.ExpiresAt) }

// LeaseLive reports whether a SENDING record's lease is still running at now.
func (r Record) LeaseLive(now time.Time) bool {
	return r.Status == Sending && now.Before(r.LeaseUntil)
}

// AcquireParams are the inputs of [Table.Acquire].
type AcquireParams struct {
	MailID      string
	Owner       string
	ContentHash string
	Now         time.Time
	LeaseUntil  time.Time // after Now
	ExpiresAt   time.Time // after LeaseUntil
}

// RenewParams are the inputs of [Table.Renew].
type RenewParams struct {
	MailID     string
	Owner      string
	Now        time.Time
	LeaseUntil time.Time
	ExpiresAt  time.Time
}

// MarkSentParams are the inputs of [Table.MarkSent].
type MarkSentParams struct {
	MailID       string
	Owner        string
	SESMessageID string
	Now          time.Time // recorded as SentAt
	ExpiresAt    time.Time // end of the dedup window
}

// AttemptParams are the inputs of [Table.StartAttempt].
type AttemptParams struct {
	MailID string
	Owner  string
	Now    time.Time // recorded as AttemptedAt
	// LeaseUntil and ExpiresAt, both set or both zero: when set, the
	// attempt write also renews the lease to them and counts a renewal.
	LeaseUntil time.Time
	ExpiresAt  time.Time
	// ContentHash, when set (with LeaseUntil and ExpiresAt), makes the
	// attempt take the lock as Acquire would: it creates the record or
	// takes it over under Acquire's conditions, in the same write that
	// records the attempt.
	ContentHash string
}

// Acquires reports whether the attempt also takes the lock.
func (p AttemptParams) Acquires() bool { return p.ContentHash != "" }

// RenewsLease reports whether the attempt write also renews the lease.
func (p AttemptParams) RenewsLease() bool { return !p.LeaseUntil.IsZero() }

// ClearAttemptParams are the inputs of [Table.ClearAttempt].
type ClearAttemptParams struct {
	MailID      string
	Owner       string
	AttemptedAt time.Time // the attempt StartAttempt recorded
}

// ForgetParams are the inputs of [Table.Forget].
type ForgetParams struct {
	MailID      string
	AttemptedAt time.Time // the attempt the operator saw
}

// ResolveParams are the inputs of [Table.ResolveSent].
type ResolveParams struct {
	MailID       string
	SESMessageID string    // the id SES reported in its event
	Now          time.Time // recorded as SentAt
	ExpiresAt    time.Time // end of the dedup window
}

// ReleaseParams are the inputs of [Table.Release].
type ReleaseParams struct {
	MailID string
	Owner  string
	Now    time.Time
}

// Table is the lock table port.
type Table interface {
	// Acquire creates or takes over the record as SENDING for p.Owner and
	// returns it.
	Acquire(ctx context.Context, p AcquireParams) (Record, error)
	// Renew extends p.Owner's lease while SENDING.
	Renew(ctx context.Context, p RenewParams) (Record, error)
	// StartAttempt records, before the mail service is called, that
	// p.Owner is about to send, and renews its lease in the same write
	// when p carries one.
	StartAttempt(ctx context.Context, p AttemptParams) (Record, error)
	// ClearAttempt forgets p.Owner's attempt after the service answered
	// that it did not take the mail.
	ClearAttempt(ctx context.Context, p ClearAttemptParams) (Record, error)
	// MarkSent records that SES accepted the mail.
	MarkSent(ctx context.Context, p MarkSentParams) (Record, error)
	// ResolveSent records, from an SES Send or Delivery event, that SES
	// accepted a mail whose send attempt has no recorded answer.
	ResolveSent(ctx context.Context, p ResolveParams) (Record, error)
	// Release deletes the record if p.Owner holds it SENDING with no
	// attempt recorded.
	Release(ctx context.Context, p ReleaseParams) error
	// Forget deletes an outcome-unknown record whose attempt is
	// p.AttemptedAt: the operator's choice to let the mail be sent again.
	Forget(ctx context.Context, p ForgetParams) error
	// Get returns the record, or ok=false when there is none (an expired
	// record that the backend still stores is returned as it is; callers
	// judge it with Record.Live).
	Get(ctx context.Context, mailID string) (rec Record, ok bool, err error)
	// Peek is Get from a read that may lag the latest write by a moment
	// (DynamoDB's eventually consistent read, at half the price of a
	// consistent one): for an early answer that a conditional write
	// settles later, never for a decision of its own. Adapters whose reads
	// are always current answer it as Get.
	Peek(ctx context.Context, mailID string) (rec Record, ok bool, err error)
}

// ErrCondition is matched by every [*ConditionError].
var ErrCondition = errors.New("lock: condition failed")

// ConditionError reports that a conditional write did not apply. Current is
// the record as it was when the condition was checked, or nil when there was
// none.
type ConditionError struct {
	Op      string // "acquire", "renew", "start-attempt", "clear-attempt", "mark-sent", "resolve-sent", "release", "forget"
	MailID  string
	Current *Record
}

func (e *ConditionError) Error() string {
	if e.Current == nil {
		return fmt.Sprintf("lock: %s %q: no record", e.Op, e.MailID)
	}
	if e.Current.OutcomeUnknown() {
		return fmt.Sprintf("lock: %s %q: outcome unknown: %q started a send at %s and no answer was recorded",
			e.Op, e.MailID, e.Current.Owner, e.Current.AttemptedAt.UTC().Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("lock: %s %q: record is %s, owned by %q, lease until %s",
		e.Op, e.MailID, e.Current.Status, e.Current.Owner, e.Current.LeaseUntil.UTC().Format(time.RFC3339Nano))
}

// Is makes errors.Is(err, ErrCondition) true.
func (e *ConditionError) Is(target error) bool { return target == ErrCondition }

// AsCondition returns the *ConditionError in err's chain, or nil.
func AsCondition(err error) *ConditionError {
	var ce *ConditionError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}

// Validate checks acquire params; adapters call it before touching storage.
func (p AcquireParams) Validate() error {
	switch {
	case p.MailID == "":
		return errors.New("lock: acquire: MailID is empty")
	case p.Owner == "":
		return errors.New("lock: acquire: Owner is empty")
	case p.ContentHash == "":
		return errors.New("lock: acquire: ContentHash is empty")
	case !p.LeaseUntil.After(p.Now):
		return errors.New("lock: acquire: LeaseUntil is not after Now")
	case p.ExpiresAt.Before(p.LeaseUntil):
		return errors.New("lock: acquire: ExpiresAt is before LeaseUntil")
	}
	return nil
}

// Validate checks renew params.
func (p RenewParams) Validate() error {
	switch {
	case p.MailID == "" || p.Owner == "":
		return errors.New("lock: renew: MailID and Owner are required")
	case !p.LeaseUntil.After(p.Now):
		return errors.New("lock: renew: LeaseUntil is not after Now")
	case p.ExpiresAt.Before(p.LeaseUntil):
		return errors.New("lock: renew: ExpiresAt is before LeaseUntil")
	}
	return nil
}

// Validate checks mark-sent params.
func (p MarkSentParams) Validate() error {
	switch {
	case p.MailID == "" || p.Owner == "":
		return errors.New("lock: mark-sent: MailID and Owner are required")
	case p.SESMessageID == "":
		return errors.New("lock: mark-sent: SESMessageID is empty")
	case !p.ExpiresAt.After(p.Now):
		return errors.New("lock: mark-sent: ExpiresAt is not after Now")
	}
	return nil
}

// Validate checks resolve-sent params.
func (p ResolveParams) Validate() error {
	switch {
	case p.MailID == "":
		return errors.New("lock: resolve-sent: MailID is empty")
	case p.SESMessageID == "":
		return fmt.Errorf("lock: resolve-sent %q: SESMessageID is empty", p.MailID)
	case p.Now.IsZero():
		return fmt.Errorf("lock: resolve-sent %q: Now is the zero time", p.MailID)
	case !p.ExpiresAt.After(p.Now):
		return fmt.Errorf("lock: resolve-sent %q: ExpiresAt %s is not after Now %s", p.MailID,
			p.ExpiresAt.UTC().Format(time.RFC3339Nano), p.Now.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// Validate checks release params.
func (p ReleaseParams) Validate() error {
	if p.MailID == "" || p.Owner == "" {
		return errors.New("lock: release: MailID and Owner are required")
	}
	return nil
}

// Validate checks start-attempt params.
func (p AttemptParams) Validate() error {
	if p.MailID == "" || p.Owner == "" {
		return errors.New("lock: start-attempt: MailID and Owner are required")
	}
	if p.Now.IsZero() {
		return errors.New("lock: start-attempt: Now is the zero time")
	}
	if p.Acquires() && (p.LeaseUntil.IsZero() || p.ExpiresAt.IsZero()) {
		return fmt.Errorf("lock: start-attempt %q: an acquiring attempt (ContentHash set) needs LeaseUntil and ExpiresAt", p.MailID)
	}
	switch {
	case p.LeaseUntil.IsZero() && p.ExpiresAt.IsZero():
	case p.LeaseUntil.IsZero() || p.ExpiresAt.IsZero():
		return fmt.Errorf("lock: start-attempt %q: LeaseUntil and ExpiresAt must be given together", p.MailID)
	case !p.LeaseUntil.After(p.Now):
		return fmt.Errorf("lock: start-attempt %q: LeaseUntil is not after Now", p.MailID)
	case p.ExpiresAt.Before(p.LeaseUntil):
		return fmt.Errorf("lock: start-attempt %q: ExpiresAt is before LeaseUntil", p.MailID)
	}
	return nil
}

// Validate checks clear-attempt params.
func (p ClearAttemptParams) Validate() error {
	if p.MailID == "" || p.Owner == "" {
		return errors.New("lock: clear-attempt: MailID and Owner are required")
	}
	if p.AttemptedAt.IsZero() {
		return errors.New("lock: clear-attempt: AttemptedAt is the zero time")
	}
	return nil
}

// Validate checks forget params.
func (p ForgetParams) Validate() error {
	if p.MailID == "" {
		return errors.New("lock: forget: MailID is required")
	}
	if p.AttemptedAt.IsZero() {
		return errors.New("lock: forget: AttemptedAt is the zero time")
	}
	return nil
}
