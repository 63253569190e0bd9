// Package sqlitelock is the local runtime's lock.Table: the dedup lock in an
// SQLite database (modernc.org/sqlite, no cgo) under the data directory.
//
// Each operation is one IMMEDIATE transaction that reads the row, checks the
// same conditions as the DynamoDB adapter's condition expressions, and
// writes; the single connection serialises writers inside the process and
// SQLite's write lock across processes. Times are stored in milliseconds.
package sqlitelock

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/mailflow/mailflow/lock"
)

const schema = `CREATE TABLE IF NOT EXISTS locks (
	mail_id        TEXT PRIMARY KEY,
	status         TEXT NOT NULL,
	owner          TEXT NOT NULL,
	lease_until    INTEGER NOT NULL,
	content_hash   TEXT NOT NULL,
	ses_message_id TEXT NOT NULL DEFAULT '',
	sent_at        INTEGER NOT NULL DEFAULT 0,
	expires_at     INTEGER NOT NULL
) WITHOUT ROWID`

// Table is a lock table in one SQLite file.
type Table struct {
	db *sql.DB
}

var _ lock.Table = (*Table)(nil)

// Open opens (creating if needed) the lock table at path.
func Open(path string) (*Table, error) {
	if path == "" {
		return nil, errors.New("sqlitelock: a database path is required")
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlitelock: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitelock: migrate %s: %w", path, err)
	}
	return &Table{db: db}, nil
}

// Close closes the database.
func (t *Table) Close() error { return t.db.Close() }

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOf(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// update runs fn on the current record inside one write transaction. fn
// returns the record to store (nil deletes it) or a condition failure.
func (t *Table) update(ctx context.Context, op, mailID string, fn func(cur *lock.Record) (*lock.Record, bool)) (lock.Record, error) {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return lock.Record{}, fmt.Errorf("sqlitelock: %s %q: %w", op, mailID, err)
	}
	defer tx.Rollback()
	cur, err := get(ctx, tx, mailID)
	if err != nil {
		return lock.Record{}, fmt.Errorf("sqlitelock: %s %q: %w", op, mailID, err)
	}
	next, ok := fn(cur)
	if !ok {
		return lock.Record{}, &lock.ConditionError{Op: op, MailID: mailID, Current: cur}
	}
	if next == nil {
		_, err = tx.ExecContext(ctx, `DELETE FROM locks WHERE mail_id = ?`, mailID)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO locks
			(mail_id, status, owner, lease_until, content_hash, ses_message_id, sent_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			next.MailID, string(next.Status), next.Owner, msOf(next.LeaseUntil), next.ContentHash, next.SESMessageID, msOf(next.SentAt), msOf(next.ExpiresAt))
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return lock.Record{}, fmt.Errorf("sqlitelock: %s %q: %w", op, mailID, err)
	}
	if next == nil {
		return lock.Record{}, nil
	}
	return *next, nil
}

// Acquire implements [lock.Table].
func (t *Table) Acquire(ctx context.Context, p lock.AcquireParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	return t.update(ctx, "acquire", p.MailID, func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.AcquireAllowed(cur, p) {
			return nil, false
		}
		return &lock.Record{
			MailID: p.MailID, Status: lock.Sending, Owner: p.Owner, LeaseUntil: p.LeaseUntil.Truncate(time.Millisecond),
			ContentHash: p.ContentHash, ExpiresAt: p.ExpiresAt.Truncate(time.Millisecond),
		}, true
	})
}

// Renew implements [lock.Table].
func (t *Table) Renew(ctx context.Context, p lock.RenewParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	return t.update(ctx, "renew", p.MailID, func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.RenewAllowed(cur, p) {
			return nil, false
		}
		next := *cur
		next.LeaseUntil, next.ExpiresAt = p.LeaseUntil.Truncate(time.Millisecond), p.ExpiresAt.Truncate(time.Millisecond)
		return &next, true
	})
}

// MarkSent implements [lock.Table].
func (t *Table) MarkSent(ctx context.Context, p lock.MarkSentParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	return t.update(ctx, "mark-sent", p.MailID, func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.MarkSentAllowed(cur, p) {
			return nil, false
		}
		next := *cur
		next.Status, next.SESMessageID, next.ExpiresAt = lock.Sent, p.SESMessageID, p.ExpiresAt.Truncate(time.Millisecond)
		if next.SentAt.IsZero() {
			next.SentAt = p.Now.Truncate(time.Millisecond)
		}
		return &next, true
	})
}

// Release implements [lock.Table].
func (t *Table) Release(ctx context.Context, p lock.ReleaseParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	_, err := t.update(ctx, "release", p.MailID, func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.ReleaseAllowed(cur, p) {
			return nil, false
		}
		return nil, true
	})
	return err
}

// Get implements [lock.Table].
func (t *Table) Get(ctx context.Context, mailID string) (lock.Record, bool, error) {
	rec, err := get(ctx, t.db, mailID)
	if err != nil {
		return lock.Record{}, false, fmt.Errorf("sqlitelock: get %q: %w", mailID, err)
	}
	if rec == nil {
		return lock.Record{}, false, nil
	}
	return *rec, true, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func get(ctx context.Context, q querier, mailID string) (*lock.Record, error) {
	var r lock.Record
	var status string
	var lease, sent, expires int64
	err := q.QueryRowContext(ctx, `SELECT mail_id, status, owner, lease_until, content_hash, ses_message_id, sent_at, expires_at
		FROM locks WHERE mail_id = ?`, mailID).Scan(&r.MailID, &status, &r.Owner, &lease, &r.ContentHash, &r.SESMessageID, &sent, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.Status = lock.Status(status)
	r.LeaseUntil, r.SentAt, r.ExpiresAt = timeOf(lease), timeOf(sent), timeOf(expires)
	return &r, nil
}

// ReleaseAll deletes every SENDING record and returns how many there were.
// The local runtime calls it at start-up: it is the only process using the
// table, so every lease still held belongs to an execution that died with
// the previous process, and waiting for those leases to run out would only
// delay the redelivered messages. A mail whose send was accepted just
// before the crash may then go out again: the same crash window a lease
// expiry leads to, only sooner.
func (t *Table) ReleaseAll(ctx context.Context) (int, error) {
	res, err := t.db.ExecContext(ctx, `DELETE FROM locks WHERE status = ?`, string(lock.Sending))
	if err != nil {
		return 0, fmt.Errorf("sqlitelock: release all: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
