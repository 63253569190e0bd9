// Package acquirelocktest holds the acquire-lock handler's scenarios, run
// by the handler's own tests over in-memory adapters and by test/awstasks
// over the DynamoDB adapter and its emulator: one set of assertions, two
// lock tables. Each run is handed its suppression lists too.
package acquirelocktest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/suppression"
	acquirelock "github.com/mailflow/mailflow/tasks/acquire-lock"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

// Config is the handler configuration the scenarios run with.
func Config() acquirelock.Config {
	return acquirelock.Config{Limits: tasktest.Limits, Lease: 6 * time.Minute, Retention: 24 * time.Hour}
}

// hold takes the lock for i's owner as the Send task's attempt does before
// it calls SES (AcquireLock itself only reads the lock), with the content
// hash of i's body; with attempt, the attempt stays recorded.
func hold(t *testing.T, locks lock.Table, clk clock.Clock, i acquirelock.In, attempt bool) lock.Record {
	t.Helper()
	m, err := workflow.Parse([]byte(i.Body), tasktest.Limits)
	if err != nil {
		t.Fatal(err)
	}
	now, cfg := clk.Now(), Config()
	rec, err := locks.StartAttempt(context.Background(), lock.AttemptParams{MailID: m.MailID, Owner: i.Owner, Now: now,
		ContentHash: taskkit.ContentHash(&m), LeaseUntil: now.Add(cfg.Lease), ExpiresAt: now.Add(cfg.Lease + cfg.Retention)})
	if err != nil {
		t.Fatal(err)
	}
	if !attempt {
		if rec, err = locks.ClearAttempt(context.Background(), lock.ClearAttemptParams{MailID: m.MailID, Owner: i.Owner, AttemptedAt: rec.AttemptedAt}); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

// Run runs the scenarios on lock tables made by newLocks, whose faults
// fail the table's next calls, and empty suppression lists made by
// newSuppressions.
func Run(t *testing.T, newLocks func(t *testing.T) (lock.Table, testkit.Faults), newSuppressions func(t *testing.T) suppression.List) {
	ctx := context.Background()

	setupWith := func(t *testing.T) (*acquirelock.Handler, lock.Table, testkit.Faults, *clock.Skipping, *flakyList) {
		locks, proxy := newLocks(t)
		clock := tasktest.NewClock()
		list := &flakyList{list: newSuppressions(t)}
		h, err := acquirelock.New(Config(), acquirelock.Deps{Locks: locks, Suppressions: list, Clock: clock, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return h, locks, proxy, clock, list
	}
	setup := func(t *testing.T) (*acquirelock.Handler, lock.Table, testkit.Faults, *clock.Skipping) {
		h, locks, proxy, clock, _ := setupWith(t)
		return h, locks, proxy, clock
	}
	in := func(t *testing.T, owner string, change func(map[string]any)) acquirelock.In {
		return acquirelock.In{MessageID: "msg-1", Owner: owner, Body: tasktest.Body(t, "order-1/receipt", change)}
	}

	t.Run("AcquiredThenBusyThenSent", func(t *testing.T) {
		h, locks, proxy, clock := setup(t)
		before := proxy.Hits()
		out, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil))
		if err != nil || out != (acquirelock.Out{Outcome: acquirelock.Acquired, MailID: "order-1/receipt", Owner: "exec-1/msg-1"}) {
			t.Fatalf("first acquire = %+v, %v", out, err)
		}
		// The task reads the lock and writes nothing: the Send task's
		// attempt takes it.
		requests := proxy.Hits() - before
		if rec, found, _ := locks.Get(ctx, "order-1/receipt"); found || requests != 1 {
			t.Fatalf("after the task: record %+v (found %v), %d lock-table requests; want none written and one read", rec, found, requests)
		}
		// A retry of the same attempt may go ahead again.
		if out, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); err != nil || out.Outcome != acquirelock.Acquired {
			t.Fatalf("same owner again = %+v, %v", out, err)
		}
		// Another execution while the first one's lease runs: LockBusy;
		// the holder itself may go ahead.
		hold(t, locks, clock, in(t, "exec-1/msg-1", nil), false)
		clock.Advance(5 * time.Minute)
		_, err = h.Handle(ctx, in(t, "exec-2/msg-1", nil))
		if workflow.NameOf(err) != workflow.LockBusy {
			t.Fatalf("second owner = %v, want %s", err, workflow.LockBusy)
		}
		if out, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); err != nil || out.Outcome != acquirelock.Acquired {
			t.Fatalf("the holder again = %+v, %v", out, err)
		}
		now := clock.Now()
		if _, err := locks.MarkSent(ctx, lock.MarkSentParams{MailID: "order-1/receipt", Owner: "exec-1/msg-1", SESMessageID: "ses-1", Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		out, err = h.Handle(ctx, in(t, "exec-3/msg-1", nil))
		if err != nil || out.Outcome != acquirelock.AlreadySent || out.Owner != "exec-3/msg-1" {
			t.Fatalf("after sent = %+v, %v", out, err)
		}
	})

	// The first read may lag (lock.Table.Peek); a refusal is given only
	// after a consistent read agrees.
	t.Run("StaleRefusalIsReadAgain", func(t *testing.T) {
		locks, proxy := newLocks(t)
		clk := tasktest.NewClock()
		busy := lock.Record{MailID: "order-1/receipt", Status: lock.Sending, Owner: "exec-0/msg-1", ContentHash: "sha256:other",
			LeaseUntil: clk.Now().Add(time.Minute), ExpiresAt: clk.Now().Add(time.Hour)}
		stale := &lagging{Table: locks, stale: &busy}
		h, err := acquirelock.New(Config(), acquirelock.Deps{Locks: stale, Clock: clk, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		before := proxy.Hits()
		out, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil))
		if err != nil || out.Outcome != acquirelock.Acquired {
			t.Fatalf("a stale record of other content = %+v, %v; want acquired after the consistent read", out, err)
		}
		if n := proxy.Hits() - before; n != 1 || stale.peeks != 1 {
			t.Fatalf("%d lock-table requests and %d peeks; want the lagging peek and one consistent read", n, stale.peeks)
		}
		// A refusal the consistent read confirms is given.
		hold(t, locks, clk, in(t, "exec-0/msg-1", nil), false)
		stale.stale = nil
		if _, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); workflow.NameOf(err) != workflow.LockBusy {
			t.Fatalf("a live lease = %v, want %s", err, workflow.LockBusy)
		}
	})

	t.Run("ExpiredLeaseGoesAhead", func(t *testing.T) {
		h, locks, _, clock := setup(t)
		hold(t, locks, clock, in(t, "crashed", nil), false)
		clock.Advance(6 * time.Minute)
		out, err := h.Handle(ctx, in(t, "exec-2/msg-1", nil))
		if err != nil || out.Outcome != acquirelock.Acquired {
			t.Fatalf("after the lease ran out = %+v, %v", out, err)
		}
	})

	// A send that started and was never answered: while its lease runs
	// the answer may still come (busy); after it, a redelivery, a
	// producer's resend or a replay learns the outcome is unknown, and
	// nothing takes the lock over.
	t.Run("UnansweredSendIsOutcomeUnknown", func(t *testing.T) {
		h, locks, _, clock := setup(t)
		attempt := hold(t, locks, clock, in(t, "exec-1/msg-1", nil), true)
		if _, err := h.Handle(ctx, in(t, "exec-2/msg-1", nil)); workflow.NameOf(err) != workflow.LockBusy {
			t.Fatalf("during the lease = %v, want %s", err, workflow.LockBusy)
		}
		clock.Advance(6 * time.Minute)
		for _, owner := range []string{"exec-2/msg-1", "exec-1/msg-1"} {
			_, err := h.Handle(ctx, in(t, owner, nil))
			if workflow.NameOf(err) != workflow.OutcomeUnknown {
				t.Fatalf("%s after the lease = %v, want %s", owner, err, workflow.OutcomeUnknown)
			}
			if when := attempt.AttemptedAt.UTC().Format(time.RFC3339Nano); !strings.Contains(err.Error(), when) || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("the error %q names neither the attempt's time %s nor the way to send again", err, when)
			}
		}
		if rec, _, _ := locks.Get(ctx, "order-1/receipt"); rec.Owner != "exec-1/msg-1" || !rec.OutcomeUnknown() {
			t.Fatalf("the record changed: %+v", rec)
		}
	})

	t.Run("SameContentOtherEncoding", func(t *testing.T) {
		h, locks, _, clock := setup(t)
		hold(t, locks, clock, in(t, "exec-1/msg-1", nil), false)
		// Same mail with other whitespace and key order: not a conflict.
		body := `{ "text":"Thank you.", "subject":"Receipt order-1/receipt", "to":["ann@example.org"],
			"from":"Shop <billing@example.com>", "mailId":"order-1/receipt", "version":1 }`
		_, err := h.Handle(ctx, acquirelock.In{MessageID: "m", Owner: "exec-2/m", Body: body})
		if workflow.NameOf(err) != workflow.LockBusy {
			t.Fatalf("re-encoded body = %v, want %s", err, workflow.LockBusy)
		}
	})

	t.Run("OtherContentConflicts", func(t *testing.T) {
		h, locks, _, clock := setup(t)
		hold(t, locks, clock, in(t, "exec-1/msg-1", nil), false)
		clock.Advance(time.Hour) // even after the lease ran out
		_, err := h.Handle(ctx, in(t, "exec-2/msg-1", func(m map[string]any) { m["subject"] = "Another subject" }))
		if workflow.NameOf(err) != workflow.IdempotencyConflict {
			t.Fatalf("other content = %v, want %s", err, workflow.IdempotencyConflict)
		}
	})

	t.Run("InvalidInput", func(t *testing.T) {
		h, _, proxy, _ := setup(t)
		before := proxy.Hits()
		for name, i := range map[string]acquirelock.In{
			"not JSON":            {Owner: "o", Body: "{{"},
			"empty owner":         {Owner: "", Body: tasktest.Body(t, "m", nil)},
			"control in owner":    {Owner: "a\nb", Body: tasktest.Body(t, "m", nil)},
			"CRLF in subject":     {Owner: "o", Body: tasktest.Body(t, "m", func(m map[string]any) { m["subject"] = "hi\r\nBcc: v@example.net" })},
			"CRLF in header name": {Owner: "o", Body: tasktest.Body(t, "m", func(m map[string]any) { m["headers"] = map[string]string{"X-A\r\nBcc": "v"} })},
			"traversal":           {Owner: "o", Body: tasktest.Body(t, "m", func(m map[string]any) { m["attachments"] = []map[string]any{{"key": "attachments/../secret"}} })},
			"other prefix":        {Owner: "o", Body: tasktest.Body(t, "m", func(m map[string]any) { m["attachments"] = []map[string]any{{"key": "private/x"}} })},
			"non-UTF-8":           {Owner: "o", Body: strings.Replace(tasktest.Body(t, "m", nil), "Thank", "Th\xffnk", 1)},
			"sender not allowed":  {Owner: "o", Body: tasktest.Body(t, "m", func(m map[string]any) { m["from"] = "x@evil.example" })},
		} {
			if _, err := h.Handle(ctx, i); workflow.NameOf(err) != workflow.InvalidMessage {
				t.Errorf("%s: %v, want %s", name, err, workflow.InvalidMessage)
			}
		}
		if proxy.Hits() != before {
			t.Error("an invalid message reached the lock table")
		}
	})

	suppressionScenarios(t, setupWith, in)
	eventScenarios(t, newLocks, newSuppressions, in)

	t.Run("TableUnavailable", func(t *testing.T) {
		h, _, proxy, _ := setup(t)
		proxy.Arm(testkit.Fault{Status: 500, Body: `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}`})
		if _, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); workflow.NameOf(err) != workflow.Transient {
			t.Fatalf("500 from DynamoDB = %v, want %s", err, workflow.Transient)
		}
		proxy.Arm(testkit.Fault{Drop: true})
		if _, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); workflow.NameOf(err) != workflow.Transient {
			t.Fatalf("dropped connection = %v, want %s", err, workflow.Transient)
		}
	})
}

// flakyList is a suppression list whose Lookup fails while err is set.
type flakyList struct {
	list suppression.List
	err  error
}

func (l *flakyList) Lookup(ctx context.Context, addresses []string) ([]suppression.Entry, error) {
	if l.err != nil {
		return nil, l.err
	}
	return l.list.Lookup(ctx, addresses)
}

func (l *flakyList) Put(ctx context.Context, e suppression.Entry) error { return l.list.Put(ctx, e) }

func (l *flakyList) Delete(ctx context.Context, address string) (bool, error) {
	return l.list.Delete(ctx, address)
}

func (l *flakyList) List(ctx context.Context, p suppression.ListParams) ([]suppression.Entry, string, error) {
	return l.list.List(ctx, p)
}

var suppressedAt = time.Date(2026, 2, 20, 9, 30, 0, 0, time.UTC)

// bounced is the entry a permanent bounce of an earlier mail leaves.
func bounced(addr string) suppression.Entry {
	return suppression.Entry{Address: addr, Reason: suppression.Bounce, At: suppressedAt,
		MailID: "order-0/receipt", SESMessageID: "ses-0", FeedbackID: "fb-0"}
}

// suppressionScenarios check the suppression list: after the lock was
// read, before anything is sent, a listed recipient fails the whole mail,
// holding no lock.
func suppressionScenarios(t *testing.T,
	setup func(t *testing.T) (*acquirelock.Handler, lock.Table, testkit.Faults, *clock.Skipping, *flakyList),
	in func(t *testing.T, owner string, change func(map[string]any)) acquirelock.In) {
	ctx := context.Background()
	const mailID = "order-1/receipt"
	put := func(t *testing.T, l suppression.List, e suppression.Entry) {
		t.Helper()
		if err := l.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	suppressed := func(t *testing.T, err error, locks lock.Table, says ...string) {
		t.Helper()
		if workflow.NameOf(err) != workflow.Suppressed {
			t.Fatalf("got %v, want %s", err, workflow.Suppressed)
		}
		for _, s := range says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("the error %q does not say %q", err, s)
			}
		}
		if rec, ok, _ := locks.Get(ctx, mailID); ok {
			t.Fatalf("the lock of a suppressed mail was kept: %+v", rec)
		}
	}

	t.Run("SuppressedTo", func(t *testing.T) {
		h, locks, _, _, list := setup(t)
		put(t, list, bounced("ann@example.org"))
		_, err := h.Handle(ctx, in(t, "exec-1/msg-1", func(m map[string]any) { m["cc"] = []string{"bob@example.org"} }))
		suppressed(t, err, locks, "ann@example.org", "BOUNCE", suppressedAt.Format(time.RFC3339), `"order-0/receipt"`, "ses-0")
		if strings.Contains(err.Error(), "bob@example.org") {
			t.Errorf("the error %q names a recipient that is not listed", err)
		}
	})

	t.Run("SuppressedBcc", func(t *testing.T) {
		h, locks, _, _, list := setup(t)
		put(t, list, suppression.Entry{Address: "vic@example.net", Reason: suppression.Complaint, At: suppressedAt, Note: "asked by phone"})
		_, err := h.Handle(ctx, in(t, "exec-1/msg-1", func(m map[string]any) { m["bcc"] = []string{"vic@example.net"} }))
		suppressed(t, err, locks, "vic@example.net", "COMPLAINT", "an operator's entry", "asked by phone")
	})

	t.Run("SuppressedWhateverTheCase", func(t *testing.T) {
		h, locks, _, _, list := setup(t)
		put(t, list, bounced("ann@example.org"))
		_, err := h.Handle(ctx, in(t, "exec-1/msg-1", func(m map[string]any) { m["to"] = []string{"Ann <Ann@Example.ORG>"} }))
		suppressed(t, err, locks, "ann@example.org")
	})

	// A redelivery of a mail that was sent, and whose own bounce listed
	// its recipient since, is still answered already-sent.
	t.Run("AlreadySentWinsOverSuppressed", func(t *testing.T) {
		h, locks, _, clock, list := setup(t)
		hold(t, locks, clock, in(t, "exec-1/msg-1", nil), true)
		now := clock.Now()
		if _, err := locks.MarkSent(ctx, lock.MarkSentParams{MailID: mailID, Owner: "exec-1/msg-1", SESMessageID: "ses-1", Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		e := bounced("ann@example.org")
		e.MailID, e.SESMessageID = mailID, "ses-1"
		put(t, list, e)
		out, err := h.Handle(ctx, in(t, "exec-2/msg-1", nil))
		if err != nil || out.Outcome != acquirelock.AlreadySent {
			t.Fatalf("redelivery of a sent, since bounced mail = %+v, %v; want %s", out, err, acquirelock.AlreadySent)
		}
	})

	t.Run("LookupFailureIsTransient", func(t *testing.T) {
		h, locks, _, _, list := setup(t)
		list.err = errors.New("suppression table unavailable")
		_, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil))
		if workflow.NameOf(err) != workflow.Transient || !strings.Contains(err.Error(), "suppression table unavailable") {
			t.Fatalf("failed lookup = %v, want %s naming the cause", err, workflow.Transient)
		}
		if rec, ok, _ := locks.Get(ctx, mailID); ok {
			t.Fatalf("the lock was kept after a failed lookup: %+v", rec)
		}
		// The state machine's retry, by another attempt, gets the lock.
		list.err = nil
		if out, err := h.Handle(ctx, in(t, "exec-1/msg-1-retry", nil)); err != nil || out.Outcome != acquirelock.Acquired {
			t.Fatalf("retry after the lookup recovered = %+v, %v", out, err)
		}
	})

	t.Run("NothingSuppressedIsAcquired", func(t *testing.T) {
		h, locks, _, _, list := setup(t)
		put(t, list, bounced("someone-else@example.org"))
		out, err := h.Handle(ctx, in(t, "exec-1/msg-1", func(m map[string]any) {
			m["cc"], m["bcc"] = []string{"bob@example.org"}, []string{"ann@example.org"} // ann twice
		}))
		if err != nil || out.Outcome != acquirelock.Acquired {
			t.Fatalf("no listed recipient = %+v, %v", out, err)
		}
		if rec, ok, _ := locks.Get(ctx, mailID); ok {
			t.Fatalf("lock after the task: %+v, want none written", rec)
		}
	})
}

// events is an events queue that keeps what it is sent, or fails.
type events struct {
	mu   sync.Mutex
	sent []workflow.PipelineEvent
	err  error
}

func (e *events) Send(_ context.Context, ev workflow.PipelineEvent) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	e.sent = append(e.sent, ev)
	return nil
}

// eventScenarios: a mail that may go ahead is told to the events queue as
// accepted, once per pass; nothing else is; a queue that fails does
// not fail the mail.
func eventScenarios(t *testing.T, newLocks func(t *testing.T) (lock.Table, testkit.Faults), newSuppressions func(t *testing.T) suppression.List,
	in func(t *testing.T, owner string, change func(map[string]any)) acquirelock.In) {
	ctx := context.Background()
	setup := func(t *testing.T) (*acquirelock.Handler, lock.Table, suppression.List, *events, *clock.Skipping) {
		locks, _ := newLocks(t)
		list := newSuppressions(t)
		q := &events{}
		clk := tasktest.NewClock()
		h, err := acquirelock.New(Config(), acquirelock.Deps{Locks: locks, Suppressions: list, Events: q, Clock: clk, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return h, locks, list, q, clk
	}

	t.Run("AcceptedIsTold", func(t *testing.T) {
		h, locks, _, q, clk := setup(t)
		at := clk.Now()
		if _, err := h.Handle(ctx, in(t, "arn:exec-1/msg-1", nil)); err != nil {
			t.Fatal(err)
		}
		want := workflow.PipelineEvent{Source: workflow.PipelineEventSource, Type: workflow.EventAccepted, MessageID: "msg-1",
			ExecutionID: "arn:exec-1", Time: at.UTC().Format(time.RFC3339Nano), MailID: "order-1/receipt"}
		if len(q.sent) != 1 || q.sent[0] != want {
			t.Fatalf("told %+v, want %+v", q.sent, want)
		}
		if _, err := workflow.ParsePipelineEvent(mustJSON(t, q.sent[0])); err != nil {
			t.Fatalf("the record does not parse: %v", err)
		}
		// Busy on another attempt: nothing more is told.
		hold(t, locks, clk, in(t, "arn:exec-1/msg-1", nil), false)
		if _, err := h.Handle(ctx, in(t, "arn:exec-2/msg-1", nil)); workflow.NameOf(err) != workflow.LockBusy {
			t.Fatalf("second owner: %v", err)
		}
		if len(q.sent) != 1 {
			t.Fatalf("told %d records", len(q.sent))
		}
	})

	t.Run("SuppressedIsNotAccepted", func(t *testing.T) {
		h, _, list, q, _ := setup(t)
		if err := list.Put(ctx, bounced("ann@example.org")); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); workflow.NameOf(err) != workflow.Suppressed {
			t.Fatalf("got %v", err)
		}
		if len(q.sent) != 0 {
			t.Fatalf("told %+v for a suppressed mail", q.sent)
		}
	})

	t.Run("FailingQueueDoesNotFailTheMail", func(t *testing.T) {
		h, _, _, q, _ := setup(t)
		q.err = errors.New("events queue unavailable")
		if out, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); err != nil || out.Outcome != acquirelock.Acquired {
			t.Fatalf("with a failing events queue = %+v, %v", out, err)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lagging is a lock table whose Peek answers stale while set, as an
// eventually consistent read may; everything else is the table's.
type lagging struct {
	lock.Table
	stale *lock.Record
	peeks int
}

func (l *lagging) Peek(ctx context.Context, mailID string) (lock.Record, bool, error) {
	l.peeks++
	if l.stale != nil {
		return *l.stale, true, nil
	}
	return l.Table.Peek(ctx, mailID)
}
