// Package sqlitepacer is a pacer.Bucket in one SQLite row
// (modernc.org/sqlite, no cgo), for processes on one machine that share a
// send quota. Each Take is one IMMEDIATE transaction (read the row, apply
// pacer.GCRA, write it back); SQLite's write lock serialises takes across
// processes, the single connection inside one. Several buckets may share a
// database file under different names.
package sqlitepacer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/mailflow/mailflow/internal/sqlitedb"
	"github.com/mailflow/mailflow/pacer"
)

const schema = `CREATE TABLE IF NOT EXISTS pacer (
	name TEXT PRIMARY KEY,
	tat  INTEGER NOT NULL
) WITHOUT ROWID`

// Bucket is one named bucket in an SQLite database.
type Bucket struct {
	db   *sql.DB
	name string
}

var _ pacer.Bucket = (*Bucket)(nil)

// Open opens (creating if needed) the database at path and returns the
// bucket called name in it.
func Open(path, name string) (*Bucket, error) {
	if path == "" || name == "" {
		return nil, errors.New("sqlitepacer: a database path and a bucket name are required")
	}
	db, err := sqlitedb.Open(path, sqlitedb.Options{ImmediateTx: true})
	if err != nil {
		return nil, fmt.Errorf("sqlitepacer: open %s: %w", path, err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitepacer: migrate %s: %w", path, err)
	}
	return &Bucket{db: db, name: name}, nil
}

// Close closes the database.
func (b *Bucket) Close() error { return b.db.Close() }

// Take implements pacer.Bucket.
func (b *Bucket) Take(ctx context.Context, p pacer.TakeParams) (res pacer.TakeResult, err error) {
	if err := p.Validate(); err != nil {
		return pacer.TakeResult{}, err
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return pacer.TakeResult{}, fmt.Errorf("sqlitepacer: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var tat int64
	switch err := tx.QueryRowContext(ctx, `SELECT tat FROM pacer WHERE name = ?`, b.name).Scan(&tat); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return pacer.TakeResult{}, fmt.Errorf("sqlitepacer: %w", err)
	}
	next, res := pacer.GCRA(tat, p)
	if res.OK {
		if _, err := tx.ExecContext(ctx, `INSERT INTO pacer (name, tat) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET tat = excluded.tat`, b.name, next); err != nil {
			return pacer.TakeResult{}, fmt.Errorf("sqlitepacer: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return pacer.TakeResult{}, fmt.Errorf("sqlitepacer: %w", err)
	}
	return res, nil
}
