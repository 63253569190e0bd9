package sqlitefeedback_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/deliverytest"
	"github.com/mailflow/mailflow/internal/sqlitedb"
	"github.com/mailflow/mailflow/local/sqlitefeedback"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/suppression/suppressiontest"
	"github.com/mailflow/mailflow/workflow"
)

func open(t *testing.T, path string) *sqlitefeedback.DB {
	t.Helper()
	db, err := sqlitefeedback.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newDB(t *testing.T) *sqlitefeedback.DB {
	return open(t, filepath.Join(t.TempDir(), "feedback.db"))
}

func TestDeliveryConformance(t *testing.T) {
	t.Parallel()
	deliverytest.Run(t, func(t *testing.T) delivery.Store { return newDB(t).Deliveries() })
}

func TestSuppressionConformance(t *testing.T) {
	t.Parallel()
	suppressiontest.Run(t, func(t *testing.T) suppression.List { return newDB(t).Suppressions() })
}

func TestSuppressionSorted(t *testing.T) {
	t.Parallel()
	suppressiontest.Sorted(t, newDB(t).Suppressions())
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func apply(t *testing.T, s delivery.Store, mailID string, now time.Time, events ...delivery.Event) {
	t.Helper()
	if _, _, err := s.Apply(context.Background(), delivery.ApplyParams{MailID: mailID, Events: events, Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func TestCountsAndRecent(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := db.Deliveries()
	ctx := context.Background()
	if c, err := db.Counts(ctx); err != nil || len(c.Mails) != 0 || len(c.Recipients) != 0 {
		t.Fatalf("counts of an empty file: %+v %v", c, err)
	}
	rcpt := func(id string, typ workflow.OutcomeEventType, addr string) delivery.Event {
		e := delivery.Event{ID: id, Type: typ, Recipient: addr, Time: t0}
		if typ == workflow.EventBounced {
			e.Bounce = &workflow.EventBounce{Type: "Permanent", SubType: "General"}
		}
		return e
	}
	apply(t, s, "m1", t0.Add(1*time.Second), delivery.Event{ID: "s1", Type: workflow.EventSent, Time: t0},
		rcpt("d1", workflow.EventDelivered, "a@example.com"), rcpt("b1", workflow.EventBounced, "b@example.com"))
	apply(t, s, "m2", t0.Add(2*time.Second), delivery.Event{ID: "s2", Type: workflow.EventSent, Time: t0},
		rcpt("d2", workflow.EventDelivered, "a@example.com"))
	apply(t, s, "m3", t0.Add(3*time.Second), delivery.Event{ID: "a3", Type: workflow.EventAccepted, Time: t0})
	apply(t, s, "m4", t0.Add(4*time.Second), rcpt("w4", workflow.EventDelayed, "c@example.com"))
	// m1 is updated last: it comes first in Recent.
	apply(t, s, "m1", t0.Add(5*time.Second), rcpt("c1", workflow.EventComplained, "c@example.com"))

	c, err := db.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantMails := map[workflow.OutcomeEventType]int{workflow.EventSent: 2, workflow.EventAccepted: 1, "": 1}
	wantRcpts := map[workflow.OutcomeEventType]int{workflow.EventDelivered: 2, workflow.EventBounced: 1, workflow.EventComplained: 1, workflow.EventDelayed: 1}
	if !reflect.DeepEqual(c.Mails, wantMails) || !reflect.DeepEqual(c.Recipients, wantRcpts) {
		t.Errorf("counts %+v, want mails %v and recipients %v", c, wantMails, wantRcpts)
	}

	recent, err := db.Recent(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range recent {
		got = append(got, m.MailID)
	}
	if fmt.Sprint(got) != "[m1 m4 m3]" {
		t.Errorf("recent %v, want [m1 m4 m3]", got)
	}
	if len(recent[0].Recipients) != 3 || len(recent[0].History) != 4 {
		t.Errorf("recent record not whole: %+v", recent[0])
	}
	for _, limit := range []int{0, sqlitefeedback.MaxRecent + 1} {
		if _, err := db.Recent(ctx, limit); err == nil {
			t.Errorf("Recent(%d) accepted", limit)
		}
	}
}

// TestTwoHandlesOnOneFile: two processes (the runtime and the CLI) each
// open the file; their Applies to one mail serialise on SQLite's write
// lock and none is lost.
func TestTwoHandlesOnOneFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feedback.db")
	stores := []delivery.Store{open(t, path).Deliveries(), open(t, path).Deliveries()}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 5 {
				e := delivery.Event{ID: fmt.Sprintf("w%d-%d", w, i), Type: workflow.EventDelayed, Recipient: "a@example.com", Time: t0.Add(time.Duration(w*10+i) * time.Millisecond)}
				if _, _, err := stores[w%2].Apply(context.Background(), delivery.ApplyParams{MailID: "m", Events: []delivery.Event{e}, Now: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	m, ok, err := stores[0].Get(context.Background(), "m", t0)
	if err != nil || !ok || len(m.History) != 20 || m.Version != 20 {
		t.Errorf("after 20 applies through two handles: ok=%v err=%v history %d version %d", ok, err, len(m.History), m.Version)
	}
}

func TestDeadLetterIndexConformance(t *testing.T) {
	t.Parallel()
	deliverytest.RunDeadLetterIndex(t, func(t *testing.T) deliverytest.IndexedStore {
		db := newDB(t)
		return struct {
			delivery.Store
			delivery.DeadLetterIndex
		}{db.Deliveries(), db.DeadLetters()}
	})
}

// TestOpensAFileWithoutTheDeadLetterIndex opens a file made before the
// index columns: its records stay readable and mails dead-lettered from
// then on are indexed.
func TestOpensAFileWithoutTheDeadLetterIndex(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "feedback.db")
	old, err := sqlitedb.Open(path, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE deliveries (mail_id TEXT PRIMARY KEY, version INTEGER NOT NULL,
		ses_message_id TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT '', state_at INTEGER NOT NULL DEFAULT 0,
		updated_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, recipients TEXT NOT NULL, history TEXT NOT NULL) WITHOUT ROWID;
		INSERT INTO deliveries VALUES ('old-1', 1, '', 'sent', 1000, 1000, ?, '[]', '[]')`, t0.Add(time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	old.Close()
	db := open(t, path)
	ctx := context.Background()
	if m, ok, err := db.Deliveries().Get(ctx, "old-1", t0); err != nil || !ok || m.State != workflow.EventSent || m.DeadLetter != nil {
		t.Fatalf("old record: ok=%v err=%v %+v", ok, err, m)
	}
	apply(t, db.Deliveries(), "new-1", t0, delivery.Event{ID: "dl", Type: workflow.EventDeadLettered, Time: t0,
		Reason: &workflow.EventReason{Error: string(workflow.Rejected)}, Queued: &delivery.QueuedRecord{MessageID: "m-1"}})
	mails, next, err := db.DeadLetters().DeadLettered(ctx, delivery.DeadLetterPageParams{Limit: 10, Now: t0})
	if err != nil || next != "" || len(mails) != 1 || mails[0].MailID != "new-1" || mails[0].DeadLetter.MessageID != "m-1" {
		t.Fatalf("index after the migration: %+v next %q err %v", mails, next, err)
	}
	// Opening again changes nothing.
	open(t, path).Close()
}
