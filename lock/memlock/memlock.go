// Package memlock is an in-memory [lock.Table]: the reference
// implementation of the lock contract, for tests, benchmarks and embedded
// use where nothing must survive the process. One mutex serialises every
// operation, which makes each one atomic as DynamoDB's conditional writes
// are.
package memlock

import (
	"context"
	"sync"
	"time"

	"github.com/mailflow/mailflow/lock"
)

// Table is an in-memory lock table.
type Table struct {
	mu      sync.Mutex
	records map[string]lock.Record
}

var _ lock.Table = (*Table)(nil)

// New returns an empty table.
func New() *Table { return &Table{records: map[string]lock.Record{}} }

// current returns a copy of the stored record, or nil. Expired records stay
// stored, as with DynamoDB's lazy TTL; Acquire judges expiry by time.
func (t *Table) current(id string) *lock.Record {
	r, ok := t.records[id]
	if !ok {
		return nil
	}
	return &r
}

func fail(op, id string, cur *lock.Record) error {
	return &lock.ConditionError{Op: op, MailID: id, Current: cur}
}

// Acquire implements [lock.Table].
func (t *Table) Acquire(ctx context.Context, p lock.AcquireParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	if err := ctx.Err(); err != nil {
		return lock.Record{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.current(p.MailID)
	if !lock.AcquireAllowed(cur, p) {
		return lock.Record{}, fail("acquire", p.MailID, cur)
	}
	r := lock.Record{MailID: p.MailID, Status: lock.Sending, Owner: p.Owner, ContentHash: p.ContentHash,
		LeaseUntil: p.LeaseUntil, ExpiresAt: p.ExpiresAt}
	t.records[p.MailID] = r
	return r, nil
}

// Renew implements [lock.Table].
func (t *Table) Renew(ctx context.Context, p lock.RenewParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	if err := ctx.Err(); err != nil {
		return lock.Record{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.current(p.MailID)
	if !lock.RenewAllowed(cur, p) {
		return lock.Record{}, fail("renew", p.MailID, cur)
	}
	cur.LeaseUntil, cur.ExpiresAt = p.LeaseUntil, p.ExpiresAt
	cur.Renewals++
	t.records[p.MailID] = *cur
	return *cur, nil
}

// MarkSent implements [lock.Table].
func (t *Table) MarkSent(ctx context.Context, p lock.MarkSentParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	if err := ctx.Err(); err != nil {
		return lock.Record{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.current(p.MailID)
	if !lock.MarkSentAllowed(cur, p) {
		return lock.Record{}, fail("mark-sent", p.MailID, cur)
	}
	if cur.SentAt.IsZero() {
		cur.SentAt = p.Now
	}
	cur.Status, cur.SESMessageID, cur.ExpiresAt = lock.Sent, p.SESMessageID, p.ExpiresAt
	t.records[p.MailID] = *cur
	return *cur, nil
}

// ResolveSent implements [lock.Table].
func (t *Table) ResolveSent(ctx context.Context, p lock.ResolveParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	return t.change(ctx, "resolve-sent", p.MailID, func(cur *lock.Record) bool {
		if !lock.ResolveSentAllowed(cur, p) {
			return false
		}
		if cur.Status == lock.Sending {
			cur.Status, cur.SESMessageID, cur.SentAt, cur.ExpiresAt = lock.Sent, p.SESMessageID, p.Now, p.ExpiresAt
		}
		return true
	})
}

// StartAttempt implements [lock.Table].
func (t *Table) StartAttempt(ctx context.Context, p lock.AttemptParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	if err := ctx.Err(); err != nil {
		return lock.Record{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.current(p.MailID)
	switch {
	case lock.AttemptTakesOver(cur, p):
		r := lock.Record{MailID: p.MailID, Status: lock.Sending, Owner: p.Owner, ContentHash: p.ContentHash,
			LeaseUntil: p.LeaseUntil, ExpiresAt: p.ExpiresAt, AttemptedAt: p.Now, Renewals: 1}
		t.records[p.MailID] = r
		return r, nil
	case !lock.AttemptUpdatesOwn(cur, p):
		return lock.Record{}, fail("start-attempt", p.MailID, cur)
	}
	cur.AttemptedAt = p.Now
	if p.RenewsLease() {
		cur.LeaseUntil, cur.ExpiresAt = p.LeaseUntil, p.ExpiresAt
		cur.Renewals++
	}
	t.records[p.MailID] = *cur
	return *cur, nil
}

// ClearAttempt implements [lock.Table].
func (t *Table) ClearAttempt(ctx context.Context, p lock.ClearAttemptParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	return t.change(ctx, "clear-attempt", p.MailID, func(cur *lock.Record) bool {
		if !lock.ClearAttemptAllowed(cur, p) {
			return false
		}
		cur.AttemptedAt = time.Time{}
		return true
	})
}

// Forget implements [lock.Table].
func (t *Table) Forget(ctx context.Context, p lock.ForgetParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return t.remove(ctx, "forget", p.MailID, func(cur *lock.Record) bool { return lock.ForgetAllowed(cur, p) })
}

// change applies fn to the current record under the lock and stores it
// when fn allows the change.
func (t *Table) change(ctx context.Context, op, id string, fn func(cur *lock.Record) bool) (lock.Record, error) {
	if err := ctx.Err(); err != nil {
		return lock.Record{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.current(id)
	if cur == nil || !fn(cur) {
		return lock.Record{}, fail(op, id, t.current(id))
	}
	t.records[id] = *cur
	return *cur, nil
}

// Release implements [lock.Table].
func (t *Table) Release(ctx context.Context, p lock.ReleaseParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return t.remove(ctx, "release", p.MailID, func(cur *lock.Record) bool { return lock.ReleaseAllowed(cur, p) })
}

// remove deletes the record under the lock when allowed says it may go.
func (t *Table) remove(ctx context.Context, op, id string, allowed func(cur *lock.Record) bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.current(id)
	if !allowed(cur) {
		return fail(op, id, cur)
	}
	delete(t.records, id)
	return nil
}

// Peek implements [lock.Table]: the table's reads are always current.
func (t *Table) Peek(ctx context.Context, mailID string) (lock.Record, bool, error) {
	return t.Get(ctx, mailID)
}

// Get implements [lock.Table].
func (t *Table) Get(ctx context.Context, mailID string) (lock.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return lock.Record{}, false, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.records[mailID]
	return r, ok, nil
}
