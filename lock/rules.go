package lock

// The conditions of the contract (see the package doc), for adapters that
// evaluate them in Go on the current record (nil when there is none). The
// DynamoDB adapter states the same rules as condition expressions.

// AcquireAllowed reports whether Acquire may take the record over.
func AcquireAllowed(cur *Record, p AcquireParams) bool {
	return cur == nil || !cur.Live(p.Now) ||
		(cur.Status == Sending && cur.ContentHash == p.ContentHash && (!p.Now.Before(cur.LeaseUntil) || cur.Owner == p.Owner))
}

// RenewAllowed reports whether p.Owner may extend its lease.
func RenewAllowed(cur *Record, p RenewParams) bool {
	return cur != nil && cur.Owner == p.Owner && cur.Status == Sending
}

// MarkSentAllowed reports whether p.Owner may mark the record SENT (again,
// with the same SES message id).
func MarkSentAllowed(cur *Record, p MarkSentParams) bool {
	return cur != nil && cur.Owner == p.Owner &&
		(cur.Status == Sending || (cur.Status == Sent && cur.SESMessageID == p.SESMessageID))
}

// ReleaseAllowed reports whether p.Owner may delete the record.
func ReleaseAllowed(cur *Record, p ReleaseParams) bool {
	return cur != nil && cur.Owner == p.Owner && cur.Status == Sending
}
