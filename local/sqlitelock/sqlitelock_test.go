package sqlitelock_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflow/mailflow/local/sqlitelock"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/locktest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
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

// At start-up every SENDING lease of the dead process ends: leases with no
// send attempt are deleted, leases whose attempt has no recorded answer are
// kept and run out now, so the redelivery is classified outcome-unknown
// instead of sending again; SENT records stay.
func TestReleaseAbandoned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, err := sqlitelock.Open(filepath.Join(t.TempDir(), "locks.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	now := time.Now()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := tbl.Acquire(ctx, lock.AcquireParams{MailID: id, Owner: "o", ContentHash: "h", Now: now, LeaseUntil: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tbl.MarkSent(ctx, lock.MarkSentParams{MailID: "b", Owner: "o", SESMessageID: "ses-1", Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "c", Owner: "o", Now: now}); err != nil {
		t.Fatal(err)
	}
	restart := now.Add(time.Minute)
	a, err := tbl.ReleaseAbandoned(ctx, restart)
	if err != nil || a.Released != 1 || a.OutcomeUnknown != 1 {
		t.Fatalf("released %+v, %v", a, err)
	}
	if _, ok, _ := tbl.Get(ctx, "a"); ok {
		t.Fatal("the SENDING record without an attempt survived")
	}
	if rec, ok, _ := tbl.Get(ctx, "b"); !ok || rec.Status != lock.Sent {
		t.Fatal("a SENT record was released")
	}
	rec, ok, _ := tbl.Get(ctx, "c")
	if !ok || !rec.OutcomeUnknown() || rec.LeaseLive(restart) {
		t.Fatalf("the outcome-unknown record: %+v (found %v); want it kept with its lease run out", rec, ok)
	}
	_, err = tbl.Acquire(ctx, lock.AcquireParams{MailID: "c", Owner: "o2", ContentHash: "h", Now: restart, LeaseUntil: restart.Add(time.Hour), ExpiresAt: restart.Add(2 * time.Hour)})
	if ce := lock.AsCondition(err); ce == nil || ce.Current == nil || !ce.Current.OutcomeUnknown() {
		t.Fatalf("a new owner took over an outcome-unknown record: %v", err)
	}
}

// A lock table written before records counted their renewals opens with
// its records intact, each at 0 renewals.
func TestOpensATableWithoutRenewals(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "locks.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE locks (mail_id TEXT PRIMARY KEY, status TEXT NOT NULL, owner TEXT NOT NULL,
		lease_until INTEGER NOT NULL, content_hash TEXT NOT NULL, ses_message_id TEXT NOT NULL DEFAULT '',
		sent_at INTEGER NOT NULL DEFAULT 0, expires_at INTEGER NOT NULL) WITHOUT ROWID;
		INSERT INTO locks VALUES ('m', 'SENDING', 'o', 4102444800000, 'h', '', 0, 4102444800000)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	tbl, err := sqlitelock.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	ctx := context.Background()
	if rec, ok, err := tbl.Get(ctx, "m"); err != nil || !ok || rec.Owner != "o" || rec.Renewals != 0 {
		t.Fatalf("old record: %+v %v %v", rec, ok, err)
	}
	now := time.Date(2099, 12, 1, 0, 0, 0, 0, time.UTC)
	rec, err := tbl.Renew(ctx, lock.RenewParams{MailID: "m", Owner: "o", Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)})
	if err != nil || rec.Renewals != 1 {
		t.Fatalf("renew: %+v %v", rec, err)
	}
}
