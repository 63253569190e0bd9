// Package sqlitedb opens the local runtime's SQLite databases (queues, locks,
// executions, the pacer's bucket) with one set of settings, so that their
// durability is decided in one place:
//
//   - WAL journal with synchronous=NORMAL: a commit survives a crash of the
//     process; a power cut may lose the last moments, never corrupt the
//     file. Readers in other processes (the CLI) see committed data.
//   - busy_timeout of 10 s: another process's write waits instead of
//     failing at once.
//   - One connection: writers inside the process queue behind it, and
//     prepared statements stay prepared.
//
// It uses modernc.org/sqlite (no cgo), so the binaries cross-compile.
package sqlitedb

import (
	"database/sql"
	"errors"
	"net/url"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Options are what differs between the databases.
type Options struct {
	// ImmediateTx makes every transaction take the write lock when it
	// begins (BEGIN IMMEDIATE), for read-then-write transactions that
	// must not fail on upgrading their lock.
	ImmediateTx bool
	// ForeignKeys enforces foreign key constraints.
	ForeignKeys bool
}

// Open opens (creating if needed) the database at path.
func Open(path string, o Options) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("a database path is required")
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	if o.ForeignKeys {
		q.Add("_pragma", "foreign_keys(1)")
	}
	if o.ImmediateTx {
		q.Set("_txlock", "immediate")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	return db, nil
}
