// Package sqlitelock is the local runtime's lock.Table: the dedup lock in an
// SQLite database (modernc.org/sqlite, no cgo) under the data directory.
//
// Each conditional operation is first tried as one prepared autocommit
// statement whose WHERE (or ON CONFLICT ... WHERE) clause states the
// contract's condition and whose RETURNING clause yields the written row.
// When that statement writes nothing, the operation is decided again in an
// IMMEDIATE transaction that reads the row, judges it with the rules in the
// lock package (lock.AcquireAllowed and its siblings, the source of truth
// the SQL conditions are tested against) and either writes or fails with
// the record it judged, so a ConditionError's Current is the record as it
// was when the condition failed. The single connection serialises writers
// inside the process and SQLite's write lock across processes. Times are
// stored in milliseconds.
package sqlitelock

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mailflow/mailflow/internal/sqlitedb"
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
	expires_at     INTEGER NOT NULL,
	renewals       INTEGER NOT NULL DEFAULT 0,
	attempted_at   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID`

// migrations bring a table created by an older version up to date: each
// adds a column that the probe query finds missing.
var migrations = []struct{ probe, alter string }{
	{`SELECT renewals FROM locks LIMIT 0`, `ALTER TABLE locks ADD COLUMN renewals INTEGER NOT NULL DEFAULT 0`},
	{`SELECT attempted_at FROM locks LIMIT 0`, `ALTER TABLE locks ADD COLUMN attempted_at INTEGER NOT NULL DEFAULT 0`},
}

// Table is a lock table in one SQLite file.
type Table struct {
	db *sql.DB
	// Prepared once: database/sql would otherwise prepare the query text
	// again on every call.
	acquire, renew, startAttempt, acquireAttempt, markSent, resolveSent, release, get, put, del *sql.Stmt
}

var _ lock.Table = (*Table)(nil)

const cols = `mail_id, status, owner, lease_until, content_hash, ses_message_id, sent_at, expires_at, renewals, attempted_at`

// zeroMs is the time a stored 0 stands for (timeOf(0) is the zero time), in
// Unix milliseconds, so that the SQL conditions compare the same instants as
// the Go rules.
const zeroMs = -62135596800000

// at is the instant a stored time column stands for.
func at(col string) string {
	return `(CASE ` + col + ` WHEN 0 THEN ` + strconv.FormatInt(zeroMs, 10) + ` ELSE ` + col + ` END)`
}

// ownLive, in the acquiring attempt, is the owner's own live record (?2
// the owner, ?6 now).
var ownLive = `owner = ?2 AND ?6 < ` + at("expires_at")

// The conditional statements. Each states one rule of lock/rules.go, with
// the current record in the row and the params in the arguments; Now is
// passed as p.Now.UnixMilli(), and since stored times are whole
// milliseconds, nowMs < stored holds exactly when p.Now is before it.
var (
	// ?1 mail id, ?2 owner, ?3 lease until, ?4 content hash, ?5 expires at,
	// ?6 now. Mirrors lock.AcquireAllowed.
	acquireSQL = `INSERT INTO locks (` + cols + `) VALUES (?1, 'SENDING', ?2, ?3, ?4, '', 0, ?5, 0, 0)
	ON CONFLICT (mail_id) DO UPDATE SET status = 'SENDING', owner = ?2, lease_until = ?3, content_hash = ?4,
		ses_message_id = '', sent_at = 0, expires_at = ?5, renewals = 0, attempted_at = 0
	WHERE NOT (?6 < ` + at("expires_at") + `)
		OR (status = 'SENDING' AND attempted_at = 0 AND content_hash = ?4 AND (NOT (?6 < ` + at("lease_until") + `) OR owner = ?2))
	RETURNING 1`
	// ?1 mail id, ?2 owner, ?3 lease until, ?4 expires at. Mirrors
	// lock.RenewAllowed.
	renewSQL = `UPDATE locks SET lease_until = ?3, expires_at = ?4, renewals = renewals + 1
	WHERE mail_id = ?1 AND owner = ?2 AND status = 'SENDING' AND attempted_at = 0
	RETURNING content_hash, ses_message_id, sent_at, renewals`
	// ?1 mail id, ?2 owner, ?3 SES message id, ?4 expires at, ?5 now (sent
	// at). Mirrors lock.MarkSentAllowed.
	markSentSQL = `UPDATE locks SET status = 'SENT', ses_message_id = ?3, expires_at = ?4,
		sent_at = CASE sent_at WHEN 0 THEN ?5 ELSE sent_at END
	WHERE mail_id = ?1 AND owner = ?2 AND (status = 'SENDING' OR (status = 'SENT' AND ses_message_id = ?3))
	RETURNING lease_until, content_hash, sent_at, renewals, attempted_at`
	// ?1 mail id, ?2 SES message id, ?3 now (sent at), ?4 expires at, ?5
	// now as compared. Mirrors lock.ResolveSentAllowed; the no-op case (SENT
	// with the same id) rewrites the row as it is, so the common late event
	// after MarkSent is one statement too.
	resolveSentSQL = `UPDATE locks SET status = 'SENT', ses_message_id = ?2,
		sent_at = CASE status WHEN 'SENT' THEN sent_at ELSE ?3 END,
		expires_at = CASE status WHEN 'SENT' THEN expires_at ELSE ?4 END
	WHERE mail_id = ?1 AND ?5 < ` + at("expires_at") + `
		AND ((status = 'SENDING' AND attempted_at <> 0) OR (status = 'SENT' AND ses_message_id = ?2))
	RETURNING owner, lease_until, content_hash, sent_at, expires_at, renewals, attempted_at`
	// ?1 mail id, ?2 owner, ?3 attempted at, ?4 1 when the lease is
	// renewed too (0: not), ?5 lease until, ?6 expires at. Mirrors
	// lock.StartAttemptAllowed: it runs once per send, so it gets its own
	// statement rather than a transaction.
	startAttemptSQL = `UPDATE locks SET attempted_at = ?3,
		lease_until = CASE ?4 WHEN 1 THEN ?5 ELSE lease_until END,
		expires_at = CASE ?4 WHEN 1 THEN ?6 ELSE expires_at END,
		renewals = renewals + ?4
	WHERE mail_id = ?1 AND owner = ?2 AND status = 'SENDING' AND attempted_at = 0
	RETURNING lease_until, content_hash, ses_message_id, sent_at, expires_at, renewals`
	// ?1 mail id, ?2 owner, ?3 lease until, ?4 content hash, ?5 expires at,
	// ?6 now (also the attempt's time). Mirrors lock.StartAttemptAllowed
	// for an acquiring attempt: Acquire's condition and the attempt set; the
	// owner's own live record is updated (Renewals count on, the rest is
	// kept), any other is replaced whole (lock.AttemptTakesOver).
	acquireAttemptSQL = `INSERT INTO locks (` + cols + `) VALUES (?1, 'SENDING', ?2, ?3, ?4, '', 0, ?5, 1, ?6)
	ON CONFLICT (mail_id) DO UPDATE SET status = 'SENDING', owner = ?2, lease_until = ?3, content_hash = ?4,
		expires_at = ?5, attempted_at = ?6,
		ses_message_id = CASE WHEN ` + ownLive + ` THEN ses_message_id ELSE '' END,
		sent_at = CASE WHEN ` + ownLive + ` THEN sent_at ELSE 0 END,
		renewals = CASE WHEN ` + ownLive + ` THEN renewals + 1 ELSE 1 END
	WHERE NOT (?6 < ` + at("expires_at") + `)
		OR (status = 'SENDING' AND attempted_at = 0 AND content_hash = ?4 AND (NOT (?6 < ` + at("lease_until") + `) OR owner = ?2))
	RETURNING renewals, ses_message_id, sent_at`
	// ?1 mail id, ?2 owner. Mirrors lock.ReleaseAllowed.
	releaseSQL = `DELETE FROM locks WHERE mail_id = ?1 AND owner = ?2 AND status = 'SENDING' AND attempted_at = 0`

	getSQL = `SELECT ` + cols + ` FROM locks WHERE mail_id = ?`
	putSQL = `INSERT OR REPLACE INTO locks (` + cols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	delSQL = `DELETE FROM locks WHERE mail_id = ?`
)

// Open opens (creating if needed) the lock table at path.
func Open(path string) (*Table, error) {
	if path == "" {
		return nil, errors.New("sqlitelock: a database path is required")
	}
	db, err := sqlitedb.Open(path, sqlitedb.Options{ImmediateTx: true})
	if err != nil {
		return nil, fmt.Errorf("sqlitelock: open %s: %w", path, err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitelock: migrate %s: %w", path, err)
	}
	for _, m := range migrations {
		if _, err := db.Exec(m.probe); err != nil {
			if _, err := db.Exec(m.alter); err != nil {
				db.Close()
				return nil, fmt.Errorf("sqlitelock: migrate %s: %w", path, err)
			}
		}
	}
	t := &Table{db: db}
	for _, s := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&t.acquire, acquireSQL}, {&t.renew, renewSQL}, {&t.startAttempt, startAttemptSQL}, {&t.acquireAttempt, acquireAttemptSQL}, {&t.markSent, markSentSQL}, {&t.resolveSent, resolveSentSQL}, {&t.release, releaseSQL},
		{&t.get, getSQL}, {&t.put, putSQL}, {&t.del, delSQL},
	} {
		if *s.stmt, err = db.Prepare(s.sql); err != nil {
			t.Close()
			return nil, fmt.Errorf("sqlitelock: prepare on %s: %w", path, err)
		}
	}
	return t, nil
}

// Close closes the database.
func (t *Table) Close() error {
	for _, s := range []*sql.Stmt{t.acquire, t.renew, t.startAttempt, t.acquireAttempt, t.markSent, t.resolveSent, t.release, t.get, t.put, t.del} {
		if s != nil {
			s.Close()
		}
	}
	return t.db.Close()
}

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

// try runs a conditional statement and scans the row it returns into dest.
// It reports false when the statement wrote nothing (its condition failed).
// The rows are read to the end so that the statement completes and its
// autocommit's error, if any, is reported.
func try(ctx context.Context, stmt *sql.Stmt, args []any, dest ...any) (bool, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	ok := false
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return false, err
		}
		ok = true
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	return ok, rows.Close()
}

// update runs fn on the current record inside one write transaction. fn
// returns the record to store (nil deletes it) or a condition failure.
func (t *Table) update(ctx context.Context, op, mailID string, fn func(cur *lock.Record) (*lock.Record, bool)) (lock.Record, error) {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return lock.Record{}, fmt.Errorf("sqlitelock: %s %q: %w", op, mailID, err)
	}
	defer tx.Rollback()
	cur, err := get(ctx, tx.StmtContext(ctx, t.get), mailID)
	if err != nil {
		return lock.Record{}, fmt.Errorf("sqlitelock: %s %q: %w", op, mailID, err)
	}
	next, ok := fn(cur)
	if !ok {
		return lock.Record{}, &lock.ConditionError{Op: op, MailID: mailID, Current: cur}
	}
	if next == nil {
		_, err = tx.StmtContext(ctx, t.del).ExecContext(ctx, mailID)
	} else {
		_, err = tx.StmtContext(ctx, t.put).ExecContext(ctx,
			next.MailID, string(next.Status), next.Owner, msOf(next.LeaseUntil), next.ContentHash, next.SESMessageID, msOf(next.SentAt), msOf(next.ExpiresAt), next.Renewals, msOf(next.AttemptedAt))
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
	if rec, ok, err := t.tryAcquire(ctx, p); ok || err != nil {
		return rec, err
	}
	return t.update(ctx, "acquire", p.MailID, acquireRule(p))
}

func acquireNext(p lock.AcquireParams) lock.Record {
	return lock.Record{
		MailID: p.MailID, Status: lock.Sending, Owner: p.Owner, LeaseUntil: p.LeaseUntil.Truncate(time.Millisecond),
		ContentHash: p.ContentHash, ExpiresAt: p.ExpiresAt.Truncate(time.Millisecond),
	}
}

// tryAcquire runs the acquire statement; ok=false means it wrote nothing.
func (t *Table) tryAcquire(ctx context.Context, p lock.AcquireParams) (lock.Record, bool, error) {
	next := acquireNext(p)
	var one int
	ok, err := try(ctx, t.acquire, []any{p.MailID, p.Owner, msOf(next.LeaseUntil), p.ContentHash, msOf(next.ExpiresAt), p.Now.UnixMilli()}, &one)
	if err != nil || !ok {
		return lock.Record{}, false, wrap("acquire", p.MailID, err)
	}
	return next, true, nil
}

func acquireRule(p lock.AcquireParams) func(cur *lock.Record) (*lock.Record, bool) {
	return func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.AcquireAllowed(cur, p) {
			return nil, false
		}
		next := acquireNext(p)
		return &next, true
	}
}

// Renew implements [lock.Table].
func (t *Table) Renew(ctx context.Context, p lock.RenewParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	if rec, ok, err := t.tryRenew(ctx, p); ok || err != nil {
		return rec, err
	}
	return t.update(ctx, "renew", p.MailID, renewRule(p))
}

// tryRenew runs the renew statement; ok=false means it wrote nothing.
func (t *Table) tryRenew(ctx context.Context, p lock.RenewParams) (lock.Record, bool, error) {
	next := lock.Record{MailID: p.MailID, Status: lock.Sending, Owner: p.Owner,
		LeaseUntil: p.LeaseUntil.Truncate(time.Millisecond), ExpiresAt: p.ExpiresAt.Truncate(time.Millisecond)}
	var sent int64
	ok, err := try(ctx, t.renew, []any{p.MailID, p.Owner, msOf(next.LeaseUntil), msOf(next.ExpiresAt)}, &next.ContentHash, &next.SESMessageID, &sent, &next.Renewals)
	if err != nil || !ok {
		return lock.Record{}, false, wrap("renew", p.MailID, err)
	}
	next.SentAt = timeOf(sent)
	return next, true, nil
}

func renewRule(p lock.RenewParams) func(cur *lock.Record) (*lock.Record, bool) {
	return func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.RenewAllowed(cur, p) {
			return nil, false
		}
		next := *cur
		next.LeaseUntil, next.ExpiresAt = p.LeaseUntil.Truncate(time.Millisecond), p.ExpiresAt.Truncate(time.Millisecond)
		next.Renewals++
		return &next, true
	}
}

// MarkSent implements [lock.Table].
func (t *Table) MarkSent(ctx context.Context, p lock.MarkSentParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	if rec, ok, err := t.tryMarkSent(ctx, p); ok || err != nil {
		return rec, err
	}
	return t.update(ctx, "mark-sent", p.MailID, markSentRule(p))
}

// tryMarkSent runs the mark-sent statement; ok=false means it wrote nothing.
func (t *Table) tryMarkSent(ctx context.Context, p lock.MarkSentParams) (lock.Record, bool, error) {
	now := p.Now.Truncate(time.Millisecond)
	next := lock.Record{MailID: p.MailID, Status: lock.Sent, Owner: p.Owner, SESMessageID: p.SESMessageID,
		ExpiresAt: p.ExpiresAt.Truncate(time.Millisecond)}
	var lease, sent, attempted int64
	ok, err := try(ctx, t.markSent, []any{p.MailID, p.Owner, p.SESMessageID, msOf(next.ExpiresAt), msOf(now)}, &lease, &next.ContentHash, &sent, &next.Renewals, &attempted)
	if err != nil || !ok {
		return lock.Record{}, false, wrap("mark-sent", p.MailID, err)
	}
	next.LeaseUntil, next.SentAt, next.AttemptedAt = timeOf(lease), timeOf(sent), timeOf(attempted)
	if sent == msOf(now) {
		// Set now, or set before in the same millisecond.
		next.SentAt = now
	}
	return next, true, nil
}

func markSentRule(p lock.MarkSentParams) func(cur *lock.Record) (*lock.Record, bool) {
	return func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.MarkSentAllowed(cur, p) {
			return nil, false
		}
		next := *cur
		next.Status, next.SESMessageID, next.ExpiresAt = lock.Sent, p.SESMessageID, p.ExpiresAt.Truncate(time.Millisecond)
		if next.SentAt.IsZero() {
			next.SentAt = p.Now.Truncate(time.Millisecond)
		}
		return &next, true
	}
}

// ResolveSent implements [lock.Table].
func (t *Table) ResolveSent(ctx context.Context, p lock.ResolveParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	if rec, ok, err := t.tryResolveSent(ctx, p); ok || err != nil {
		return rec, err
	}
	return t.update(ctx, "resolve-sent", p.MailID, resolveSentRule(p))
}

// tryResolveSent runs the resolve-sent statement; ok=false means it wrote
// nothing.
func (t *Table) tryResolveSent(ctx context.Context, p lock.ResolveParams) (lock.Record, bool, error) {
	next := lock.Record{MailID: p.MailID, Status: lock.Sent, SESMessageID: p.SESMessageID}
	var lease, sent, expires, attempted int64
	ok, err := try(ctx, t.resolveSent, []any{p.MailID, p.SESMessageID, msOf(p.Now.Truncate(time.Millisecond)), msOf(p.ExpiresAt.Truncate(time.Millisecond)), p.Now.UnixMilli()},
		&next.Owner, &lease, &next.ContentHash, &sent, &expires, &next.Renewals, &attempted)
	if err != nil || !ok {
		return lock.Record{}, false, wrap("resolve-sent", p.MailID, err)
	}
	next.LeaseUntil, next.SentAt, next.ExpiresAt, next.AttemptedAt = timeOf(lease), timeOf(sent), timeOf(expires), timeOf(attempted)
	return next, true, nil
}

func resolveSentRule(p lock.ResolveParams) func(cur *lock.Record) (*lock.Record, bool) {
	return func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.ResolveSentAllowed(cur, p) {
			return nil, false
		}
		next := *cur
		if next.Status == lock.Sending {
			next.Status, next.SESMessageID = lock.Sent, p.SESMessageID
			// As stored: the instant a stored 0 stands for reads back as the zero time.
			next.SentAt, next.ExpiresAt = timeOf(msOf(p.Now.Truncate(time.Millisecond))), p.ExpiresAt.Truncate(time.Millisecond)
		}
		return &next, true
	}
}

// Release implements [lock.Table].
func (t *Table) Release(ctx context.Context, p lock.ReleaseParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if ok, err := t.tryRelease(ctx, p); ok || err != nil {
		return err
	}
	_, err := t.update(ctx, "release", p.MailID, releaseRule(p))
	return err
}

// tryRelease runs the release statement; ok=false means it deleted nothing.
func (t *Table) tryRelease(ctx context.Context, p lock.ReleaseParams) (bool, error) {
	res, err := t.release.ExecContext(ctx, p.MailID, p.Owner)
	if err != nil {
		return false, wrap("release", p.MailID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, wrap("release", p.MailID, err)
}

func releaseRule(p lock.ReleaseParams) func(cur *lock.Record) (*lock.Record, bool) {
	return func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.ReleaseAllowed(cur, p) {
			return nil, false
		}
		return nil, true
	}
}

func wrap(op, mailID string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("sqlitelock: %s %q: %w", op, mailID, err)
}

// Peek implements [lock.Table]: the table's reads are always current.
func (t *Table) Peek(ctx context.Context, mailID string) (lock.Record, bool, error) {
	return t.Get(ctx, mailID)
}

// Get implements [lock.Table].
func (t *Table) Get(ctx context.Context, mailID string) (lock.Record, bool, error) {
	rec, err := get(ctx, t.get, mailID)
	if err != nil {
		return lock.Record{}, false, fmt.Errorf("sqlitelock: get %q: %w", mailID, err)
	}
	if rec == nil {
		return lock.Record{}, false, nil
	}
	return *rec, true, nil
}

func get(ctx context.Context, stmt *sql.Stmt, mailID string) (*lock.Record, error) {
	var r lock.Record
	var status string
	var lease, sent, expires, attempted int64
	err := stmt.QueryRowContext(ctx, mailID).Scan(&r.MailID, &status, &r.Owner, &lease, &r.ContentHash, &r.SESMessageID, &sent, &expires, &r.Renewals, &attempted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.Status = lock.Status(status)
	r.LeaseUntil, r.SentAt, r.ExpiresAt, r.AttemptedAt = timeOf(lease), timeOf(sent), timeOf(expires), timeOf(attempted)
	return &r, nil
}

// StartAttempt implements [lock.Table].
func (t *Table) StartAttempt(ctx context.Context, p lock.AttemptParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	if rec, ok, err := t.tryStartAttempt(ctx, p); ok || err != nil {
		return rec, err
	}
	return t.update(ctx, "start-attempt", p.MailID, startAttemptRule(p))
}

// tryStartAttempt runs the start-attempt statement; ok=false means it wrote
// nothing.
func (t *Table) tryStartAttempt(ctx context.Context, p lock.AttemptParams) (lock.Record, bool, error) {
	if p.Acquires() {
		next := takenOver(p)
		args := []any{p.MailID, p.Owner, msOf(next.LeaseUntil), p.ContentHash, msOf(next.ExpiresAt), p.Now.UnixMilli()}
		var sent int64
		ok, err := try(ctx, t.acquireAttempt, args, &next.Renewals, &next.SESMessageID, &sent)
		next.SentAt = timeOf(sent)
		if err != nil || !ok {
			return lock.Record{}, false, wrap("start-attempt", p.MailID, err)
		}
		return next, true, nil
	}
	next := lock.Record{MailID: p.MailID, Status: lock.Sending, Owner: p.Owner, AttemptedAt: p.Now.Truncate(time.Millisecond)}
	var lease, sent, expires int64
	renew := 0
	if p.RenewsLease() {
		renew = 1
	}
	args := []any{p.MailID, p.Owner, msOf(next.AttemptedAt), renew,
		msOf(p.LeaseUntil.Truncate(time.Millisecond)), msOf(p.ExpiresAt.Truncate(time.Millisecond))}
	ok, err := try(ctx, t.startAttempt, args, &lease, &next.ContentHash, &next.SESMessageID, &sent, &expires, &next.Renewals)
	if err != nil || !ok {
		return lock.Record{}, false, wrap("start-attempt", p.MailID, err)
	}
	next.LeaseUntil, next.SentAt, next.ExpiresAt = timeOf(lease), timeOf(sent), timeOf(expires)
	return next, true, nil
}

// takenOver is the record an acquiring attempt writes where it creates the
// record or takes it over (lock.AttemptTakesOver).
func takenOver(p lock.AttemptParams) lock.Record {
	return lock.Record{MailID: p.MailID, Status: lock.Sending, Owner: p.Owner, ContentHash: p.ContentHash,
		LeaseUntil: p.LeaseUntil.Truncate(time.Millisecond), ExpiresAt: p.ExpiresAt.Truncate(time.Millisecond),
		AttemptedAt: p.Now.Truncate(time.Millisecond), Renewals: 1}
}

func startAttemptRule(p lock.AttemptParams) func(cur *lock.Record) (*lock.Record, bool) {
	return func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.StartAttemptAllowed(cur, p) {
			return nil, false
		}
		if lock.AttemptTakesOver(cur, p) {
			next := takenOver(p)
			return &next, true
		}
		next := *cur
		next.AttemptedAt = p.Now.Truncate(time.Millisecond)
		if p.RenewsLease() {
			next.LeaseUntil, next.ExpiresAt = p.LeaseUntil.Truncate(time.Millisecond), p.ExpiresAt.Truncate(time.Millisecond)
			next.Renewals++
		}
		return &next, true
	}
}

// ClearAttempt implements [lock.Table].
func (t *Table) ClearAttempt(ctx context.Context, p lock.ClearAttemptParams) (lock.Record, error) {
	if err := p.Validate(); err != nil {
		return lock.Record{}, err
	}
	return t.update(ctx, "clear-attempt", p.MailID, func(cur *lock.Record) (*lock.Record, bool) {
		if !lock.ClearAttemptAllowed(cur, p) {
			return nil, false
		}
		next := *cur
		next.AttemptedAt = time.Time{}
		return &next, true
	})
}

// Forget implements [lock.Table].
func (t *Table) Forget(ctx context.Context, p lock.ForgetParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	_, err := t.update(ctx, "forget", p.MailID, func(cur *lock.Record) (*lock.Record, bool) {
		return nil, lock.ForgetAllowed(cur, p)
	})
	return err
}

// Abandoned counts what [Table.ReleaseAbandoned] did.
type Abandoned struct {
	Released       int // leases with no send attempt, deleted
	OutcomeUnknown int // leases whose send attempt has no recorded answer, kept
}

// ReleaseAbandoned ends every lease at start-up. The local runtime is the
// only process using the table, so every lease still held belongs to an
// execution that died with the previous process. A lease with no send
// attempt is deleted, so its redelivered message is sent at once instead
// of waiting for the lease to run out. A lease whose send attempt has no
// recorded answer is kept and only made to run out now: the mail may have
// gone out, so its redelivery must find the record and be classified
// outcome-unknown, never sent again.
func (t *Table) ReleaseAbandoned(ctx context.Context, now time.Time) (Abandoned, error) {
	var a Abandoned
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return a, fmt.Errorf("sqlitelock: release abandoned: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE status = ? AND attempted_at = 0`, string(lock.Sending))
	if err != nil {
		return a, fmt.Errorf("sqlitelock: release abandoned: %w", err)
	}
	n, _ := res.RowsAffected()
	a.Released = int(n)
	res, err = tx.ExecContext(ctx, `UPDATE locks SET lease_until = MIN(lease_until, ?) WHERE status = ? AND attempted_at <> 0`,
		msOf(now.Truncate(time.Millisecond)), string(lock.Sending))
	if err != nil {
		return a, fmt.Errorf("sqlitelock: release abandoned: %w", err)
	}
	n, _ = res.RowsAffected()
	a.OutcomeUnknown = int(n)
	if err := tx.Commit(); err != nil {
		return a, fmt.Errorf("sqlitelock: release abandoned: %w", err)
	}
	return a, nil
}
