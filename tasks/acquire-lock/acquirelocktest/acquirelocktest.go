// Package acquirelocktest holds the acquire-lock handler's scenarios, run
// by the handler's own tests over in-memory adapters and by test/awstasks
// over the DynamoDB adapter and its emulator: one set of assertions, two
// lock tables.
package acquirelocktest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/lock"
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

// Run runs the scenarios on lock tables made by newLocks, whose faults
// fail the table's next calls.
func Run(t *testing.T, newLocks func(t *testing.T) (lock.Table, testkit.Faults)) {
	ctx := context.Background()

	setup := func(t *testing.T) (*acquirelock.Handler, lock.Table, testkit.Faults, *clock.Skipping) {
		locks, proxy := newLocks(t)
		clock := tasktest.NewClock()
		h, err := acquirelock.New(Config(), acquirelock.Deps{Locks: locks, Clock: clock, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return h, locks, proxy, clock
	}
	in := func(t *testing.T, owner string, change func(map[string]any)) acquirelock.In {
		return acquirelock.In{MessageID: "msg-1", Owner: owner, Body: tasktest.Body(t, "order-1/receipt", change)}
	}

	t.Run("AcquiredThenBusyThenSent", func(t *testing.T) {
		h, locks, _, clock := setup(t)
		out, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil))
		if err != nil || out != (acquirelock.Out{Outcome: acquirelock.Acquired, MailID: "order-1/receipt", Owner: "exec-1/msg-1"}) {
			t.Fatalf("first acquire = %+v, %v", out, err)
		}
		// A retry of the same attempt gets the lock again.
		if out, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); err != nil || out.Outcome != acquirelock.Acquired {
			t.Fatalf("same owner again = %+v, %v", out, err)
		}
		// Another execution while the lease runs: LockBusy.
		clock.Advance(5 * time.Minute)
		_, err = h.Handle(ctx, in(t, "exec-2/msg-1", nil))
		if workflow.NameOf(err) != workflow.LockBusy {
			t.Fatalf("second owner = %v, want %s", err, workflow.LockBusy)
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

	t.Run("ExpiredLeaseIsTakenOver", func(t *testing.T) {
		h, locks, _, clock := setup(t)
		if _, err := h.Handle(ctx, in(t, "crashed", nil)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(6 * time.Minute)
		out, err := h.Handle(ctx, in(t, "exec-2/msg-1", nil))
		if err != nil || out.Outcome != acquirelock.Acquired {
			t.Fatalf("takeover = %+v, %v", out, err)
		}
		rec, _, _ := locks.Get(ctx, "order-1/receipt")
		if rec.Owner != "exec-2/msg-1" {
			t.Fatalf("owner after takeover %q", rec.Owner)
		}
	})

	// A send that started and was never answered: while its lease runs
	// the answer may still come (busy); after it, a redelivery, a
	// producer's resend or a replay learns the outcome is unknown, and
	// nothing takes the lock over.
	t.Run("UnansweredSendIsOutcomeUnknown", func(t *testing.T) {
		h, locks, _, clock := setup(t)
		if _, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); err != nil {
			t.Fatal(err)
		}
		attempt, err := locks.StartAttempt(ctx, lock.AttemptParams{MailID: "order-1/receipt", Owner: "exec-1/msg-1", Now: clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
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
		h, _, _, _ := setup(t)
		if _, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); err != nil {
			t.Fatal(err)
		}
		// Same mail with other whitespace and key order: not a conflict.
		body := `{ "text":"Thank you.", "subject":"Receipt order-1/receipt", "to":["ann@example.org"],
			"from":"Shop <billing@example.com>", "mailId":"order-1/receipt", "version":1 }`
		_, err := h.Handle(ctx, acquirelock.In{MessageID: "m", Owner: "exec-2/m", Body: body})
		if workflow.NameOf(err) != workflow.LockBusy {
			t.Fatalf("re-encoded body = %v, want %s", err, workflow.LockBusy)
		}
	})

	t.Run("OtherContentConflicts", func(t *testing.T) {
		h, _, _, clock := setup(t)
		if _, err := h.Handle(ctx, in(t, "exec-1/msg-1", nil)); err != nil {
			t.Fatal(err)
		}
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
