package sqlitedb_test

import (
	"path/filepath"
	"testing"

	"github.com/mailflow/mailflow/internal/sqlitedb"
)

func TestOpenSettings(t *testing.T) {
	t.Parallel()
	if _, err := sqlitedb.Open("", sqlitedb.Options{}); err == nil {
		t.Fatal("an empty path opened")
	}
	for _, fk := range []int{0, 1} {
		db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "x.db"), sqlitedb.Options{ForeignKeys: fk == 1, ImmediateTx: true})
		if err != nil {
			t.Fatal(err)
		}
		var mode string
		var sync, busy, keys int
		for _, q := range []struct {
			pragma string
			dest   any
		}{{"journal_mode", &mode}, {"synchronous", &sync}, {"busy_timeout", &busy}, {"foreign_keys", &keys}} {
			if err := db.QueryRow("PRAGMA " + q.pragma).Scan(q.dest); err != nil {
				t.Fatal(q.pragma, err)
			}
		}
		if mode != "wal" || sync != 1 || busy != 10000 || keys != fk {
			t.Fatalf("journal_mode %s, synchronous %d, busy_timeout %d, foreign_keys %d (want wal, 1, 10000, %d)", mode, sync, busy, keys, fk)
		}
		if s := db.Stats(); s.MaxOpenConnections != 1 {
			t.Fatalf("%d connections allowed, want 1", s.MaxOpenConnections)
		}
		db.Close()
	}
}
