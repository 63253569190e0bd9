package datadir

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/mailflow/mailflow/internal/sqlitedb"
)

// The identity a store file carries: one row in a table of its own, beside
// the store's tables (each store creates its tables IF NOT EXISTS, so the
// stamp can come first). A PRAGMA user_version or application_id has room
// for 32 bits only, too few for a random id.
const (
	identityTable  = "datadir_identity"
	identitySchema = `CREATE TABLE IF NOT EXISTS datadir_identity (
	one INTEGER PRIMARY KEY CHECK (one = 1),
	id  TEXT NOT NULL
)`
)

// readStamp returns the data directory identity the SQLite file at path
// carries, "" when it has none. The file must exist: opening creates it.
func readStamp(path string) (string, error) {
	db, err := sqlitedb.Open(path, sqlitedb.Options{})
	if err != nil {
		return "", fmt.Errorf("local: %s: %w", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, identityTable).Scan(&n); err != nil {
		return "", fmt.Errorf("local: %s: read its data directory identity: %w", path, err)
	}
	if n == 0 {
		return "", nil
	}
	var id string
	switch err := db.QueryRow(`SELECT id FROM datadir_identity WHERE one = 1`).Scan(&id); {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("local: %s: read its data directory identity: %w", path, err)
	}
	return id, nil
}

// stamp writes id into the SQLite file at path, creating the file when it
// does not exist, in one transaction. A file stamped with another id is
// an error and keeps its stamp.
func stamp(path, id string) error {
	db, err := sqlitedb.Open(path, sqlitedb.Options{ImmediateTx: true})
	if err != nil {
		return fmt.Errorf("local: %s: %w", path, err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("local: %s: stamp its data directory identity: %w", path, err)
	}
	defer tx.Rollback()
	var got string
	if _, err = tx.Exec(identitySchema); err == nil {
		if _, err = tx.Exec(`INSERT INTO datadir_identity (one, id) VALUES (1, ?) ON CONFLICT (one) DO NOTHING`, id); err == nil {
			err = tx.QueryRow(`SELECT id FROM datadir_identity WHERE one = 1`).Scan(&got)
		}
	}
	if err != nil {
		return fmt.Errorf("local: %s: stamp its data directory identity: %w", path, err)
	}
	if got != id {
		return fmt.Errorf("local: %s: already carries the data directory identity %s, not %s", path, got, id)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("local: %s: stamp its data directory identity: %w", path, err)
	}
	return nil
}
