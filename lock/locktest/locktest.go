// Package locktest is the conformance suite every [lock.Table] adapter must
// pass. An adapter's test calls [Run] with a [Harness] that hands out empty
// tables; the suite drives them with explicit times (no clock is read), so
// lease expiry is tested deterministically.
//
// An adapter's conformance test:
//
//	func TestConformance(t *testing.T) {
//		locktest.Run(t, locktest.Harness{
//			NewTable: func(t *testing.T) lock.Table { return newTableInTempDir(t) },
//			Races:    300, // optional, default 200
//		})
//	}
package locktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/lock"
)

// Harness adapts one backend to the suite.
type Harness struct {
	// NewTable returns an empty table for one test. It registers its own
	// cleanup with t.Cleanup.
	NewTable func(t *testing.T) lock.Table
	// Races is how many two-acquirer races the race test runs (default 200).
	Races int
	// Contenders is how many acquirers take part in each race (default 2).
	Contenders int
}

// Precision is the time resolution adapters must keep (milliseconds).
const Precision = time.Millisecond

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	lease     = 6 * time.Minute
	retention = 7 * 24 * time.Hour
	hashA     = "sha256:aaaa"
	hashB     = "sha256:bbbb"
)

func acquireParams(id, owner, hash string, now time.Time) lock.AcquireParams {
	return lock.AcquireParams{MailID: id, Owner: owner, ContentHash: hash, Now: now,
		LeaseUntil: now.Add(lease), ExpiresAt: now.Add(lease + retention)}
}

func markParams(id, owner, sesID string, now time.Time) lock.MarkSentParams {
	return lock.MarkSentParams{MailID: id, Owner: owner, SESMessageID: sesID, Now: now, ExpiresAt: now.Add(retention)}
}

func sameTime(a, b time.Time) bool { return a.Truncate(Precision).Equal(b.Truncate(Precision)) }

// condition asserts err is a *lock.ConditionError and returns it.
func condition(t *testing.T, err error, what string) *lock.ConditionError {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want a condition failure", what)
	}
	ce := lock.AsCondition(err)
	if ce == nil || !errors.Is(err, lock.ErrCondition) {
		t.Fatalf("%s: error %v (%T) is not a *lock.ConditionError", what, err, err)
	}
	return ce
}

// noErr returns a checker that fails the test on an error and passes the
// record through: noErr(t)(tbl.Acquire(ctx, p)).
func noErr(t *testing.T) func(lock.Record, error) lock.Record {
	return func(r lock.Record, err error) lock.Record {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	if h.Races == 0 {
		h.Races = 200
	}
	if h.Contenders < 2 {
		h.Contenders = 2
	}
	ctx := context.Background()

	t.Run("AcquireFresh", func(t *testing.T) {
		tbl := h.NewTable(t)
		p := acquireParams("order-1/receipt", "exec-1/m-1", hashA, t0)
		rec := noErr(t)(tbl.Acquire(ctx, p))
		if rec.MailID != p.MailID || rec.Status != lock.Sending || rec.Owner != p.Owner || rec.ContentHash != hashA ||
			!sameTime(rec.LeaseUntil, p.LeaseUntil) || !sameTime(rec.ExpiresAt, p.ExpiresAt) || rec.Renewals != 0 {
			t.Fatalf("acquired record %+v does not match %+v", rec, p)
		}
		got, ok, err := tbl.Get(ctx, p.MailID)
		if err != nil || !ok {
			t.Fatalf("Get = %v, %v", ok, err)
		}
		if got.Status != lock.Sending || got.Owner != p.Owner || !sameTime(got.LeaseUntil, p.LeaseUntil) || got.ContentHash != hashA {
			t.Fatalf("stored record %+v", got)
		}
	})

	t.Run("PeekReadsTheRecord", func(t *testing.T) {
		tbl := h.NewTable(t)
		if _, ok, err := tbl.Peek(ctx, "m"); ok || err != nil {
			t.Fatalf("peek of no record: ok=%v err=%v", ok, err)
		}
		want := noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		// The emulators and local stores answer at once; DynamoDB may lag a
		// moment, which the callers allow for.
		got, ok, err := tbl.Peek(ctx, "m")
		if err != nil || !ok || got.Owner != want.Owner || got.ContentHash != want.ContentHash || got.Status != lock.Sending {
			t.Fatalf("peek = %+v, %v, %v; want %+v", got, ok, err, want)
		}
	})

	t.Run("GetMissing", func(t *testing.T) {
		tbl := h.NewTable(t)
		if _, ok, err := tbl.Get(ctx, "nobody"); err != nil || ok {
			t.Fatalf("Get of a missing record = %v, %v", ok, err)
		}
	})

	t.Run("OddMailIDs", func(t *testing.T) {
		tbl := h.NewTable(t)
		for _, id := range []string{"a", "order/1042:receipt@example.com", "../../etc/passwd", "x.y_z-1"} {
			noErr(t)(tbl.Acquire(ctx, acquireParams(id, "o", hashA, t0)))
			if _, ok, err := tbl.Get(ctx, id); err != nil || !ok {
				t.Fatalf("Get(%q) = %v, %v", id, ok, err)
			}
		}
	})

	t.Run("SameOwnerReacquires", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		later := t0.Add(time.Minute)
		rec := noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, later)))
		if !sameTime(rec.LeaseUntil, later.Add(lease)) {
			t.Fatalf("re-acquire kept lease %v, want %v", rec.LeaseUntil, later.Add(lease))
		}
	})

	t.Run("LiveLeaseBlocksOthers", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		// One millisecond before the lease ends, it is still live.
		_, err := tbl.Acquire(ctx, acquireParams("m", "owner-2", hashA, t0.Add(lease-time.Millisecond)))
		ce := condition(t, err, "second acquire during a live lease")
		if ce.Current == nil || ce.Current.Owner != "owner-1" || ce.Current.Status != lock.Sending {
			t.Fatalf("condition error carries %+v, want the holder's record", ce.Current)
		}
		if !ce.Current.LeaseLive(t0.Add(lease - time.Millisecond)) {
			t.Fatal("Current.LeaseLive = false during the lease")
		}
	})

	t.Run("ExpiredLeaseTakeover", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		at := t0.Add(lease) // the lease ends exactly now: expired
		noErr(t)(tbl.Renew(ctx, lock.RenewParams{MailID: "m", Owner: "owner-1", Now: t0, LeaseUntil: t0.Add(lease), ExpiresAt: t0.Add(lease + retention)}))
		rec := noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-2", hashA, at)))
		if rec.Owner != "owner-2" || !sameTime(rec.LeaseUntil, at.Add(lease)) || rec.Renewals != 0 {
			t.Fatalf("takeover record %+v: a new owner starts with no renewals", rec)
		}
		if got, _, _ := tbl.Get(ctx, "m"); got.Renewals != 0 {
			t.Fatalf("stored takeover record %+v", got)
		}
		// The old owner has lost the lease: it can neither mark sent, renew
		// nor release.
		_, err := tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", at.Add(time.Second)))
		if ce := condition(t, err, "mark-sent after lease loss"); ce.Current == nil || ce.Current.Owner != "owner-2" {
			t.Fatalf("mark-sent after lease loss: current %+v", ce.Current)
		}
		_, err = tbl.Renew(ctx, lock.RenewParams{MailID: "m", Owner: "owner-1", Now: at, LeaseUntil: at.Add(lease), ExpiresAt: at.Add(lease + retention)})
		condition(t, err, "renew after lease loss")
		condition(t, tbl.Release(ctx, lock.ReleaseParams{MailID: "m", Owner: "owner-1", Now: at}), "release after lease loss")
		got, ok, err := tbl.Get(ctx, "m")
		if err != nil || !ok || got.Owner != "owner-2" || got.Status != lock.Sending {
			t.Fatalf("after the old owner's attempts: %+v %v %v", got, ok, err)
		}
		// The new owner completes.
		if rec := noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-2", "ses-2", at.Add(time.Second)))); rec.Status != lock.Sent || rec.SESMessageID != "ses-2" {
			t.Fatalf("mark-sent by the new owner: %+v", rec)
		}
	})

	t.Run("MarkSentAfterExpiryWithoutTakeover", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		rec := noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0.Add(2*lease))))
		if rec.Status != lock.Sent || rec.Owner != "owner-1" || !sameTime(rec.SentAt, t0.Add(2*lease)) {
			t.Fatalf("mark-sent %+v", rec)
		}
	})

	t.Run("DifferentContentConflicts", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		for _, at := range []time.Time{t0.Add(time.Second), t0.Add(2 * lease)} {
			_, err := tbl.Acquire(ctx, acquireParams("m", "owner-2", hashB, at))
			if ce := condition(t, err, "acquire with other content"); ce.Current == nil || ce.Current.ContentHash != hashA {
				t.Fatalf("current %+v, want content hash %q", ce.Current, hashA)
			}
		}
		// Even the same owner cannot swap the content under a mailId.
		_, err := tbl.Acquire(ctx, acquireParams("m", "owner-1", hashB, t0.Add(time.Second)))
		condition(t, err, "same owner, other content")
	})

	t.Run("SentBlocksEveryone", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0.Add(time.Second))))
		for _, owner := range []string{"owner-1", "owner-2"} {
			_, err := tbl.Acquire(ctx, acquireParams("m", owner, hashA, t0.Add(3*lease)))
			ce := condition(t, err, "acquire of a sent mail by "+owner)
			if ce.Current == nil || ce.Current.Status != lock.Sent || ce.Current.SESMessageID != "ses-1" {
				t.Fatalf("current %+v, want SENT with ses-1", ce.Current)
			}
		}
	})

	t.Run("MarkSentIsIdempotent", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0.Add(time.Second))))
		rec := noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0.Add(2*time.Second))))
		if rec.SESMessageID != "ses-1" || rec.Status != lock.Sent {
			t.Fatalf("repeated mark-sent: %+v", rec)
		}
		_, err := tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-other", t0.Add(3*time.Second)))
		condition(t, err, "mark-sent with another SES id")
		_, err = tbl.MarkSent(ctx, markParams("m", "owner-2", "ses-1", t0.Add(3*time.Second)))
		condition(t, err, "mark-sent by a non-owner")
		_, err = tbl.MarkSent(ctx, markParams("absent", "owner-1", "ses-1", t0))
		if ce := condition(t, err, "mark-sent without a record"); ce.Current != nil {
			t.Fatalf("current %+v, want nil", ce.Current)
		}
	})

	t.Run("ExpiredRecordCountsAsAbsent", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		sentAt := t0.Add(time.Second)
		noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", sentAt)))
		// Just before the dedup window closes the mail is still sent...
		_, err := tbl.Acquire(ctx, acquireParams("m", "owner-2", hashB, sentAt.Add(retention-time.Millisecond)))
		condition(t, err, "acquire inside the dedup window")
		// ...and from its end the record is gone, whatever the content,
		// even though the backend may still store it.
		rec := noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-2", hashB, sentAt.Add(retention))))
		if rec.Owner != "owner-2" || rec.Status != lock.Sending || rec.SESMessageID != "" || rec.ContentHash != hashB {
			t.Fatalf("acquire after expiry: %+v", rec)
		}
	})

	t.Run("Renew", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		at := t0.Add(4 * time.Minute)
		rec := noErr(t)(tbl.Renew(ctx, lock.RenewParams{MailID: "m", Owner: "owner-1", Now: at, LeaseUntil: at.Add(lease), ExpiresAt: at.Add(lease + retention)}))
		if !sameTime(rec.LeaseUntil, at.Add(lease)) || rec.Renewals != 1 {
			t.Fatalf("renewed lease %v, renewals %d", rec.LeaseUntil, rec.Renewals)
		}
		rec = noErr(t)(tbl.Renew(ctx, lock.RenewParams{MailID: "m", Owner: "owner-1", Now: at, LeaseUntil: at.Add(lease), ExpiresAt: at.Add(lease + retention)}))
		if got, _, _ := tbl.Get(ctx, "m"); rec.Renewals != 2 || got.Renewals != 2 {
			t.Fatalf("after a second renewal: returned %d, stored %d renewals", rec.Renewals, got.Renewals)
		}
		// The renewed lease blocks a takeover the old one would have allowed.
		_, err := tbl.Acquire(ctx, acquireParams("m", "owner-2", hashA, t0.Add(lease)))
		condition(t, err, "takeover of a renewed lease")
		_, err = tbl.Renew(ctx, lock.RenewParams{MailID: "m", Owner: "owner-2", Now: at, LeaseUntil: at.Add(lease), ExpiresAt: at.Add(lease + retention)})
		condition(t, err, "renew by a non-owner")
		_, err = tbl.Renew(ctx, lock.RenewParams{MailID: "absent", Owner: "owner-1", Now: at, LeaseUntil: at.Add(lease), ExpiresAt: at.Add(lease + retention)})
		if ce := condition(t, err, "renew without a record"); ce.Current != nil {
			t.Fatalf("current %+v, want nil", ce.Current)
		}
		if rec := noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", at))); rec.Renewals != 2 {
			t.Fatalf("mark-sent changed the renewals to %d", rec.Renewals)
		}
		_, err = tbl.Renew(ctx, lock.RenewParams{MailID: "m", Owner: "owner-1", Now: at, LeaseUntil: at.Add(lease), ExpiresAt: at.Add(lease + retention)})
		if ce := condition(t, err, "renew of a sent record"); ce.Current == nil || ce.Current.Status != lock.Sent || ce.Current.Renewals != 2 {
			t.Fatalf("current %+v, want SENT after 2 renewals", ce.Current)
		}
	})

	t.Run("Release", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		// A non-owner cannot release, and the record survives.
		err := tbl.Release(ctx, lock.ReleaseParams{MailID: "m", Owner: "owner-2", Now: t0})
		if ce := condition(t, err, "release by a non-owner"); ce.Current == nil || ce.Current.Owner != "owner-1" {
			t.Fatalf("current %+v", ce.Current)
		}
		if _, ok, _ := tbl.Get(ctx, "m"); !ok {
			t.Fatal("a non-owner's release deleted the record")
		}
		if err := tbl.Release(ctx, lock.ReleaseParams{MailID: "m", Owner: "owner-1", Now: t0}); err != nil {
			t.Fatalf("release by the owner: %v", err)
		}
		if _, ok, err := tbl.Get(ctx, "m"); ok || err != nil {
			t.Fatalf("record still there after release: %v %v", ok, err)
		}
		// Releasing again finds nothing.
		err = tbl.Release(ctx, lock.ReleaseParams{MailID: "m", Owner: "owner-1", Now: t0})
		if ce := condition(t, err, "second release"); ce.Current != nil {
			t.Fatalf("current %+v, want nil", ce.Current)
		}
		// After release anyone may acquire, with any content.
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-3", hashB, t0)))
	})

	t.Run("ReleaseOfSentKeepsIt", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0)))
		err := tbl.Release(ctx, lock.ReleaseParams{MailID: "m", Owner: "owner-1", Now: t0})
		if ce := condition(t, err, "release of a sent record"); ce.Current == nil || ce.Current.Status != lock.Sent {
			t.Fatalf("current %+v, want SENT", ce.Current)
		}
		if rec, ok, _ := tbl.Get(ctx, "m"); !ok || rec.Status != lock.Sent {
			t.Fatal("release removed a SENT record")
		}
	})

	t.Run("AttemptMakesOutcomeUnknown", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		at := t0.Add(time.Second)
		rec := noErr(t)(tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "owner-1", Now: at}))
		if !rec.OutcomeUnknown() || !sameTime(rec.AttemptedAt, at) || rec.Owner != "owner-1" || rec.ContentHash != hashA {
			t.Fatalf("after start-attempt: %+v, want outcome-unknown at %v", rec, at)
		}
		if got, _, _ := tbl.Get(ctx, "m"); !got.OutcomeUnknown() || !sameTime(got.AttemptedAt, at) {
			t.Fatalf("stored %+v, want the attempt recorded", got)
		}
		unknown := func(what string, err error) {
			t.Helper()
			if ce := condition(t, err, what); ce.Current == nil || !ce.Current.OutcomeUnknown() || !sameTime(ce.Current.AttemptedAt, at) {
				t.Fatalf("%s: current %+v, want the outcome-unknown record", what, ce.Current)
			}
		}
		// A second attempt, by anyone, is refused: its answer would be unknown too.
		_, err := tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "owner-1", Now: at})
		unknown("a second start-attempt", err)
		_, err = tbl.Renew(ctx, lock.RenewParams{MailID: "m", Owner: "owner-1", Now: at, LeaseUntil: at.Add(lease), ExpiresAt: at.Add(lease + retention)})
		unknown("renew by the owner", err)
		unknown("release by the owner", tbl.Release(ctx, lock.ReleaseParams{MailID: "m", Owner: "owner-1", Now: at}))
		_, err = tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, at))
		unknown("re-acquire by the owner", err)
		_, err = tbl.Acquire(ctx, acquireParams("m", "owner-2", hashA, t0.Add(lease+time.Hour)))
		unknown("takeover after the lease", err)
		// The answer arriving late is still recorded.
		sent := noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0.Add(lease+time.Hour))))
		if sent.Status != lock.Sent || sent.OutcomeUnknown() || sent.SESMessageID != "ses-1" {
			t.Fatalf("mark-sent after an attempt: %+v", sent)
		}
		// After the retention the record counts as absent, as every record does.
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-3", hashA, t0.Add(lease+2*retention))))
	})

	t.Run("ClearAttempt", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		rec := noErr(t)(tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "owner-1", Now: t0.Add(time.Second)}))
		_, err := tbl.ClearAttempt(ctx, lock.ClearAttemptParams{MailID: "m", Owner: "owner-2", AttemptedAt: rec.AttemptedAt})
		condition(t, err, "clear-attempt by another owner")
		_, err = tbl.ClearAttempt(ctx, lock.ClearAttemptParams{MailID: "m", Owner: "owner-1", AttemptedAt: rec.AttemptedAt.Add(time.Second)})
		condition(t, err, "clear-attempt of another attempt")
		cleared := noErr(t)(tbl.ClearAttempt(ctx, lock.ClearAttemptParams{MailID: "m", Owner: "owner-1", AttemptedAt: rec.AttemptedAt}))
		if cleared.OutcomeUnknown() || !cleared.AttemptedAt.IsZero() || cleared.Owner != "owner-1" || cleared.Status != lock.Sending {
			t.Fatalf("after clear-attempt: %+v", cleared)
		}
		// The lease works as before: renewed, attempted again, released.
		noErr(t)(tbl.Renew(ctx, lock.RenewParams{MailID: "m", Owner: "owner-1", Now: t0, LeaseUntil: t0.Add(lease), ExpiresAt: t0.Add(lease + retention)}))
		noErr(t)(tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "owner-1", Now: t0.Add(2 * time.Second)}))
		again := noErr(t)(tbl.ClearAttempt(ctx, lock.ClearAttemptParams{MailID: "m", Owner: "owner-1", AttemptedAt: t0.Add(2 * time.Second)}))
		if again.OutcomeUnknown() {
			t.Fatalf("second clear: %+v", again)
		}
		if err := tbl.Release(ctx, lock.ReleaseParams{MailID: "m", Owner: "owner-1", Now: t0}); err != nil {
			t.Fatalf("release after a cleared attempt: %v", err)
		}
	})

	t.Run("StartAttemptNeedsTheLease", func(t *testing.T) {
		tbl := h.NewTable(t)
		_, err := tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "owner-1", Now: t0})
		if ce := condition(t, err, "start-attempt without a record"); ce.Current != nil {
			t.Fatalf("current %+v, want nil", ce.Current)
		}
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		_, err = tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "owner-2", Now: t0})
		condition(t, err, "start-attempt by a non-owner")
		noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0)))
		_, err = tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "owner-1", Now: t0})
		if ce := condition(t, err, "start-attempt on a SENT record"); ce.Current == nil || ce.Current.Status != lock.Sent {
			t.Fatalf("current %+v, want SENT", ce.Current)
		}
	})

	t.Run("AttemptRenewsTheLease", func(t *testing.T) { attemptRenewsLease(t, h) })
	t.Run("AttemptTakesTheLock", func(t *testing.T) { attemptTakesLock(t, h) })

	t.Run("Forget", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		err := tbl.Forget(ctx, lock.ForgetParams{MailID: "m", AttemptedAt: t0})
		condition(t, err, "forget of a lease without an attempt")
		rec := noErr(t)(tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "owner-1", Now: t0.Add(time.Second)}))
		err = tbl.Forget(ctx, lock.ForgetParams{MailID: "m", AttemptedAt: rec.AttemptedAt.Add(time.Millisecond)})
		condition(t, err, "forget of another attempt")
		if err := tbl.Forget(ctx, lock.ForgetParams{MailID: "m", AttemptedAt: rec.AttemptedAt}); err != nil {
			t.Fatalf("forget: %v", err)
		}
		if _, ok, err := tbl.Get(ctx, "m"); ok || err != nil {
			t.Fatalf("record still there after forget: %v %v", ok, err)
		}
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-2", hashA, t0)))
		noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-2", "ses-2", t0)))
		err = tbl.Forget(ctx, lock.ForgetParams{MailID: "m", AttemptedAt: t0})
		if ce := condition(t, err, "forget of a SENT record"); ce.Current == nil || ce.Current.Status != lock.Sent {
			t.Fatalf("current %+v, want SENT", ce.Current)
		}
	})

	t.Run("ResolveSent", func(t *testing.T) { resolveSent(t, h) })

	t.Run("InvalidParams", func(t *testing.T) {
		tbl := h.NewTable(t)
		bad := []lock.AcquireParams{
			{Owner: "o", ContentHash: hashA, Now: t0, LeaseUntil: t0.Add(lease), ExpiresAt: t0.Add(2 * lease)},
			{MailID: "m", ContentHash: hashA, Now: t0, LeaseUntil: t0.Add(lease), ExpiresAt: t0.Add(2 * lease)},
			{MailID: "m", Owner: "o", Now: t0, LeaseUntil: t0.Add(lease), ExpiresAt: t0.Add(2 * lease)},
			{MailID: "m", Owner: "o", ContentHash: hashA, Now: t0, LeaseUntil: t0, ExpiresAt: t0.Add(2 * lease)},
		}
		for i, p := range bad {
			if _, err := tbl.Acquire(ctx, p); err == nil || errors.Is(err, lock.ErrCondition) {
				t.Errorf("bad acquire params %d: error %v, want a validation error", i, err)
			}
		}
		if _, err := tbl.MarkSent(ctx, lock.MarkSentParams{MailID: "m", Owner: "o", Now: t0, ExpiresAt: t0.Add(time.Hour)}); err == nil || errors.Is(err, lock.ErrCondition) {
			t.Errorf("mark-sent without an SES id: %v", err)
		}
		if _, err := tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "o"}); err == nil || errors.Is(err, lock.ErrCondition) {
			t.Errorf("start-attempt without a time: %v", err)
		}
		if _, err := tbl.ClearAttempt(ctx, lock.ClearAttemptParams{MailID: "m", Owner: "o"}); err == nil || errors.Is(err, lock.ErrCondition) {
			t.Errorf("clear-attempt without the attempt's time: %v", err)
		}
		for i, p := range []lock.ResolveParams{
			{SESMessageID: "ses-1", Now: t0, ExpiresAt: t0.Add(retention)},
			{MailID: "m", Now: t0, ExpiresAt: t0.Add(retention)},
			{MailID: "m", SESMessageID: "ses-1", ExpiresAt: t0.Add(retention)},
			{MailID: "m", SESMessageID: "ses-1", Now: t0, ExpiresAt: t0},
		} {
			if _, err := tbl.ResolveSent(ctx, p); err == nil || errors.Is(err, lock.ErrCondition) {
				t.Errorf("bad resolve-sent params %d: error %v, want a validation error", i, err)
			}
		}
		if err := tbl.Forget(ctx, lock.ForgetParams{AttemptedAt: t0}); err == nil || errors.Is(err, lock.ErrCondition) {
			t.Errorf("forget without a mail id: %v", err)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		tbl := h.NewTable(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := tbl.Acquire(cctx, acquireParams("m", "o", hashA, t0)); err == nil || errors.Is(err, lock.ErrCondition) {
			t.Fatalf("acquire with a canceled context: %v", err)
		}
	})

	t.Run("RacingAcquirers", func(t *testing.T) {
		tbl := h.NewTable(t)
		for round := range h.Races {
			id := fmt.Sprintf("race-%d", round)
			// Every third round races for an expired lease rather than a
			// fresh record.
			now := t0
			if round%3 == 2 {
				noErr(t)(tbl.Acquire(ctx, acquireParams(id, "crashed", hashA, t0)))
				now = t0.Add(lease + time.Second)
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make([]error, h.Contenders)
			for c := range h.Contenders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[c] = tbl.Acquire(ctx, acquireParams(id, fmt.Sprintf("owner-%d", c), hashA, now))
				}()
			}
			close(start)
			wg.Wait()
			winners := 0
			winner := ""
			for c, err := range errs {
				switch {
				case err == nil:
					winners++
					winner = fmt.Sprintf("owner-%d", c)
				case lock.AsCondition(err) == nil:
					t.Fatalf("round %d: contender %d: unexpected error %v", round, c, err)
				}
			}
			if winners != 1 {
				t.Fatalf("round %d: %d winners, want exactly 1 (%v)", round, winners, errs)
			}
			for c, err := range errs {
				if ce := lock.AsCondition(err); ce != nil && (ce.Current == nil || ce.Current.Owner != winner) {
					t.Fatalf("round %d: loser %d saw %+v, want the winner %s", round, c, ce.Current, winner)
				}
			}
			if rec, ok, err := tbl.Get(ctx, id); err != nil || !ok || rec.Owner != winner {
				t.Fatalf("round %d: stored owner %q, winner %q (%v)", round, rec.Owner, winner, err)
			}
		}
	})
}

func resolveParams(id, sesID string, now time.Time) lock.ResolveParams {
	return lock.ResolveParams{MailID: id, SESMessageID: sesID, Now: now, ExpiresAt: now.Add(retention)}
}

// resolveSent checks what an SES Send or Delivery event may record: SENT
// for a send attempt with no recorded answer, whoever owns it, and nothing
// for any other record.
func resolveSent(t *testing.T, h Harness) {
	ctx := context.Background()
	// attempted returns a table holding "m" for owner-1 with an attempt
	// started at t0+1s.
	attempted := func(t *testing.T) lock.Table {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		noErr(t)(tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "owner-1", Now: t0.Add(time.Second)}))
		return tbl
	}
	resolvedAs := func(t *testing.T, what string, rec lock.Record, sesID string, sentAt time.Time) {
		t.Helper()
		if rec.Status != lock.Sent || rec.SESMessageID != sesID || rec.Owner != "owner-1" || rec.ContentHash != hashA ||
			!sameTime(rec.SentAt, sentAt) || !sameTime(rec.AttemptedAt, t0.Add(time.Second)) || rec.OutcomeUnknown() {
			t.Fatalf("%s: %+v, want SENT with %s at %v, owner-1's record otherwise", what, rec, sesID, sentAt)
		}
	}

	for _, c := range []struct {
		name string
		at   time.Time
	}{
		{"LeaseLive", t0.Add(2 * time.Second)},     // the owner may still be writing SES's answer
		{"LeaseRunOut", t0.Add(lease + time.Hour)}, // outcome-unknown: nobody will write it
		{"JustBeforeExpiry", t0.Add(lease + retention - time.Millisecond)},
	} {
		t.Run("Attempted"+c.name, func(t *testing.T) {
			tbl := attempted(t)
			rec := noErr(t)(tbl.ResolveSent(ctx, resolveParams("m", "ses-1", c.at)))
			resolvedAs(t, "resolve-sent", rec, "ses-1", c.at)
			got, ok, err := tbl.Get(ctx, "m")
			if err != nil || !ok {
				t.Fatalf("Get = %v, %v", ok, err)
			}
			resolvedAs(t, "stored", got, "ses-1", c.at)
			if got.ExpiresAt.Before(c.at.Add(retention).Truncate(Precision)) {
				t.Fatalf("stored ExpiresAt %v, want the dedup window from %v", got.ExpiresAt, c.at)
			}
		})
	}

	t.Run("ThenOwnersMarkSent", func(t *testing.T) {
		tbl := attempted(t)
		resolved := t0.Add(2 * time.Second)
		noErr(t)(tbl.ResolveSent(ctx, resolveParams("m", "ses-1", resolved)))
		// The owner's answer arrives after the event: the documented no-op.
		rec := noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0.Add(3*time.Second))))
		resolvedAs(t, "mark-sent after resolve-sent", rec, "ses-1", resolved)
		_, err := tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-other", t0.Add(3*time.Second)))
		condition(t, err, "mark-sent with another SES id after resolve-sent")
	})

	t.Run("ThenRedeliveryFindsSent", func(t *testing.T) {
		tbl := attempted(t)
		noErr(t)(tbl.ResolveSent(ctx, resolveParams("m", "ses-1", t0.Add(lease+time.Minute))))
		for _, owner := range []string{"owner-1", "owner-2"} {
			_, err := tbl.Acquire(ctx, acquireParams("m", owner, hashA, t0.Add(lease+time.Hour)))
			if ce := condition(t, err, "acquire by a redelivery after resolve-sent"); ce.Current == nil ||
				ce.Current.Status != lock.Sent || ce.Current.SESMessageID != "ses-1" {
				t.Fatalf("current %+v, want SENT with ses-1", ce.Current)
			}
		}
	})

	t.Run("SentWithSameIDIsNoOp", func(t *testing.T) {
		tbl := attempted(t)
		sentAt := t0.Add(2 * time.Second)
		marked := noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", sentAt)))
		for _, at := range []time.Time{t0.Add(3 * time.Second), t0.Add(time.Hour)} {
			rec := noErr(t)(tbl.ResolveSent(ctx, resolveParams("m", "ses-1", at)))
			resolvedAs(t, "resolve-sent of a SENT record", rec, "ses-1", sentAt)
			got, _, _ := tbl.Get(ctx, "m")
			if !got.ExpiresAt.Equal(marked.ExpiresAt) || !sameTime(got.SentAt, sentAt) {
				t.Fatalf("a repeated event changed the record: %+v, was %+v", got, marked)
			}
		}
	})

	t.Run("SentWithAnotherIDConflicts", func(t *testing.T) {
		tbl := attempted(t)
		noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0.Add(2*time.Second))))
		_, err := tbl.ResolveSent(ctx, resolveParams("m", "ses-2", t0.Add(3*time.Second)))
		if ce := condition(t, err, "resolve-sent with another SES id"); ce.Op != "resolve-sent" || ce.Current == nil || ce.Current.SESMessageID != "ses-1" {
			t.Fatalf("condition %+v (current %+v), want op resolve-sent and the record SENT with ses-1", ce, ce.Current)
		}
	})

	t.Run("NoRecord", func(t *testing.T) {
		tbl := h.NewTable(t)
		_, err := tbl.ResolveSent(ctx, resolveParams("m", "ses-1", t0))
		if ce := condition(t, err, "resolve-sent without a record"); ce.Op != "resolve-sent" || ce.Current != nil {
			t.Fatalf("condition %+v (current %+v), want op resolve-sent and no record", ce, ce.Current)
		}
		if _, ok, _ := tbl.Get(ctx, "m"); ok {
			t.Fatal("resolve-sent created a record")
		}
	})

	t.Run("SendingWithoutAttempt", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		for _, at := range []time.Time{t0.Add(time.Second), t0.Add(lease + time.Hour)} {
			_, err := tbl.ResolveSent(ctx, resolveParams("m", "ses-1", at))
			if ce := condition(t, err, "resolve-sent of a lease without an attempt"); ce.Current == nil || ce.Current.Status != lock.Sending {
				t.Fatalf("current %+v, want the SENDING record", ce.Current)
			}
		}
		if got, _, _ := tbl.Get(ctx, "m"); got.Status != lock.Sending || got.SESMessageID != "" {
			t.Fatalf("stored %+v, want it unchanged", got)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		tbl := attempted(t)
		expired := t0.Add(lease + retention)
		_, err := tbl.ResolveSent(ctx, resolveParams("m", "ses-1", expired))
		condition(t, err, "resolve-sent of an expired outcome-unknown record")
		if got, _, _ := tbl.Get(ctx, "m"); got.Status != lock.Sending {
			t.Fatalf("stored %+v, want it unchanged", got)
		}
		// A SENT record past its window counts as absent too.
		sent := h.NewTable(t)
		noErr(t)(sent.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		noErr(t)(sent.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0)))
		_, err = sent.ResolveSent(ctx, resolveParams("m", "ses-1", t0.Add(retention)))
		condition(t, err, "resolve-sent of an expired SENT record")
	})
}

func attemptParams(id, owner string, now time.Time) lock.AttemptParams {
	return lock.AttemptParams{MailID: id, Owner: owner, Now: now, LeaseUntil: now.Add(lease), ExpiresAt: now.Add(lease + retention)}
}

// attemptRenewsLease covers StartAttempt given a lease: one write that marks
// the attempt, renews the lease and counts a renewal, under the same
// conditions as a plain StartAttempt.
func attemptRenewsLease(t *testing.T, h Harness) {
	ctx := context.Background()
	t.Run("OwnerWhileSending", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		at := t0.Add(5 * time.Minute)
		rec := noErr(t)(tbl.StartAttempt(ctx, attemptParams("m", "owner-1", at)))
		got, ok, err := tbl.Get(ctx, "m")
		if err != nil || !ok {
			t.Fatalf("get: ok=%v err=%v", ok, err)
		}
		for _, r := range []lock.Record{rec, got} {
			if !r.OutcomeUnknown() || !sameTime(r.AttemptedAt, at) || !sameTime(r.LeaseUntil, at.Add(lease)) || r.Renewals != 1 ||
				r.ContentHash != hashA || r.Owner != "owner-1" {
				t.Fatalf("record %+v, want an attempt at %v, lease until %v, 1 renewal", r, at, at.Add(lease))
			}
			if r.ExpiresAt.Before(at.Add(lease + retention).Truncate(time.Second)) {
				t.Fatalf("expiry %v not moved to %v", r.ExpiresAt, at.Add(lease+retention))
			}
		}
		// The renewed lease holds past the acquired one: after the attempt
		// is cleared (a refused send), nobody takes the record over at the
		// old lease's end.
		noErr(t)(tbl.ClearAttempt(ctx, lock.ClearAttemptParams{MailID: "m", Owner: "owner-1", AttemptedAt: rec.AttemptedAt}))
		_, err = tbl.Acquire(ctx, acquireParams("m", "owner-2", hashA, t0.Add(lease)))
		condition(t, err, "takeover before the renewed lease ends")
		// A second attempt counts a second renewal; MarkSent keeps the count.
		rec = noErr(t)(tbl.StartAttempt(ctx, attemptParams("m", "owner-1", at.Add(time.Second))))
		if rec.Renewals != 2 {
			t.Fatalf("renewals after the second attempt: %d", rec.Renewals)
		}
		if rec := noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", at.Add(2*time.Second)))); rec.Renewals != 2 {
			t.Fatalf("mark-sent changed the renewals to %d", rec.Renewals)
		}
	})
	t.Run("WithoutLeaseKeepsIt", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		rec := noErr(t)(tbl.StartAttempt(ctx, lock.AttemptParams{MailID: "m", Owner: "owner-1", Now: t0.Add(time.Minute)}))
		if !sameTime(rec.LeaseUntil, t0.Add(lease)) || rec.Renewals != 0 {
			t.Fatalf("a plain attempt changed the lease to %v, renewals to %d", rec.LeaseUntil, rec.Renewals)
		}
	})
	t.Run("AlreadySent", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0)))
		_, err := tbl.StartAttempt(ctx, attemptParams("m", "owner-1", t0.Add(time.Second)))
		ce := condition(t, err, "attempt on a SENT record")
		if ce.Current == nil || ce.Current.Status != lock.Sent || ce.Current.SESMessageID != "ses-1" || ce.Current.Renewals != 0 {
			t.Fatalf("current %+v, want SENT with ses-1 and no renewal", ce.Current)
		}
	})
	t.Run("OutcomeUnknownRefused", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		first := noErr(t)(tbl.StartAttempt(ctx, attemptParams("m", "owner-1", t0.Add(time.Second))))
		_, err := tbl.StartAttempt(ctx, attemptParams("m", "owner-1", t0.Add(2*time.Second)))
		ce := condition(t, err, "second attempt while outcome-unknown")
		if ce.Current == nil || !ce.Current.OutcomeUnknown() || !sameTime(ce.Current.AttemptedAt, first.AttemptedAt) ||
			ce.Current.Renewals != 1 || !sameTime(ce.Current.LeaseUntil, first.LeaseUntil) {
			t.Fatalf("current %+v, want the first attempt's record unchanged", ce.Current)
		}
	})
	t.Run("LeaseLostToAnotherOwner", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-2", hashA, t0.Add(lease))))
		_, err := tbl.StartAttempt(ctx, attemptParams("m", "owner-1", t0.Add(lease+time.Second)))
		ce := condition(t, err, "attempt by the owner who lost the lease")
		if ce.Current == nil || ce.Current.Owner != "owner-2" || !ce.Current.AttemptedAt.IsZero() || ce.Current.Renewals != 0 {
			t.Fatalf("current %+v, want owner-2's record untouched", ce.Current)
		}
	})
	t.Run("NoRecord", func(t *testing.T) {
		tbl := h.NewTable(t)
		_, err := tbl.StartAttempt(ctx, attemptParams("m", "owner-1", t0))
		if ce := condition(t, err, "attempt without a record"); ce.Current != nil {
			t.Fatalf("current %+v, want nil", ce.Current)
		}
	})
	t.Run("InvalidLease", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		for name, p := range map[string]lock.AttemptParams{
			"lease without expiry": {MailID: "m", Owner: "owner-1", Now: t0, LeaseUntil: t0.Add(lease)},
			"expiry without lease": {MailID: "m", Owner: "owner-1", Now: t0, ExpiresAt: t0.Add(retention)},
			"lease not after now":  {MailID: "m", Owner: "owner-1", Now: t0, LeaseUntil: t0, ExpiresAt: t0.Add(retention)},
			"expiry before lease":  {MailID: "m", Owner: "owner-1", Now: t0, LeaseUntil: t0.Add(lease), ExpiresAt: t0.Add(time.Minute)},
		} {
			if _, err := tbl.StartAttempt(ctx, p); err == nil || errors.Is(err, lock.ErrCondition) {
				t.Fatalf("%s: error %v, want a validation error", name, err)
			}
		}
		if rec, _, _ := tbl.Get(ctx, "m"); !rec.AttemptedAt.IsZero() {
			t.Fatalf("an invalid attempt was recorded: %+v", rec)
		}
	})
}

func acquiringAttempt(id, owner, hash string, now time.Time) lock.AttemptParams {
	p := attemptParams(id, owner, now)
	p.ContentHash = hash
	return p
}

// attemptTakesLock covers StartAttempt with a content hash: the lock taken
// and the attempt recorded in one write, where Acquire would take it, and
// refused with the record wherever Acquire or a plain attempt is refused.
func attemptTakesLock(t *testing.T, h Harness) {
	ctx := context.Background()
	wantAttempt := func(t *testing.T, r lock.Record, owner string, at time.Time, renewals int) {
		t.Helper()
		if r.Status != lock.Sending || r.Owner != owner || r.ContentHash != hashA || !r.OutcomeUnknown() ||
			!sameTime(r.AttemptedAt, at) || !sameTime(r.LeaseUntil, at.Add(lease)) || r.Renewals != renewals ||
			r.SESMessageID != "" || !r.SentAt.IsZero() || r.ExpiresAt.Before(at.Add(lease+retention).Truncate(time.Second)) {
			t.Fatalf("record %+v, want SENDING for %s with an attempt at %v, lease until %v, %d renewals", r, owner, at, at.Add(lease), renewals)
		}
	}
	got := func(t *testing.T, tbl lock.Table) lock.Record {
		t.Helper()
		rec, ok, err := tbl.Get(ctx, "m")
		if err != nil || !ok {
			t.Fatalf("get: ok=%v err=%v", ok, err)
		}
		return rec
	}
	t.Run("NoRecord", func(t *testing.T) {
		tbl := h.NewTable(t)
		rec := noErr(t)(tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-1", hashA, t0)))
		wantAttempt(t, rec, "owner-1", t0, 1)
		wantAttempt(t, got(t, tbl), "owner-1", t0, 1)
		// It is a lock like any: a second owner is refused while it lives.
		_, err := tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-2", hashA, t0.Add(time.Second)))
		if ce := condition(t, err, "acquiring attempt on an outcome-unknown record"); ce.Current == nil || ce.Current.Owner != "owner-1" {
			t.Fatalf("current %+v, want owner-1's record", ce.Current)
		}
		_, err = tbl.Acquire(ctx, acquireParams("m", "owner-2", hashA, t0.Add(lease+time.Second)))
		condition(t, err, "acquire of an outcome-unknown record after its lease")
	})
	t.Run("OwnRecordCountsOn", func(t *testing.T) {
		tbl := h.NewTable(t)
		first := noErr(t)(tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-1", hashA, t0)))
		noErr(t)(tbl.ClearAttempt(ctx, lock.ClearAttemptParams{MailID: "m", Owner: "owner-1", AttemptedAt: first.AttemptedAt}))
		at := t0.Add(time.Minute)
		wantAttempt(t, noErr(t)(tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-1", hashA, at))), "owner-1", at, 2)
		wantAttempt(t, got(t, tbl), "owner-1", at, 2)
		// Also once its own lease ran out, with nobody taking over.
		rec := got(t, tbl)
		noErr(t)(tbl.ClearAttempt(ctx, lock.ClearAttemptParams{MailID: "m", Owner: "owner-1", AttemptedAt: rec.AttemptedAt}))
		late := at.Add(lease + time.Second)
		wantAttempt(t, noErr(t)(tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-1", hashA, late))), "owner-1", late, 3)
	})
	t.Run("OverAnAcquiredLease", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		at := t0.Add(time.Second)
		wantAttempt(t, noErr(t)(tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-1", hashA, at))), "owner-1", at, 1)
	})
	t.Run("TakesOverAnExpiredLease", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashA, t0)))
		noErr(t)(tbl.Renew(ctx, lock.RenewParams{MailID: "m", Owner: "owner-1", Now: t0, LeaseUntil: t0.Add(lease), ExpiresAt: t0.Add(lease + retention)}))
		_, err := tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-2", hashA, t0.Add(lease-time.Second)))
		if ce := condition(t, err, "acquiring attempt on a live lease"); ce.Current == nil || ce.Current.Owner != "owner-1" || ce.Current.OutcomeUnknown() {
			t.Fatalf("current %+v, want owner-1's lease untouched", ce.Current)
		}
		at := t0.Add(lease)
		wantAttempt(t, noErr(t)(tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-2", hashA, at))), "owner-2", at, 1)
		// The owner who lost it can neither attempt nor release.
		_, err = tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-1", hashA, at.Add(time.Second)))
		condition(t, err, "acquiring attempt by the owner who lost the lease")
		if err := tbl.Release(ctx, lock.ReleaseParams{MailID: "m", Owner: "owner-1", Now: at}); !errors.Is(err, lock.ErrCondition) {
			t.Fatalf("release by the owner who lost the lease: %v", err)
		}
	})
	t.Run("TakesOverAnExpiredRecord", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashB, t0)))
		noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0)))
		at := t0.Add(retention + time.Minute)
		wantAttempt(t, noErr(t)(tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-2", hashA, at))), "owner-2", at, 1)
		wantAttempt(t, got(t, tbl), "owner-2", at, 1)
	})
	t.Run("AlreadySent", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-1", hashA, t0)))
		noErr(t)(tbl.MarkSent(ctx, markParams("m", "owner-1", "ses-1", t0)))
		for _, owner := range []string{"owner-1", "owner-2"} {
			_, err := tbl.StartAttempt(ctx, acquiringAttempt("m", owner, hashA, t0.Add(lease+time.Second)))
			if ce := condition(t, err, "acquiring attempt on a SENT record"); ce.Current == nil || ce.Current.Status != lock.Sent || ce.Current.SESMessageID != "ses-1" {
				t.Fatalf("current %+v, want SENT with ses-1", ce.Current)
			}
		}
	})
	t.Run("OtherContentConflicts", func(t *testing.T) {
		tbl := h.NewTable(t)
		noErr(t)(tbl.Acquire(ctx, acquireParams("m", "owner-1", hashB, t0)))
		_, err := tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-1", hashA, t0.Add(lease+time.Second)))
		if ce := condition(t, err, "acquiring attempt with other content"); ce.Current == nil || ce.Current.ContentHash != hashB || ce.Current.OutcomeUnknown() {
			t.Fatalf("current %+v, want the other content's record untouched", ce.Current)
		}
	})
	t.Run("OutcomeUnknownRefused", func(t *testing.T) {
		tbl := h.NewTable(t)
		first := noErr(t)(tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-1", hashA, t0)))
		for _, at := range []time.Time{t0.Add(time.Second), t0.Add(lease + time.Second)} {
			_, err := tbl.StartAttempt(ctx, acquiringAttempt("m", "owner-1", hashA, at))
			ce := condition(t, err, "acquiring attempt while outcome-unknown")
			if ce.Current == nil || !sameTime(ce.Current.AttemptedAt, first.AttemptedAt) || ce.Current.Renewals != 1 {
				t.Fatalf("current %+v, want the first attempt's record unchanged", ce.Current)
			}
		}
	})
	t.Run("NeedsTheLease", func(t *testing.T) {
		tbl := h.NewTable(t)
		p := lock.AttemptParams{MailID: "m", Owner: "owner-1", Now: t0, ContentHash: hashA}
		if _, err := tbl.StartAttempt(ctx, p); err == nil || errors.Is(err, lock.ErrCondition) {
			t.Fatalf("acquiring attempt without a lease: %v, want a validation error", err)
		}
		if _, ok, _ := tbl.Get(ctx, "m"); ok {
			t.Fatal("an invalid acquiring attempt wrote a record")
		}
	})
	t.Run("Racing", func(t *testing.T) {
		races := h.Races
		if races == 0 {
			races = 200
		}
		races = max(races/4, 10)
		for r := range races {
			tbl := h.NewTable(t)
			id := fmt.Sprintf("race-%d", r)
			var wg sync.WaitGroup
			var mu sync.Mutex
			winners := 0
			for c := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := tbl.StartAttempt(ctx, acquiringAttempt(id, fmt.Sprintf("owner-%d", c), hashA, t0))
					if err == nil {
						mu.Lock()
						winners++
						mu.Unlock()
					} else if !errors.Is(err, lock.ErrCondition) {
						t.Errorf("race %d: %v", r, err)
					}
				}()
			}
			wg.Wait()
			if winners != 1 {
				t.Fatalf("race %d: %d acquiring attempts won, want exactly 1", r, winners)
			}
		}
	})
}
