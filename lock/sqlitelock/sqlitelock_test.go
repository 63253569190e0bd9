package sqlitelock_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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

func TestReleaseAll(t *testing.T) {
	ctx := context.Background()
	tbl, err := sqlitelock.Open(filepath.Join(t.TempDir(), "locks.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		if _, err := tbl.Acquire(ctx, lock.AcquireParams{MailID: id, Owner: "o", ContentHash: "h", Now: now, LeaseUntil: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tbl.MarkSent(ctx, lock.MarkSentParams{MailID: "b", Owner: "o", SESMessageID: "ses-1", Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	n, err := tbl.ReleaseAll(ctx)
	if err != nil || n != 1 {
		t.Fatalf("released %d, %v", n, err)
	}
	if _, ok, _ := tbl.Get(ctx, "a"); ok {
		t.Fatal("the SENDING record survived")
	}
	if rec, ok, _ := tbl.Get(ctx, "b"); !ok || rec.Status != lock.Sent {
		t.Fatal("a SENT record was released")
	}
}
