package lock

import "time"

// The conditions of the contract (see the package doc), for adapters that
// evaluate them in Go on the current record (nil when there is none). The
// DynamoDB adapter states the same rules as condition expressions.

// AcquireAllowed reports whether Acquire may take the record over.
func AcquireAllowed(cur *Record, p AcquireParams) bool {
	return cur == nil || !cur.Live(p.Now) ||
		(cur.Status == Sending && cur.AttemptedAt.IsZero() && cur.ContentHash == p.ContentHash && (!p.Now.Before(cur.LeaseUntil) || cur.Owner == p.Owner))
}

// RenewAllowed reports whether p.Owner may extend its lease.
func RenewAllowed(cur *Record, p RenewParams) bool {
	return cur != nil && cur.Owner == p.Owner && cur.Status == Sending && cur.AttemptedAt.IsZero()
}

// StartAttemptAllowed reports whether p.Owner may record a send attempt:
// on its own SENDING record with no attempt, or, for an acquiring attempt,
// also where AttemptTakesOver says it creates or takes over the record.
func StartAttemptAllowed(cur *Record, p AttemptParams) bool {
	return AttemptTakesOver(cur, p) || AttemptUpdatesOwn(cur, p)
}

// AttemptUpdatesOwn reports whether the attempt applies to p.Owner's own
// SENDING record with no attempt (of the same content, for an acquiring
// attempt), which it updates rather than replaces.
func AttemptUpdatesOwn(cur *Record, p AttemptParams) bool {
	return cur != nil && cur.Owner == p.Owner && cur.Status == Sending && cur.AttemptedAt.IsZero() &&
		(!p.Acquires() || cur.ContentHash == p.ContentHash)
}

// AttemptTakesOver reports whether an acquiring attempt creates the record
// (none, or an expired one) or takes it over from another owner whose
// lease ran out with no attempt recorded. Such a write replaces the record
// whole; on the owner's own record the attempt updates it instead.
func AttemptTakesOver(cur *Record, p AttemptParams) bool {
	return p.Acquires() && (cur == nil || !cur.Live(p.Now) ||
		(cur.Status == Sending && cur.AttemptedAt.IsZero() && cur.ContentHash == p.ContentHash &&
			!p.Now.Before(cur.LeaseUntil) && cur.Owner != p.Owner))
}

// ClearAttemptAllowed reports whether p.Owner may forget its attempt.
func ClearAttemptAllowed(cur *Record, p ClearAttemptParams) bool {
	return cur != nil && cur.Owner == p.Owner && cur.Status == Sending && SameInstant(cur.AttemptedAt, p.AttemptedAt)
}

// ForgetAllowed reports whether an operator may delete the record.
func ForgetAllowed(cur *Record, p ForgetParams) bool {
	return cur != nil && cur.OutcomeUnknown() && SameInstant(cur.AttemptedAt, p.AttemptedAt)
}

// SameInstant compares times at the millisecond, the precision every
// adapter stores.
func SameInstant(a, b time.Time) bool {
	return !a.IsZero() && !b.IsZero() && a.UnixMilli() == b.UnixMilli()
}

// MarkSentAllowed reports whether p.Owner may mark the record SENT (again,
// with the same SES message id).
func MarkSentAllowed(cur *Record, p MarkSentParams) bool {
	return cur != nil && cur.Owner == p.Owner &&
		(cur.Status == Sending || (cur.Status == Sent && cur.SESMessageID == p.SESMessageID))
}

// ReleaseAllowed reports whether p.Owner may delete the record.
func ReleaseAllowed(cur *Record, p ReleaseParams) bool {
	return cur != nil && cur.Owner == p.Owner && cur.Status == Sending && cur.AttemptedAt.IsZero()
}

// ResolveSentAllowed reports whether an SES event proving that SES accepted
// the mail with p.SESMessageID may resolve the record: a live SENDING
// record with an attempt recorded (whoever owns it, lease live or not)
// becomes SENT, and a live SENT record with the same SES id stays as it is.
func ResolveSentAllowed(cur *Record, p ResolveParams) bool {
	return cur != nil && cur.Live(p.Now) &&
		(cur.OutcomeUnknown() || (cur.Status == Sent && cur.SESMessageID == p.SESMessageID))
}
