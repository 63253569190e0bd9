package execstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
)

// Retention bounds the history the store keeps: an execution is deleted
// once it started more than MaxAge ago, or once MaxCount newer executions
// exist, whichever comes first. A RUNNING execution is never deleted.
type Retention struct {
	MaxAge   time.Duration
	MaxCount int
}

// The defaults keep what an operator inspecting and replaying failures
// needs. Seven days is the dedup lock's retention (taskkit.DefaultRetention):
// as long as `mail status` shows a mail's lock, it shows the executions that
// took it. 10,000 executions hold 100,000 mails in batches of ten (a whole
// `make soak`), and cap the file at about 250 MB for a pipeline that runs
// flat out all week (an execution of ten small mails takes about 24 KB).
const (
	DefaultMaxAge   = 7 * 24 * time.Hour
	DefaultMaxCount = 10_000
)

// The bounds Validate accepts. Below a minute history would vanish before
// anyone could look at it; the upper bounds only catch typing mistakes.
const (
	MinMaxAge   = time.Minute
	MaxMaxAge   = 10 * 365 * 24 * time.Hour
	MaxMaxCount = 10_000_000
)

// OrDefaults returns r with zero fields set to the defaults.
func (r Retention) OrDefaults() Retention {
	if r.MaxAge == 0 {
		r.MaxAge = DefaultMaxAge
	}
	if r.MaxCount == 0 {
		r.MaxCount = DefaultMaxCount
	}
	return r
}

// AgeProblem and CountProblem say what is wrong with a bound ("" when it is
// valid), for callers that report their own field names.
func AgeProblem(d time.Duration) string {
	if d < MinMaxAge || d > MaxMaxAge {
		return fmt.Sprintf("is outside %s..%s", Age(MinMaxAge), Age(MaxMaxAge))
	}
	return ""
}

// CountProblem: see AgeProblem.
func CountProblem(n int) string {
	if n < 1 || n > MaxMaxCount {
		return fmt.Sprintf("is outside 1..%d", MaxMaxCount)
	}
	return ""
}

// Validate checks both bounds; zero is not a default here.
func (r Retention) Validate() error {
	var errs []error
	if p := AgeProblem(r.MaxAge); p != "" {
		errs = append(errs, fmt.Errorf("execstore: history max age %s %s", Age(r.MaxAge), p))
	}
	if p := CountProblem(r.MaxCount); p != "" {
		errs = append(errs, fmt.Errorf("execstore: history max count %d %s", r.MaxCount, p))
	}
	return errors.Join(errs...)
}

// String is how answers name the retention: "7 days / 10000 executions".
func (r Retention) String() string {
	return Age(r.MaxAge) + " / " + executions(r.MaxCount)
}

func executions(n int) string {
	if n == 1 {
		return "1 execution"
	}
	return strconv.Itoa(n) + " executions"
}

// Age formats a duration in whole days when it is one ("7 days"), else as
// Go does ("36h0m0s").
func Age(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d > 0 && d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + " days"
	}
	return d.String()
}

// retentionSchema keeps the retention the writer prunes by and what it has
// pruned, so that a reader in another process (the CLI) can tell an
// execution that was pruned from one that never was.
const retentionSchema = `CREATE TABLE IF NOT EXISTS retention (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    max_age_ms   INTEGER NOT NULL,
    max_count    INTEGER NOT NULL,
    pruned       INTEGER NOT NULL DEFAULT 0,
    pruned_until INTEGER
);`

// Kept is the retention a store's writer declared and what it pruned.
type Kept struct {
	Retention           // zero when no writer declared one
	Pruned    int       // executions deleted by retention so far
	Newest    time.Time // start of the newest execution deleted
}

// String says what history is kept, for an answer that found nothing:
// "history kept 7 days / 10000 executions; 1200 older executions pruned,
// the newest of them started …"; "" when no retention was declared.
func (k Kept) String() string {
	if k.MaxCount == 0 {
		return ""
	}
	s := "history kept " + k.Retention.String()
	if k.Pruned > 0 {
		s += "; " + strings.Replace(executions(k.Pruned), " ", " older ", 1) + " pruned"
		if !k.Newest.IsZero() {
			s += ", the newest of them started " + k.Newest.UTC().Format(time.RFC3339)
		}
	}
	return s
}

// Note is String in parentheses after a space, or "".
func (k Kept) Note() string {
	if s := k.String(); s != "" {
		return " (" + s + ")"
	}
	return ""
}

// SetRetention declares the retention the writer prunes by, keeping the
// count of what was pruned before.
func (s *Store) SetRetention(ctx context.Context, r Retention) error {
	if err := r.Validate(); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO retention (id, max_age_ms, max_count) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET max_age_ms = excluded.max_age_ms, max_count = excluded.max_count`,
		r.MaxAge.Milliseconds(), r.MaxCount)
	if err != nil {
		return fmt.Errorf("execstore: set retention: %w", err)
	}
	return nil
}

// Kept returns the declared retention and what was pruned; zero when no
// writer declared one.
func (s *Store) Kept(ctx context.Context) (Kept, error) {
	var k Kept
	var ageMS int64
	var until sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT max_age_ms, max_count, pruned, pruned_until FROM retention WHERE id = 1`).
		Scan(&ageMS, &k.MaxCount, &k.Pruned, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return Kept{}, nil
	} else if err != nil {
		return Kept{}, fmt.Errorf("execstore: retention: %w", err)
	}
	k.MaxAge = time.Duration(ageMS) * time.Millisecond
	k.Newest = fromMS(until)
	return k, nil
}

// NotFoundError is an unknown execution, with what the store keeps: the
// execution may be one retention pruned. It matches ErrNotFound.
type NotFoundError struct {
	Ref  string
	Kept Kept
}

func (e *NotFoundError) Error() string {
	return ErrNotFound.Error() + ": " + e.Ref + e.Kept.Note()
}

func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// notFound is the error for ref, with the store's retention when it can be
// read (the answer stays "not found" when it cannot).
func (s *Store) notFound(ctx context.Context, ref string) error {
	k, _ := s.Kept(ctx)
	return &NotFoundError{Ref: ref, Kept: k}
}

// Pruning runs in transactions of pruneBatch executions, so that the
// pipeline's writes, which share the store's one connection, wait for one
// batch at most; see the package doc for the figures.
const pruneBatch = 100

// reclaimStep is how many free pages one incremental vacuum returns to the
// filesystem (1 MiB of 4 KiB pages), for the same reason.
const reclaimStep = 256

// freeSlack: free pages up to 1/freeSlack of the file are kept for reuse.
const freeSlack = 4

// Pruned is what one Prune did.
type Pruned struct {
	Executions int   // deleted
	Batches    int   // transactions
	Reclaimed  int64 // bytes returned to the filesystem
}

// Prune deletes the executions outside r at now, oldest first, in small
// transactions, never a RUNNING one, then returns the space they took to
// the filesystem.
func (s *Store) Prune(ctx context.Context, now time.Time, r Retention) (Pruned, error) {
	var p Pruned
	if err := r.Validate(); err != nil {
		return p, err
	}
	cut, err := s.cutoff(ctx, now, r)
	if err != nil {
		return p, err
	}
	for {
		n, err := s.pruneBatch(ctx, r, cut)
		if n > 0 {
			p.Executions += n
			p.Batches++
		}
		if err != nil {
			return p, err
		}
		if n < pruneBatch {
			break
		}
	}
	p.Reclaimed, err = s.reclaim(ctx)
	return p, err
}

// cutoff is the newest (start, id) of the expired executions: every
// execution that sorts at or before it (started earlier, or at the same
// millisecond with a smaller id) is outside the retention. An execution
// started at or before now-MaxAge is too old; one behind the newest
// MaxCount is one too many. The later bound wins. Executions started after
// the cutoff is read only move the count bound later, so one cutoff serves
// a whole pass.
type cutoff struct {
	startedMS int64
	id        string
}

func (c cutoff) after(o cutoff) bool {
	return c.startedMS > o.startedMS || (c.startedMS == o.startedMS && c.id > o.id)
}

func (s *Store) cutoff(ctx context.Context, now time.Time, r Retention) (cutoff, error) {
	// By age, every execution started before now-MaxAge: at or before its
	// previous millisecond with an id above every id.
	cut := cutoff{startedMS: now.Add(-r.MaxAge).UnixMilli() - 1, id: "\U0010FFFF"}
	var started int64
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT started_at, id FROM executions WHERE started_at IS NOT NULL
		ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?`, r.MaxCount).Scan(&started, &id)
	switch {
	case errors.Is(err, sql.ErrNoRows): // no more than MaxCount
	case err != nil:
		return cut, fmt.Errorf("execstore: prune: %w", err)
	case (cutoff{started, id}).after(cut):
		cut = cutoff{started, id}
	}
	return cut, nil
}

// pruneBatch deletes up to pruneBatch expired executions (their history
// and items go with them: ON DELETE CASCADE) and counts them in the
// retention table, with r, in one transaction.
func (s *Store) pruneBatch(ctx context.Context, r Retention, cut cutoff) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	// An execution without a start time (the runtime writes none) counts
	// as expired. The second query walks the start index up to the cutoff.
	rows, err := tx.QueryContext(ctx, `SELECT id, started_at FROM executions WHERE started_at IS NULL AND status <> ?1
		UNION ALL SELECT * FROM (SELECT id, started_at FROM executions WHERE (started_at, id) <= (?2, ?3) AND status <> ?1
			ORDER BY started_at, id)
		LIMIT ?4`, asl.StatusRunning, cut.startedMS, cut.id, pruneBatch)
	if err != nil {
		return 0, fmt.Errorf("execstore: prune: %w", err)
	}
	var ids []any
	var newest sql.NullInt64
	for rows.Next() {
		var id string
		var started sql.NullInt64
		if err := rows.Scan(&id, &started); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
		if started.Valid {
			newest = started
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return 0, err
	}
	del, err := tx.PrepareContext(ctx, `DELETE FROM executions WHERE id = ?`)
	if err != nil {
		return 0, err
	}
	defer del.Close()
	for _, id := range ids {
		if _, err := del.ExecContext(ctx, id); err != nil {
			return 0, fmt.Errorf("execstore: prune %s: %w", id, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO retention (id, max_age_ms, max_count, pruned, pruned_until) VALUES (1, ?1, ?2, ?3, ?4)
		ON CONFLICT (id) DO UPDATE SET max_age_ms = ?1, max_count = ?2, pruned = pruned + ?3,
			pruned_until = nullif(max(coalesce(pruned_until, 0), coalesce(?4, 0)), 0)`,
		r.MaxAge.Milliseconds(), r.MaxCount, len(ids), newest); err != nil {
		return 0, fmt.Errorf("execstore: prune: %w", err)
	}
	return len(ids), tx.Commit()
}

// reclaim returns free pages to the filesystem, reclaimStep at a time, when
// the file is in incremental auto-vacuum mode (see Compact), and returns
// the bytes it freed. Up to a quarter of the file stays free: the next
// minute's writes reuse those pages, and a pipeline that writes what a pass
// prunes does not shrink and regrow its file every minute (moving pages is
// the costly part of a pass; see the package doc).
func (s *Store) reclaim(ctx context.Context) (int64, error) {
	if ok, err := s.incremental(ctx); err != nil || !ok {
		return 0, err
	}
	var total int64
	for {
		f, err := s.file(ctx)
		if err != nil || f.free <= f.pages/freeSlack {
			return total, err
		}
		step := min(reclaimStep, f.free-f.pages/freeSlack)
		if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, step)); err != nil {
			return total, fmt.Errorf("execstore: incremental vacuum: %w", err)
		}
		after, err := s.file(ctx)
		if err != nil {
			return total, err
		}
		if after.pages >= f.pages {
			return total, nil // nothing moved: stop rather than spin
		}
		total += (f.pages - after.pages) * f.pageSize
	}
}

// fileSize is the database's size in pages, free ones among them.
type fileSize struct{ pages, free, pageSize int64 }

func (f fileSize) bytes() int64     { return f.pages * f.pageSize }
func (f fileSize) freeBytes() int64 { return f.free * f.pageSize }

func (s *Store) file(ctx context.Context) (fileSize, error) {
	var f fileSize
	err := s.db.QueryRowContext(ctx, `SELECT page_count, freelist_count, page_size
		FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()`).Scan(&f.pages, &f.free, &f.pageSize)
	if err != nil {
		return f, fmt.Errorf("execstore: page count: %w", err)
	}
	return f, nil
}

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2

// Compacted is what Compact did.
type Compacted struct {
	Pruned
	Vacuumed      bool  // the file was rewritten
	Before, After int64 // its size, in bytes
}

// Compact turns a file written before the store returned space to the
// filesystem into one that does: it prunes the file by r at now, then
// rewrites it in incremental auto-vacuum mode, which an existing file takes
// only through a VACUUM. The VACUUM holds the store while it copies what is
// left: the runtime calls Compact at start-up, before the pipe runs. A file
// already in that mode is left to Prune.
func (s *Store) Compact(ctx context.Context, now time.Time, r Retention) (Compacted, error) {
	var c Compacted
	if ok, err := s.incremental(ctx); err != nil || ok {
		return c, err
	}
	f, err := s.file(ctx)
	if err != nil {
		return c, err
	}
	c.Before = f.bytes()
	if c.Pruned, err = s.Prune(ctx, now, r); err != nil {
		return c, err
	}
	if err := s.vacuumIncremental(ctx); err != nil {
		return c, err
	}
	c.Vacuumed = true
	f, err = s.file(ctx)
	c.After = f.bytes()
	return c, err
}

func (s *Store) incremental(ctx context.Context) (bool, error) {
	var mode int
	if err := s.db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return false, fmt.Errorf("execstore: auto_vacuum: %w", err)
	}
	return mode == autoVacuumIncremental, nil
}

func (s *Store) vacuumIncremental(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return fmt.Errorf("execstore: auto_vacuum: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("execstore: vacuum: %w", err)
	}
	return nil
}

// Usage is what the store holds and the room it takes.
type Usage struct {
	Executions int
	// Bytes is the database's size (its pages; the WAL aside), FreeBytes
	// the part of it on free pages, which later writes reuse (Prune leaves
	// at most a quarter of the file free).
	Bytes, FreeBytes int64
}

// Usage counts the executions and measures the database.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM executions`).Scan(&u.Executions); err != nil {
		return u, fmt.Errorf("execstore: usage: %w", err)
	}
	f, err := s.file(ctx)
	u.Bytes, u.FreeBytes = f.bytes(), f.freeBytes()
	return u, err
}

// PruneEvery is how often Retain prunes: executions outlive the retention
// by at most this (and the count bound by what the pipeline writes in it).
const PruneEvery = time.Minute

// Retain declares r and prunes by it in the background on c: at once, then
// every PruneEvery, until ctx ends or stop is called; stop returns once the
// pass under way has ended. report hears of every pass that deleted
// something or failed.
func (s *Store) Retain(ctx context.Context, r Retention, c clock.Clock, report func(Pruned, error)) (stop func(), err error) {
	if err := s.SetRetention(ctx, r); err != nil {
		return nil, err
	}
	c = clock.Or(c)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p, err := s.Prune(ctx, c.Now(), r)
			if ctx.Err() != nil {
				return
			}
			if report != nil && (err != nil || p.Executions > 0) {
				report(p, err)
			}
			if c.Sleep(ctx, PruneEvery) != nil {
				return
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}
