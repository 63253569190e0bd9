package inspect

import (
	"context"
	"errors"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/suppression"
)

// Backend is everything the inspection commands need. inspect opens
// nothing itself: the wiring root (see the package doc) builds a Backend
// from the adapters of the local data directory or of AWS.
type Backend struct {
	Source Source
	Queues *Queues
	// Locks reads the dedup lock table; nil when none is known.
	Locks LockReader
	// Deliveries is the delivery record of each mail (what SES reported
	// after it accepted the mail); nil when delivery feedback is not
	// configured, which mail status says rather than failing.
	Deliveries delivery.Store
	// Suppressions is the suppression list; nil when not configured.
	Suppressions suppression.List
	OutboxDir    string // local only
	// Via says how the queues are reached: "aws", "endpoint URL" (a
	// running mailflow dev) or "files" (the data directory opened here).
	Via string
	// History says what execution history Source keeps ("history kept 7
	// days / 10000 executions; …"), for answers that find no execution;
	// "" when unknown.
	History string
	closers []func() error
}

// LockReader reads the dedup lock table (a lock.Table does).
type LockReader interface {
	Get(ctx context.Context, mailID string) (rec lock.Record, ok bool, err error)
}

// OnClose adds f to what Close calls, last added first.
func (b *Backend) OnClose(f func() error) { b.closers = append(b.closers, f) }

// Close releases what the backend opened.
func (b *Backend) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	b.closers = nil
	return errors.Join(errs...)
}
