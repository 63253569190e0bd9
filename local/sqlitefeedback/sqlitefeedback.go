// Package sqlitefeedback is the local runtime's delivery feedback: the
// delivery records (a delivery.Store) and the suppression list (a
// suppression.List) in one SQLite database (modernc.org/sqlite, no cgo)
// under the data directory, plus the reads the console and the CLI make of
// them ([DB.Counts], [DB.Recent]).
//
// One file for both: they are written by the same handler for the same
// events, and the data directory's identity guards one file more rather
// than two.
//
// Apply runs delivery.ApplyWith inside one IMMEDIATE transaction, so the
// read, the merge and the write hold SQLite's write lock together and a
// writer in another process (the CLI) waits instead of interleaving; the
// write is still conditional on the version read. Times are stored in Unix
// milliseconds; a record's recipients and history are JSON columns (read
// whole, never filtered on, except by Counts through json_each).
//
// The dead-letter index (delivery.DeadLetterIndex) is two nullable
// columns, dead_letter (JSON) and dead_letter_key, with a partial index on
// the key: set only while the mail has an entry. A file made before them
// gets them added when it is opened.
//
// Records are kept after they expire (Get treats them as absent, Apply
// replaces them); Counts and Recent read every stored record, expired or
// not, since they show what the file holds.
package sqlitefeedback

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/internal/sqlitedb"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/workflow"
)

const schema = `
CREATE TABLE IF NOT EXISTS deliveries (
	mail_id        TEXT PRIMARY KEY,
	version        INTEGER NOT NULL,
	ses_message_id TEXT NOT NULL DEFAULT '',
	state          TEXT NOT NULL DEFAULT '',
	state_at       INTEGER NOT NULL DEFAULT 0,
	updated_at     INTEGER NOT NULL,
	expires_at     INTEGER NOT NULL,
	recipients     TEXT NOT NULL,
	history        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_updated ON deliveries (updated_at DESC, mail_id);
CREATE TABLE IF NOT EXISTS suppressions (
	address        TEXT PRIMARY KEY,
	reason         TEXT NOT NULL,
	at             INTEGER NOT NULL,
	mail_id        TEXT NOT NULL DEFAULT '',
	ses_message_id TEXT NOT NULL DEFAULT '',
	feedback_id    TEXT NOT NULL DEFAULT '',
	note           TEXT NOT NULL DEFAULT '',
	bounce         TEXT,
	complaint      TEXT
) WITHOUT ROWID;`

const (
	deliveryCols    = `mail_id, version, ses_message_id, state, state_at, updated_at, expires_at, recipients, history, dead_letter, dead_letter_key`
	suppressionCols = `address, reason, at, mail_id, ses_message_id, feedback_id, note, bounce, complaint`
)

// DB is the feedback database.
type DB struct{ db *sql.DB }

// Open opens (creating if needed) the feedback database at path.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlitefeedback: a database path is required")
	}
	db, err := sqlitedb.Open(path, sqlitedb.Options{ImmediateTx: true})
	if err != nil {
		return nil, fmt.Errorf("sqlitefeedback: open %s: %w", path, err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitefeedback: migrate %s: %w", path, err)
	}
	if err := addDeadLetterColumns(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitefeedback: migrate %s: %w", path, err)
	}
	return &DB{db: db}, nil
}

// addDeadLetterColumns adds the dead-letter index to a file made without it.
func addDeadLetterColumns(db *sql.DB) error {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info('deliveries') WHERE name = 'dead_letter_key'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		for _, q := range []string{`ALTER TABLE deliveries ADD COLUMN dead_letter TEXT`, `ALTER TABLE deliveries ADD COLUMN dead_letter_key TEXT`} {
			if _, err := db.Exec(q); err != nil {
				return err
			}
		}
	}
	_, err := db.Exec(`CREATE INDEX IF NOT EXISTS deliveries_dead_lettered ON deliveries (dead_letter_key) WHERE dead_letter_key IS NOT NULL`)
	return err
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Deliveries is the delivery store.
func (d *DB) Deliveries() delivery.Store { return deliveries{d.db} }

// Suppressions is the suppression list, paged in address order.
func (d *DB) Suppressions() suppression.List { return suppressions{d.db} }

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

type deliveries struct{ db *sql.DB }

// querier is what reads run on: the database or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s deliveries) Apply(ctx context.Context, p delivery.ApplyParams) (delivery.Mail, []delivery.Event, error) {
	if err := p.Validate(); err != nil {
		return delivery.Mail{}, nil, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return delivery.Mail{}, nil, fmt.Errorf("sqlitefeedback: apply %q: %w", p.MailID, err)
	}
	defer tx.Rollback()
	read := func(ctx context.Context, mailID string) (*delivery.Mail, error) { return getMail(ctx, tx, mailID) }
	m, applied, err := delivery.ApplyWith(ctx, p, read, func(ctx context.Context, next delivery.Mail, readVersion int64) error {
		return putMail(ctx, tx, next, readVersion)
	})
	if err != nil {
		return delivery.Mail{}, nil, err
	}
	if err := tx.Commit(); err != nil {
		return delivery.Mail{}, nil, fmt.Errorf("sqlitefeedback: apply %q: %w", p.MailID, err)
	}
	return m, applied, nil
}

func (s deliveries) Get(ctx context.Context, mailID string, now time.Time) (delivery.Mail, bool, error) {
	m, err := getMail(ctx, s.db, mailID)
	if err != nil || m == nil || !now.Before(m.ExpiresAt) {
		return delivery.Mail{}, false, err
	}
	return *m, true, nil
}

func getMail(ctx context.Context, q querier, mailID string) (*delivery.Mail, error) {
	m, err := scanMail(q.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE mail_id = ?`, mailID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("sqlitefeedback: get %q: %w", mailID, err)
	}
	return &m, nil
}

func putMail(ctx context.Context, tx *sql.Tx, m delivery.Mail, readVersion int64) error {
	rj, hj, err := delivery.EncodeLists(m)
	if err != nil {
		return err
	}
	dj, err := delivery.EncodeDeadLetter(m)
	if err != nil {
		return err
	}
	var deadLetter, deadLetterKey any
	if m.DeadLetter != nil {
		deadLetter, deadLetterKey = string(dj), m.DeadLetter.Key(m.MailID)
	}
	args := []any{m.MailID, m.Version, m.SESMessageID, string(m.State), msOf(m.StateAt), msOf(m.UpdatedAt), msOf(m.ExpiresAt), string(rj), string(hj),
		deadLetter, deadLetterKey}
	var res sql.Result
	if readVersion == 0 {
		res, err = tx.ExecContext(ctx, `INSERT INTO deliveries (`+deliveryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (mail_id) DO NOTHING`, args...)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE deliveries SET version = ?2, ses_message_id = ?3, state = ?4, state_at = ?5,
			updated_at = ?6, expires_at = ?7, recipients = ?8, history = ?9, dead_letter = ?10, dead_letter_key = ?11
			WHERE mail_id = ?1 AND version = ?12`, append(args, readVersion)...)
	}
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	switch {
	case err != nil:
		return fmt.Errorf("sqlitefeedback: put %q: %w", m.MailID, err)
	case n != 1:
		return delivery.ErrVersionConflict
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanMail(row scanner) (delivery.Mail, error) {
	var m delivery.Mail
	var state, rj, hj string
	var dj, dkey sql.NullString
	var stateAt, updatedAt, expiresAt int64
	if err := row.Scan(&m.MailID, &m.Version, &m.SESMessageID, &state, &stateAt, &updatedAt, &expiresAt, &rj, &hj, &dj, &dkey); err != nil {
		return m, err
	}
	if err := delivery.DecodeDeadLetter(&m, []byte(dj.String)); err != nil {
		return m, fmt.Errorf("sqlitefeedback: record %q: %w", m.MailID, err)
	}
	m.State, m.StateAt, m.UpdatedAt, m.ExpiresAt = workflow.OutcomeEventType(state), timeOf(stateAt), timeOf(updatedAt), timeOf(expiresAt)
	if err := delivery.DecodeLists(&m, []byte(rj), []byte(hj)); err != nil {
		return m, fmt.Errorf("sqlitefeedback: record %q: %w", m.MailID, err)
	}
	return m, nil
}

// DeadLetters is the delivery store's dead-letter index.
func (d *DB) DeadLetters() delivery.DeadLetterIndex { return deliveries{d.db} }

func (s deliveries) DeadLettered(ctx context.Context, p delivery.DeadLetterPageParams) ([]delivery.Mail, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	// One more than asked tells whether there is a next page.
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryCols+` FROM deliveries
		WHERE dead_letter_key IS NOT NULL AND dead_letter_key > ? AND expires_at > ? ORDER BY dead_letter_key LIMIT ?`,
		p.After, msOf(p.Now), p.Limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("sqlitefeedback: dead letters: %w", err)
	}
	defer rows.Close()
	var out []delivery.Mail
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, "", fmt.Errorf("sqlitefeedback: dead letters: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlitefeedback: dead letters: %w", err)
	}
	next := ""
	if len(out) > p.Limit {
		out = out[:p.Limit]
		last := out[len(out)-1]
		next = last.DeadLetter.Key(last.MailID)
	}
	return out, next, nil
}

func (s deliveries) ForgetDeadLetter(ctx context.Context, mailID string, now time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlitefeedback: forget dead letter %q: %w", mailID, err)
	}
	defer tx.Rollback()
	ok, err := delivery.ForgetWith(ctx, mailID, now, func(ctx context.Context, id string) (*delivery.Mail, error) { return getMail(ctx, tx, id) },
		func(ctx context.Context, next delivery.Mail, readVersion int64) error {
			return putMail(ctx, tx, next, readVersion)
		})
	if err != nil || !ok {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlitefeedback: forget dead letter %q: %w", mailID, err)
	}
	return true, nil
}

// Counts is what the file holds, by current state.
type Counts struct {
	// Mails counts records by their whole-mail State; "" counts those with
	// no whole-mail event yet.
	Mails map[workflow.OutcomeEventType]int
	// Recipients counts the recipients of every record by their State.
	Recipients map[workflow.OutcomeEventType]int
}

// Counts counts the stored records and their recipients by state.
func (d *DB) Counts(ctx context.Context) (Counts, error) {
	c := Counts{Mails: map[workflow.OutcomeEventType]int{}, Recipients: map[workflow.OutcomeEventType]int{}}
	for _, q := range []struct {
		into map[workflow.OutcomeEventType]int
		sql  string
	}{
		{c.Mails, `SELECT state, count(*) FROM deliveries GROUP BY state`},
		{c.Recipients, `SELECT json_extract(r.value, '$.state'), count(*) FROM deliveries, json_each(deliveries.recipients) AS r GROUP BY 1`},
	} {
		rows, err := d.db.QueryContext(ctx, q.sql)
		if err != nil {
			return Counts{}, fmt.Errorf("sqlitefeedback: counts: %w", err)
		}
		for rows.Next() {
			var state string
			var n int
			if err := rows.Scan(&state, &n); err != nil {
				rows.Close()
				return Counts{}, fmt.Errorf("sqlitefeedback: counts: %w", err)
			}
			q.into[workflow.OutcomeEventType(state)] = n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return Counts{}, fmt.Errorf("sqlitefeedback: counts: %w", err)
		}
	}
	return c, nil
}

// MaxRecent bounds Recent's limit.
const MaxRecent = 1000

// Recent returns up to limit records, the most recently updated first
// (ties by mail id).
func (d *DB) Recent(ctx context.Context, limit int) ([]delivery.Mail, error) {
	if limit < 1 || limit > MaxRecent {
		return nil, fmt.Errorf("sqlitefeedback: recent: limit %d is not within 1..%d", limit, MaxRecent)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+deliveryCols+` FROM deliveries ORDER BY updated_at DESC, mail_id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitefeedback: recent: %w", err)
	}
	defer rows.Close()
	var out []delivery.Mail
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitefeedback: recent: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitefeedback: recent: %w", err)
	}
	return out, nil
}

type suppressions struct{ db *sql.DB }

func (l suppressions) Lookup(ctx context.Context, addresses []string) ([]suppression.Entry, error) {
	var out []suppression.Entry
	// One query per address keeps the given order; the list is local and
	// a mail has at most workflow.MaxRecipients.
	for _, a := range addresses {
		e, err := scanEntry(l.db.QueryRowContext(ctx, `SELECT `+suppressionCols+` FROM suppressions WHERE address = ?`, a))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return nil, fmt.Errorf("sqlitefeedback: lookup %q: %w", a, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func (l suppressions) Put(ctx context.Context, e suppression.Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	bounce, err := jsonOrNull(e.Bounce != nil, e.Bounce)
	if err == nil {
		var complaint any
		if complaint, err = jsonOrNull(e.Complaint != nil, e.Complaint); err == nil {
			_, err = l.db.ExecContext(ctx, `INSERT OR REPLACE INTO suppressions (`+suppressionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				e.Address, string(e.Reason), e.At.UnixMilli(), e.MailID, e.SESMessageID, e.FeedbackID, e.Note, bounce, complaint)
		}
	}
	if err != nil {
		return fmt.Errorf("sqlitefeedback: put %q: %w", e.Address, err)
	}
	return nil
}

func jsonOrNull(present bool, v any) (any, error) {
	if !present {
		return nil, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func (l suppressions) Delete(ctx context.Context, address string) (bool, error) {
	res, err := l.db.ExecContext(ctx, `DELETE FROM suppressions WHERE address = ?`, address)
	if err != nil {
		return false, fmt.Errorf("sqlitefeedback: delete %q: %w", address, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (l suppressions) List(ctx context.Context, p suppression.ListParams) ([]suppression.Entry, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	// One more than asked tells whether there is a next page.
	rows, err := l.db.QueryContext(ctx, `SELECT `+suppressionCols+` FROM suppressions WHERE address > ? ORDER BY address LIMIT ?`, p.After, p.Limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("sqlitefeedback: list: %w", err)
	}
	defer rows.Close()
	var out []suppression.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, "", fmt.Errorf("sqlitefeedback: list: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlitefeedback: list: %w", err)
	}
	next := ""
	if len(out) > p.Limit {
		out = out[:p.Limit]
		next = out[len(out)-1].Address
	}
	return out, next, nil
}

func scanEntry(row scanner) (suppression.Entry, error) {
	var e suppression.Entry
	var reason string
	var at int64
	var bounce, complaint sql.NullString
	if err := row.Scan(&e.Address, &reason, &at, &e.MailID, &e.SESMessageID, &e.FeedbackID, &e.Note, &bounce, &complaint); err != nil {
		return e, err
	}
	e.Reason, e.At = suppression.Reason(reason), time.UnixMilli(at).UTC()
	if bounce.Valid {
		e.Bounce = new(workflow.EventBounce)
		if err := json.Unmarshal([]byte(bounce.String), e.Bounce); err != nil {
			return e, fmt.Errorf("entry %q: bounce: %w", e.Address, err)
		}
	}
	if complaint.Valid {
		e.Complaint = new(workflow.EventComplaint)
		if err := json.Unmarshal([]byte(complaint.String), e.Complaint); err != nil {
			return e, fmt.Errorf("entry %q: complaint: %w", e.Address, err)
		}
	}
	return e, nil
}
