package sqlitelock_test

import (
	"path/filepath"
	"testing"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/locktest"
	"github.com/mailflow/mailflow/lock/sqlitelock"
)

func TestConformance(t *testing.T) {
	locktest.Run(t, locktest.Harness{
		NewTable: func(t *testing.T) lock.Table {
			tbl, err := sqlitelock.Open(filepath.Join(t.TempDir(), "locks.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tbl.Close() })
			return tbl
		},
	})
}
