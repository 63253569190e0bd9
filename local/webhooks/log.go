package webhooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/internal/sqlitedb"
	"github.com/mailflow/mailflow/workflow"
)

// Times are stored in Unix nanoseconds.
const schema = `
CREATE TABLE IF NOT EXISTS outcome_events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT NOT NULL UNIQUE,
	type        TEXT NOT NULL,
	mail_id     TEXT NOT NULL,
	time        INTEGER NOT NULL,
	recorded_at INTEGER NOT NULL,
	body        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outcome_events_time ON outcome_events (time);
CREATE TABLE IF NOT EXISTS outcome_deliveries (
	event_seq   INTEGER NOT NULL REFERENCES outcome_events (seq),
	url         TEXT NOT NULL,
	status      TEXT NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	next_at     INTEGER NOT NULL,
	deadline    INTEGER NOT NULL,
	PRIMARY KEY (event_seq, url)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outcome_deliveries_due ON outcome_deliveries (url, status, next_at);
CREATE TABLE IF NOT EXISTS outcome_attempts (
	event_seq   INTEGER NOT NULL,
	url         TEXT NOT NULL,
	n           INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	duration    INTEGER NOT NULL,
	status_code INTEGER NOT NULL,
	error       TEXT NOT NULL,
	PRIMARY KEY (event_seq, url, n)
) WITHOUT ROWID;
`

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
)

// Log is the outcome event log in one SQLite file: every event published,
// its delivery to each URL and every attempt. A Log opened by another
// process (the CLI) reads what the runtime committed.
type Log struct {
	db    *sql.DB
	clock clock.Clock
}

// Open opens (creating if needed) the log at path; clk is the time Follow
// polls on (nil: the wall clock).
func Open(path string, clk clock.Clock) (*Log, error) {
	db, err := sqlitedb.Open(path, sqlitedb.Options{ImmediateTx: true})
	if err != nil {
		return nil, fmt.Errorf("webhooks: open %s: %w", path, err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("webhooks: create the outcome log in %s: %w", path, err)
	}
	return &Log{db: db, clock: clock.Or(clk)}, nil
}

// Close closes the file.
func (l *Log) Close() error { return l.db.Close() }

// Record is one event of the log.
type Record struct {
	// Seq orders the log: the cursor of List and Follow.
	Seq int64
	// Event is the event as published; Body its exact JSON, the bytes
	// every receiver gets.
	Event    workflow.OutcomeEvent
	Body     []byte
	Recorded time.Time
}

// encoded is an event ready to be stored.
type encoded struct {
	event workflow.OutcomeEvent
	body  []byte
}

// record stores the events not stored yet (by ID) and, for each stored
// now, a pending delivery to every url, in one transaction. It returns how
// many were new.
func (l *Log) record(ctx context.Context, events []encoded, urls []string, now time.Time, retryFor time.Duration) (int, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("webhooks: record events: %w", err)
	}
	defer tx.Rollback()
	fresh := 0
	for _, e := range events {
		var seq int64
		err := tx.QueryRowContext(ctx, `INSERT INTO outcome_events (id, type, mail_id, time, recorded_at, body)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING seq`,
			e.event.ID, string(e.event.Type), e.event.MailID, e.event.Time.UnixNano(), now.UnixNano(), e.body).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			continue // published before: stored and delivered once
		}
		if err != nil {
			return 0, fmt.Errorf("webhooks: record event %s: %w", e.event.ID, err)
		}
		fresh++
		for _, u := range urls {
			if _, err := tx.ExecContext(ctx, `INSERT INTO outcome_deliveries (event_seq, url, status, next_at, deadline) VALUES (?, ?, ?, ?, ?)`,
				seq, u, StatusPending, now.UnixNano(), now.Add(retryFor).UnixNano()); err != nil {
				return 0, fmt.Errorf("webhooks: record the delivery of event %s: %w", e.event.ID, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("webhooks: record events: %w", err)
	}
	return fresh, nil
}

// Query selects events of the log.
type Query struct {
	After   int64     // only events with a greater Seq
	Through int64     // only events with a Seq not greater (0: no bound)
	Since   time.Time // only events whose Time is not before it (zero: all)
	Limit   int       // at most this many (0: 1000)
}

// List returns the events q selects, in Seq order.
func (l *Log) List(ctx context.Context, q Query) ([]Record, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	since := int64(0)
	if !q.Since.IsZero() {
		since = q.Since.UnixNano()
	}
	through := q.Through
	if through <= 0 {
		through = math.MaxInt64
	}
	rows, err := l.db.QueryContext(ctx, `SELECT seq, body, recorded_at FROM outcome_events
		WHERE seq > ? AND seq <= ? AND time >= ? ORDER BY seq LIMIT ?`, q.After, through, since, limit)
	if err != nil {
		return nil, fmt.Errorf("webhooks: list events: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var recorded int64
		if err := rows.Scan(&r.Seq, &r.Body, &recorded); err != nil {
			return nil, fmt.Errorf("webhooks: list events: %w", err)
		}
		ev, err := workflow.ParseOutcomeEvent(r.Body)
		if err != nil {
			return nil, fmt.Errorf("webhooks: event %d of the log: %w", r.Seq, err)
		}
		r.Event, r.Recorded = ev, time.Unix(0, recorded).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// FollowPoll is how often Follow reads the log for new events.
const FollowPoll = 500 * time.Millisecond

// Follow calls fn for every event q selects, then for every event recorded
// later (by this process or another), in Seq order, polling every
// FollowPoll, until ctx ends (it then returns nil) or fn returns an error
// (returned). q.Since and q.Through select among the events recorded
// before the call only: an event recorded later is reported whatever its
// time (SES reports some late).
func (l *Log) Follow(ctx context.Context, q Query, fn func(Record) error) error {
	var last int64
	if err := l.db.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM outcome_events`).Scan(&last); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("webhooks: read the log: %w", err)
	}
	backlog := q
	if backlog.Through <= 0 || backlog.Through > last {
		backlog.Through = last
	}
	if err := l.each(ctx, &backlog, fn); err != nil || ctx.Err() != nil {
		return err
	}
	q = Query{After: max(q.After, last), Limit: q.Limit}
	for {
		if err := l.each(ctx, &q, fn); err != nil || ctx.Err() != nil {
			return err
		}
		if l.clock.Sleep(ctx, FollowPoll) != nil {
			return nil
		}
	}
}

// each calls fn for every event q selects, page by page, moving q.After
// on; it returns nil when ctx ends.
func (l *Log) each(ctx context.Context, q *Query, fn func(Record) error) error {
	for {
		if q.Through > 0 && q.After >= q.Through {
			return nil
		}
		rs, err := l.List(ctx, *q)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		for _, r := range rs {
			if err := fn(r); err != nil {
				return err
			}
			q.After = r.Seq
		}
		if len(rs) == 0 {
			return nil
		}
	}
}

// Delivery is the delivery of one event to one URL.
type Delivery struct {
	EventID  string    `json:"eventId"`
	URL      string    `json:"url"`
	Status   string    `json:"status"` // StatusPending, StatusDelivered or StatusFailed
	Attempts []Attempt `json:"attempts"`
	// NextAttempt is when a pending delivery is tried next; Deadline when
	// it is given up.
	NextAttempt time.Time `json:"nextAttempt"`
	Deadline    time.Time `json:"deadline"`
}

// Attempt is one POST of an event to a URL.
type Attempt struct {
	N          int           `json:"n"` // 1 for the first
	At         time.Time     `json:"at"`
	Duration   time.Duration `json:"durationNs"`
	StatusCode int           `json:"statusCode,omitempty"` // the response's, 0 when there was none
	Error      string        `json:"error,omitempty"`      // why it failed; "" when delivered
}

// Deliveries returns the deliveries of the event with ID eventID, or, when
// eventID is "", the latest limit deliveries of any event, newest first,
// each with its attempts.
func (l *Log) Deliveries(ctx context.Context, eventID string, limit int) ([]Delivery, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := l.db.QueryContext(ctx, `SELECT d.event_seq, e.id, d.url, d.status, d.next_at, d.deadline
		FROM outcome_deliveries d JOIN outcome_events e ON e.seq = d.event_seq
		WHERE ? = '' OR e.id = ? ORDER BY d.event_seq DESC, d.url LIMIT ?`, eventID, eventID, limit)
	if err != nil {
		return nil, fmt.Errorf("webhooks: list deliveries: %w", err)
	}
	var out []Delivery
	var seqs []int64
	for rows.Next() {
		var d Delivery
		var seq, next, deadline int64
		if err := rows.Scan(&seq, &d.EventID, &d.URL, &d.Status, &next, &deadline); err != nil {
			rows.Close()
			return nil, fmt.Errorf("webhooks: list deliveries: %w", err)
		}
		d.NextAttempt, d.Deadline = time.Unix(0, next).UTC(), time.Unix(0, deadline).UTC()
		out = append(out, d)
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhooks: list deliveries: %w", err)
	}
	for i := range out {
		if out[i].Attempts, err = l.attempts(ctx, seqs[i], out[i].URL); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (l *Log) attempts(ctx context.Context, seq int64, url string) ([]Attempt, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT n, at, duration, status_code, error FROM outcome_attempts
		WHERE event_seq = ? AND url = ? ORDER BY n`, seq, url)
	if err != nil {
		return nil, fmt.Errorf("webhooks: list attempts: %w", err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var at, d int64
		if err := rows.Scan(&a.N, &at, &d, &a.StatusCode, &a.Error); err != nil {
			return nil, fmt.Errorf("webhooks: list attempts: %w", err)
		}
		a.At, a.Duration = time.Unix(0, at).UTC(), time.Duration(d)
		out = append(out, a)
	}
	return out, rows.Err()
}

// job is a pending delivery due for an attempt.
type job struct {
	seq      int64
	eventID  string
	body     []byte
	attempts int
	deadline time.Time
}

// mailID is the mailId of the job's event, for its log lines; "" when its
// body does not say (it is the OutcomeEvent the log recorded).
func (j job) mailID() string {
	var e struct {
		MailID string `json:"mailId"`
	}
	if json.Unmarshal(j.body, &e) != nil {
		return ""
	}
	return e.MailID
}

// due returns up to limit pending deliveries to url due at now, earliest
// first, and when the next one not due yet is (zero: none).
func (l *Log) due(ctx context.Context, url string, now time.Time, limit int) ([]job, time.Time, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT d.event_seq, e.id, e.body, d.attempts, d.deadline
		FROM outcome_deliveries d JOIN outcome_events e ON e.seq = d.event_seq
		WHERE d.url = ? AND d.status = ? AND d.next_at <= ? ORDER BY d.next_at, d.event_seq LIMIT ?`,
		url, StatusPending, now.UnixNano(), limit)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("webhooks: read due deliveries: %w", err)
	}
	var jobs []job
	for rows.Next() {
		var j job
		var deadline int64
		if err := rows.Scan(&j.seq, &j.eventID, &j.body, &j.attempts, &deadline); err != nil {
			rows.Close()
			return nil, time.Time{}, fmt.Errorf("webhooks: read due deliveries: %w", err)
		}
		j.deadline = time.Unix(0, deadline)
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("webhooks: read due deliveries: %w", err)
	}
	var next sql.NullInt64
	if err := l.db.QueryRowContext(ctx, `SELECT min(next_at) FROM outcome_deliveries WHERE url = ? AND status = ? AND next_at > ?`,
		url, StatusPending, now.UnixNano()).Scan(&next); err != nil {
		return nil, time.Time{}, fmt.Errorf("webhooks: read due deliveries: %w", err)
	}
	var at time.Time
	if next.Valid {
		at = time.Unix(0, next.Int64)
	}
	return jobs, at, nil
}

// settle records an attempt and the delivery's new state in one
// transaction: status, and for a pending one when it is tried next.
func (l *Log) settle(ctx context.Context, url string, j job, a Attempt, status string, next time.Time) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("webhooks: record an attempt: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO outcome_attempts (event_seq, url, n, at, duration, status_code, error) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		j.seq, url, a.N, a.At.UnixNano(), int64(a.Duration), a.StatusCode, a.Error); err != nil {
		return fmt.Errorf("webhooks: record attempt %d of event %s: %w", a.N, j.eventID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outcome_deliveries SET status = ?, attempts = ?, next_at = ? WHERE event_seq = ? AND url = ?`,
		status, a.N, next.UnixNano(), j.seq, url); err != nil {
		return fmt.Errorf("webhooks: record the delivery of event %s: %w", j.eventID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("webhooks: record an attempt: %w", err)
	}
	return nil
}

// errorText bounds what is kept of an error.
func errorText(err error) string {
	s := strings.ToValidUTF8(err.Error(), "?")
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}
