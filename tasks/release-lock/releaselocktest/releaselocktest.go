// Package releaselocktest holds the release-lock handler's scenarios, run
// by the handler's own tests over the in-memory lock table and by
// test/awstasks over the DynamoDB one: one set of assertions, two tables.
package releaselocktest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/mailflow/mailflow/lock"
	releaselock "github.com/mailflow/mailflow/tasks/release-lock"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

// Run runs the scenarios on the lock table made by newLocks, whose faults
// fail the table's next calls.
func Run(t *testing.T, newLocks func(t *testing.T) (lock.Table, testkit.Faults)) {
	ctx := context.Background()
	locks, proxy := newLocks(t)
	clock := tasktest.NewClock()
	h, err := releaselock.New(releaselock.Deps{Locks: locks, Clock: clock, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	acquire := func(id, owner string) {
		now := clock.Now()
		if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: id, Owner: owner, ContentHash: "h", Now: now, LeaseUntil: now.Add(6 * time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	rel := func(body, owner string) releaselock.Out {
		t.Helper()
		out, err := h.Handle(ctx, releaselock.In{MessageID: "msg", Body: body, Owner: owner})
		if err != nil {
			t.Fatalf("release: %v", err)
		}
		return out
	}

	acquire("m-1", "exec-1/msg")
	body := tasktest.Body(t, "m-1", nil)
	if out := rel(body, "exec-2/msg"); out != (releaselock.Out{Reason: releaselock.ReasonOtherOwner}) {
		t.Errorf("non-owner: %+v", out)
	}
	if _, ok, _ := locks.Get(ctx, "m-1"); !ok {
		t.Fatal("a non-owner's release removed the lock")
	}
	if out := rel(body, "exec-1/msg"); out != (releaselock.Out{Released: true, Reason: releaselock.ReasonReleased}) {
		t.Errorf("owner: %+v", out)
	}
	if out := rel(body, "exec-1/msg"); out != (releaselock.Out{Reason: releaselock.ReasonNotFound}) {
		t.Errorf("second release: %+v", out)
	}

	acquire("m-2", "exec-1/msg")
	now := clock.Now()
	if _, err := locks.MarkSent(ctx, lock.MarkSentParams{MailID: "m-2", Owner: "exec-1/msg", SESMessageID: "ses", Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if out := rel(tasktest.Body(t, "m-2", nil), "exec-1/msg"); out != (releaselock.Out{Reason: releaselock.ReasonAlreadySent}) {
		t.Errorf("sent: %+v", out)
	}

	// A send attempt without a recorded answer keeps the lock: releasing
	// it would let the redelivery send the mail a second time.
	acquire("m-4", "exec-1/msg")
	if _, err := locks.StartAttempt(ctx, lock.AttemptParams{MailID: "m-4", Owner: "exec-1/msg", Now: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if out := rel(tasktest.Body(t, "m-4", nil), "exec-1/msg"); out != (releaselock.Out{Reason: releaselock.ReasonOutcomeUnknown}) {
		t.Errorf("outcome-unknown: %+v", out)
	}
	if rec, ok, _ := locks.Get(ctx, "m-4"); !ok || !rec.OutcomeUnknown() {
		t.Fatalf("the outcome-unknown record was not kept: %+v (found %v)", rec, ok)
	}

	// A body that breaks the contract but names a mailId still releases.
	acquire("m-3", "exec-1/msg")
	if out := rel(`{"mailId":"m-3","version":7,"unknown":true}`, "exec-1/msg"); !out.Released {
		t.Errorf("invalid body with a mailId: %+v", out)
	}

	hits := proxy.Hits()
	for _, b := range []string{"{{", "", "null", `{"mailId":42}`, `{"mailId":"bad id with spaces"}`, "\xff\xfe"} {
		if out := rel(b, "exec-1/msg"); out != (releaselock.Out{Reason: releaselock.ReasonNoMailID}) {
			t.Errorf("body %q: %+v", b, out)
		}
	}
	if out := rel(body, ""); out != (releaselock.Out{Reason: releaselock.ReasonNoOwner}) {
		t.Errorf("no owner: %+v", out)
	}
	if proxy.Hits() != hits {
		t.Error("nothing to release, yet the table was called")
	}

	proxy.Arm(testkit.Fault{Status: 500, Body: `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"down"}`})
	if _, err := h.Handle(ctx, releaselock.In{Body: body, Owner: "exec-1/msg"}); workflow.NameOf(err) != workflow.Transient {
		t.Fatalf("table down: %v, want %s", err, workflow.Transient)
	}
}
