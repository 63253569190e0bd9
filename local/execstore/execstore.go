// Package execstore keeps the history of state-machine executions of the
// local runtime: each execution with its input, output, status, error, cause
// and timings, its history events (shaped like Step Functions'
// GetExecutionHistory), and the items (mails) it concerned. The CLI and the
// web console read it; `mailflow dev` writes it.
//
// It is an SQLite database (modernc.org/sqlite, no cgo) in WAL mode with a
// single connection, so readers in other processes (the CLI while `mailflow
// dev` runs) see committed executions. An execution is written twice: a
// RUNNING row when it starts, and its end state with all its events and
// items in one transaction when it stops, which keeps the per-event cost off
// the hot path. The events are kept as one compressed value per execution
// (see history.go). Executions left RUNNING by a process that died are marked
// ABORTED by [Store.RecoverRunning].
//
// It stores and returns the read model's types (inspect/model): an
// [model.Execution] with its [model.Item] values and [model.Event] history,
// the same values the CLI and the console show, so nothing converts between
// a stored shape and a shown one. An event is stored as its Details, byte
// for byte; the item bodies are not stored (the execution input has them).
// The SQLite schema and the stored bytes are those of the databases written
// before the model was shared, which still open.
//
// # Bounded history
//
// The history is bounded by a [Retention]: by age and by count, whichever
// is reached first (defaults 7 days, the dedup lock's retention, and 10,000
// executions, 100,000 mails in batches of ten; see [DefaultMaxAge]). The
// runtime prunes in the background ([Store.Retain]) on its own clock, once
// a minute: the executions older than the age, or behind the newest count,
// are deleted oldest first with their history and items, in transactions of
// 100, so a pipeline write waits for one batch at most; a RUNNING execution
// is never deleted. The writer records the retention and how many
// executions it pruned in the file (table retention), so a reader in
// another process answers an unknown id with "not found (history kept 7 days
// / 10000 executions; N older executions pruned …)" ([NotFoundError])
// rather than a bare "not found".
//
// Space goes back to the filesystem through SQLite's incremental
// auto-vacuum: after a pass, free pages beyond a quarter of the file are
// returned, 1 MiB per statement. Up to a quarter stays free because the
// next minute's writes reuse it: returning every page would shrink and
// regrow the file each minute, and moving pages is the costly part. A new
// file starts in that mode; a file written before it takes the mode only
// through one VACUUM, which [Store.Compact] runs at start-up after pruning.
// A periodic VACUUM instead was measured and rejected: it rewrites the
// whole live file (0.6 to 1.2 s for 123 MB) holding the store, while a
// steady pass that prunes 1,000 executions takes 80 ms.
//
// Figures (TestRetentionBoundsTheFile with MAILFLOW_RETENTION_N=20000, on
// two shared cores): an execution of ten mails takes about 21.6 KB (24 KB
// for a real batch of small mails); 20,000 executions take 412 MiB without
// retention, and with a count limit of 5,000 pruned every 1,000 executions
// the file peaks at 123 MiB (6,000 executions) with 21 MiB of it free for
// reuse after each pass. A pass prunes about 14,000 executions a second;
// dropping 5,000 of 6,000 and returning 95 MiB takes 0.8 s, during which a
// concurrent write waited 56 ms at most. The WAL adds 4 to 8 MiB, whatever
// the history.
package execstore

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/inspect/model"
	"github.com/mailflow/mailflow/internal/sqlitedb"
	"github.com/mailflow/mailflow/workflow"
)

//go:embed schema.sql
var schemaFS embed.FS

// ErrNotFound is returned for an unknown execution id.
var ErrNotFound = errors.New("execstore: execution not found")

// The stored values.
type (
	// Execution is one run of the state machine. The store keeps all its
	// fields but Items and Events (see Items and Events), InputTruncated and
	// InputMissing (AWS logs only).
	Execution = model.Execution
	// Event is one history event; the store keeps its Details.
	Event = model.Event
	// Item is one record an execution handled; the store keeps all its
	// fields but Body.
	Item = model.Item
)

// Store is the execution database.
type Store struct {
	db *sql.DB
}

// Open opens (creating if needed) the store at path.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("execstore: a database path is required")
	}
	db, err := sqlitedb.Open(path, sqlitedb.Options{ForeignKeys: true})
	if err != nil {
		return nil, fmt.Errorf("execstore: open %s: %w", path, err)
	}
	schema, err := schemaFS.ReadFile("schema.sql")
	if err != nil {
		db.Close()
		return nil, err
	}
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master`).Scan(&tables); err != nil {
		db.Close()
		return nil, fmt.Errorf("execstore: open %s: %w", path, err)
	}
	if _, err := db.Exec(string(schema) + retentionSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("execstore: migrate %s: %w", path, err)
	}
	s := &Store{db: db}
	if tables == 0 {
		// A new file: its VACUUM into incremental auto-vacuum is instant.
		if err := s.vacuumIncremental(context.Background()); err != nil {
			db.Close()
			return nil, fmt.Errorf("execstore: open %s: %w", path, err)
		}
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

func text(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// Start records a RUNNING execution, with the count of its items so far.
func (s *Store) Start(ctx context.Context, e Execution) error {
	if e.ID == "" {
		return errors.New("execstore: execution id is required")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO executions (id, name, state_machine, status, input, started_at, item_count)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Name, e.StateMachine, asl.StatusRunning, text(e.Input), ms(e.StartedAt), len(e.Items))
	if err != nil {
		return fmt.Errorf("execstore: start %s: %w", e.ID, err)
	}
	return nil
}

// Finish records how an execution ended, with its events (e.Events) and
// items (e.Items).
func (s *Store) Finish(ctx context.Context, e Execution) error {
	events, items := e.Events, e.Items
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE executions SET status = ?, output = ?, error = ?, cause = ?, stopped_at = ?, item_count = ?
		WHERE id = ?`, e.Status, text(e.Output), e.Error, e.Cause, ms(e.StoppedAt), len(items), e.ID)
	if err != nil {
		return fmt.Errorf("execstore: finish %s: %w", e.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO executions (id, name, state_machine, status, input, output, error, cause, started_at, stopped_at, item_count)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.Name, e.StateMachine, e.Status, text(e.Input), text(e.Output), e.Error, e.Cause, ms(e.StartedAt), ms(e.StoppedAt), len(items)); err != nil {
			return fmt.Errorf("execstore: finish %s: %w", e.ID, err)
		}
	}
	if len(events) > 0 {
		byID := func(a, b Event) int { return cmp.Compare(a.ID, b.ID) }
		if !slices.IsSortedFunc(events, byID) { // Events returns them in id order
			events = slices.Clone(events)
			slices.SortStableFunc(events, byID)
		}
		out := bufPool.Get().(*[]byte)
		defer bufPool.Put(out)
		blob, err := appendHistory((*out)[:0], events)
		*out = blob
		if err != nil {
			return fmt.Errorf("execstore: history of %s: %w", e.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO histories (execution_id, encoding, events) VALUES (?, ?, ?)`,
			e.ID, historyEncoding, blob); err != nil {
			return fmt.Errorf("execstore: history of %s: %w", e.ID, err)
		}
	}
	if len(items) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO items (execution_id, idx, message_id, mail_id, outcome, error, cause, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		for _, it := range items {
			if _, err := stmt.ExecContext(ctx, e.ID, it.Index, it.MessageID, it.MailID, it.Outcome, it.Error, it.Cause, ms(e.StartedAt)); err != nil {
				stmt.Close()
				return fmt.Errorf("execstore: item %d of %s: %w", it.Index, e.ID, err)
			}
		}
		stmt.Close()
	}
	return tx.Commit()
}

// ErrProcessStopped is the error of an execution that RecoverRunning aborted.
const ErrProcessStopped = "mailflow.ProcessStopped"

// RecoverRunning marks executions still RUNNING (their process died) as
// ABORTED at now, and returns how many there were.
func (s *Store) RecoverRunning(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE executions SET status = ?, error = ?, cause = ?, stopped_at = ? WHERE status = ?`,
		asl.StatusAborted, ErrProcessStopped, "the runtime stopped before the execution finished; its messages return to the queue", now.UnixMilli(), asl.StatusRunning)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

const executionColumns = `id, name, state_machine, status, input, output, error, cause, started_at, stopped_at, item_count`

// scanExecution reads an execution row. The item count is kept for the
// readers of the table; the items themselves come from Items.
func scanExecution(row interface{ Scan(...any) error }) (Execution, error) {
	var e Execution
	var input, output, errName, cause sql.NullString
	var started, stopped sql.NullInt64
	var itemCount int
	if err := row.Scan(&e.ID, &e.Name, &e.StateMachine, &e.Status, &input, &output, &errName, &cause, &started, &stopped, &itemCount); err != nil {
		return e, err
	}
	if input.Valid {
		e.Input = json.RawMessage(input.String)
	}
	if output.Valid {
		e.Output = json.RawMessage(output.String)
	}
	e.Error, e.Cause = errName.String, cause.String
	e.StartedAt, e.StoppedAt = fromMS(started), fromMS(stopped)
	return e, nil
}

// Get returns one execution.
func (s *Store) Get(ctx context.Context, id string) (Execution, error) {
	e, err := scanExecution(s.db.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, s.notFound(ctx, id)
	}
	return e, err
}

// Resolve returns the id of the execution named by ref: its id (ARN), its
// name, or a unique prefix of its name.
func (s *Store) Resolve(ctx context.Context, ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("%w: empty reference", ErrNotFound)
	}
	ids, err := s.ids(ctx, `SELECT id FROM executions WHERE id = ? OR name = ? LIMIT 2`, ref, ref)
	if err == nil && len(ids) == 0 {
		ids, err = s.ids(ctx, `SELECT id FROM executions WHERE substr(name, 1, length(?)) = ? LIMIT 2`, ref, ref)
	}
	switch {
	case err != nil:
		return "", err
	case len(ids) == 0:
		return "", s.notFound(ctx, ref)
	case len(ids) > 1:
		return "", fmt.Errorf("execstore: %q names more than one execution; give more of its name", ref)
	}
	return ids[0], nil
}

func (s *Store) ids(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Events returns an execution's history in event order, each event's
// fields read from its details.
func (s *Store) Events(ctx context.Context, id string) ([]Event, error) {
	var encoding string
	var blob []byte
	var events []Event
	err := s.db.QueryRowContext(ctx, `SELECT encoding, events FROM histories WHERE execution_id = ?`, id).Scan(&encoding, &blob)
	switch {
	case err == nil:
		events, err = decodeHistory(encoding, blob)
	case errors.Is(err, sql.ErrNoRows):
		events, err = s.eventRows(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	for i := range events {
		events[i].ReadDetails()
	}
	return events, nil
}

// eventRows reads a history kept one row per event.
func (s *Store) eventRows(ctx context.Context, id string) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, previous_id, type, ts, details FROM events WHERE execution_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var ts sql.NullInt64
		var details sql.NullString
		if err := rows.Scan(&ev.ID, &ev.PreviousID, &ev.Type, &ts, &details); err != nil {
			return nil, err
		}
		ev.Timestamp = fromMS(ts)
		if details.Valid {
			ev.Details = json.RawMessage(details.String)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Items returns the items of an execution in index order.
func (s *Store) Items(ctx context.Context, id string) ([]Item, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT idx, message_id, mail_id, outcome, error, cause FROM items WHERE execution_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var it Item
		if err := rows.Scan(&it.Index, &it.MessageID, &it.MailID, &it.Outcome, &it.Error, &it.Cause); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Filter selects executions for List. Zero fields do not filter.
type Filter struct {
	Status asl.Status
	Since  time.Time // started at or after
	Until  time.Time // started before
	MailID string    // touched this mail
	// Outcome keeps executions with an item of this outcome.
	Outcome workflow.Outcome
	// Failed keeps executions that did not succeed or have an item that was
	// not delivered (an outcome other than sent and already-sent).
	Failed bool
	Limit  int // default 50, at most 1000
	// Before continues a listing: only executions older than this cursor
	// (from a previous page's NextCursor).
	Before string
}

// Page is one page of executions, newest first.
type Page struct {
	Executions []Execution
	NextCursor string // empty on the last page
}

// List returns executions newest first.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 0 || f.Limit > 1000 {
		return Page{}, fmt.Errorf("execstore: limit %d is outside 1..1000", f.Limit)
	}
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if !f.Since.IsZero() {
		where = append(where, "started_at >= ?")
		args = append(args, f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		where = append(where, "started_at < ?")
		args = append(args, f.Until.UnixMilli())
	}
	if f.MailID != "" {
		where = append(where, "id IN (SELECT execution_id FROM items WHERE mail_id = ?)")
		args = append(args, f.MailID)
	}
	if f.Outcome != "" {
		where = append(where, "id IN (SELECT execution_id FROM items WHERE outcome = ?)")
		args = append(args, f.Outcome)
	}
	if f.Failed {
		where = append(where, "(status NOT IN (?, ?) OR id IN (SELECT execution_id FROM items WHERE outcome NOT IN (?, ?)))")
		args = append(args, asl.StatusSucceeded, asl.StatusRunning, workflow.OutcomeSent, workflow.OutcomeAlreadySent)
	}
	if f.Before != "" {
		startedMS, id, err := decodeCursor(f.Before)
		if err != nil {
			return Page{}, err
		}
		where = append(where, "(started_at < ? OR (started_at = ? AND id < ?))")
		args = append(args, startedMS, startedMS, id)
	}
	query := `SELECT ` + executionColumns + ` FROM executions`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY started_at DESC, id DESC LIMIT ?"
	args = append(args, f.Limit+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return Page{}, err
	}
	defer rows.Close()
	var page Page
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return Page{}, err
		}
		page.Executions = append(page.Executions, e)
	}
	if err := rows.Err(); err != nil {
		return Page{}, err
	}
	if len(page.Executions) > f.Limit {
		page.Executions = page.Executions[:f.Limit]
		last := page.Executions[f.Limit-1]
		page.NextCursor = encodeCursor(last.StartedAt.UnixMilli(), last.ID)
	}
	return page, nil
}

// ItemsByMail returns every item, across executions, that concerned mailID,
// newest first, with the execution each belongs to.
func (s *Store) ItemsByMail(ctx context.Context, mailID string) ([]model.MailExecution, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT execution_id, idx, message_id, mail_id, outcome, error, cause, started_at
		FROM items WHERE mail_id = ? ORDER BY started_at DESC, execution_id DESC`, mailID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.MailExecution
	for rows.Next() {
		var mi model.MailExecution
		var started sql.NullInt64
		it := &mi.Item
		if err := rows.Scan(&mi.ExecutionID, &it.Index, &it.MessageID, &it.MailID, &it.Outcome, &it.Error, &it.Cause, &started); err != nil {
			return nil, err
		}
		mi.StartedAt = fromMS(started)
		out = append(out, mi)
	}
	return out, rows.Err()
}

func encodeCursor(startedMS int64, id string) string {
	return fmt.Sprintf("%d~%s", startedMS, id)
}

func decodeCursor(c string) (int64, string, error) {
	var startedMS int64
	i := strings.IndexByte(c, '~')
	if i < 0 {
		return 0, "", fmt.Errorf("execstore: malformed cursor %q", c)
	}
	if _, err := fmt.Sscanf(c[:i], "%d", &startedMS); err != nil {
		return 0, "", fmt.Errorf("execstore: malformed cursor %q", c)
	}
	return startedMS, c[i+1:], nil
}
