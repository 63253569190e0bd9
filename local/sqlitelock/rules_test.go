package sqlitelock

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflow/mailflow/lock"
)

func TestZeroMs(t *testing.T) {
	t.Parallel()
	if got := (time.Time{}).UnixMilli(); got != zeroMs {
		t.Fatalf("the zero time is %d ms, zeroMs is %d", got, zeroMs)
	}
}

// TestStatementsFollowRules checks that each conditional statement writes
// exactly when the rule in lock/rules.go allows it, and writes and returns
// what the transactional path (the Go rule) does: over every combination of
// a small set of current records (absent, either status, matching or not,
// times around Now, stored zero times) and params.
func TestStatementsFollowRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := func(name string) *Table {
		tbl, err := Open(filepath.Join(t.TempDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tbl.Close() })
		return tbl
	}
	fast, ref := open("fast.db"), open("ref.db")
	// Every case takes a few writes; with -short or the race detector, only
	// every stride-th case runs (a stride prime to the dimensions' sizes).
	stride := 1
	if testing.Short() || raceEnabled {
		stride = 7
	}

	epoch := time.Unix(0, 0).UTC()
	nows := []time.Time{
		time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 1, 12, 0, 0, 500_000, time.UTC), // inside a millisecond
		{},                                // the zero time, which a stored 0 stands for
		epoch.Add(500 * time.Microsecond), // in the millisecond stored as 0
	}
	// Current records: nil, or every combination of these, with times
	// relative to the millisecond of now.
	type curSpec struct {
		status                 lock.Status
		owner, hash, ses       string
		lease, expires, sentAt int // -9: stored 0; else offset in ms from now's millisecond
		attempted              int // -9: no attempt; else offset in ms
	}
	var curs []*curSpec
	curs = append(curs, nil)
	offsets := []int{-9, -1, 0, 1}
	for _, st := range []lock.Status{lock.Sending, lock.Sent} {
		for _, owner := range []string{"o1", "o2"} {
			for _, hash := range []string{"h1", "h2"} {
				for _, ses := range []string{"", "s1"} {
					for _, lease := range offsets {
						for _, expires := range offsets {
							for _, sentAt := range []int{-9, -1} {
								for _, attempted := range []int{-9, -1} {
									curs = append(curs, &curSpec{st, owner, hash, ses, lease, expires, sentAt, attempted})
								}
							}
						}
					}
				}
			}
		}
	}
	msAt := func(now time.Time, off int) int64 {
		if off == -9 {
			return 0
		}
		return now.UnixMilli() + int64(off)
	}

	n := 0
	// check seeds both tables with cur, runs the statement on one and the
	// Go rule in a transaction on the other, and compares.
	check := func(t *testing.T, what string, cur *curSpec, now time.Time,
		try func(id string) (lock.Record, bool, error),
		rule func(id string) (lock.Record, error)) {
		t.Helper()
		n++
		if n%stride != 0 {
			return
		}
		id := fmt.Sprintf("m%d", n)
		if cur != nil {
			for _, tbl := range []*Table{fast, ref} {
				if _, err := tbl.put.ExecContext(ctx, id, string(cur.status), cur.owner, msAt(now, cur.lease), cur.hash, cur.ses,
					msAt(now, cur.sentAt), msAt(now, cur.expires), 2, msAt(now, cur.attempted)); err != nil { // renewed twice so far
					t.Fatal(err)
				}
			}
		}
		got, ok, err := try(id)
		if err != nil {
			t.Fatalf("%s on %+v: %v", what, cur, err)
		}
		want, err := rule(id)
		if err != nil && lock.AsCondition(err) == nil {
			t.Fatalf("%s on %+v: rule: %v", what, cur, err)
		}
		if ok != (err == nil) {
			t.Fatalf("%s on %+v at %v: the statement wrote %v, the rule allows %v", what, cur, now, ok, err == nil)
		}
		if ok && !sameRecord(got, want) {
			t.Fatalf("%s on %+v at %v: the statement returned\n%+v\nthe rule\n%+v", what, cur, now, got, want)
		}
		gotRow, gotOK, err1 := fast.Get(ctx, id)
		wantRow, wantOK, err2 := ref.Get(ctx, id)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if gotOK != wantOK || !sameRecord(gotRow, wantRow) {
			t.Fatalf("%s on %+v at %v: the statement stored\n%+v\nthe rule\n%+v", what, cur, now, gotRow, wantRow)
		}
	}

	for _, now := range nows {
		for _, cur := range curs {
			for _, owner := range []string{"o1", "o2"} {
				for _, hash := range []string{"h1", "h2"} {
					p := lock.AcquireParams{Owner: owner, ContentHash: hash, Now: now,
						LeaseUntil: now.Add(6 * time.Minute), ExpiresAt: now.Add(time.Hour)}
					check(t, "acquire", cur, now, func(id string) (lock.Record, bool, error) {
						p.MailID = id
						return fast.tryAcquire(ctx, p)
					}, func(id string) (lock.Record, error) {
						p.MailID = id
						return ref.update(ctx, "acquire", id, acquireRule(p))
					})
				}
				rp := lock.RenewParams{Owner: owner, Now: now, LeaseUntil: now.Add(6 * time.Minute), ExpiresAt: now.Add(time.Hour)}
				check(t, "renew", cur, now, func(id string) (lock.Record, bool, error) {
					rp.MailID = id
					return fast.tryRenew(ctx, rp)
				}, func(id string) (lock.Record, error) {
					rp.MailID = id
					return ref.update(ctx, "renew", id, renewRule(rp))
				})
				for _, ses := range []string{"s1", "s2"} {
					if owner == "o1" { // resolve-sent takes no owner: once per SES id
						vp := lock.ResolveParams{SESMessageID: ses, Now: now, ExpiresAt: now.Add(time.Hour)}
						check(t, "resolve-sent", cur, now, func(id string) (lock.Record, bool, error) {
							vp.MailID = id
							return fast.tryResolveSent(ctx, vp)
						}, func(id string) (lock.Record, error) {
							vp.MailID = id
							return ref.update(ctx, "resolve-sent", id, resolveSentRule(vp))
						})
					}
					mp := lock.MarkSentParams{Owner: owner, SESMessageID: ses, Now: now, ExpiresAt: now.Add(time.Hour)}
					check(t, "mark-sent", cur, now, func(id string) (lock.Record, bool, error) {
						mp.MailID = id
						return fast.tryMarkSent(ctx, mp)
					}, func(id string) (lock.Record, error) {
						mp.MailID = id
						return ref.update(ctx, "mark-sent", id, markSentRule(mp))
					})
				}
				ap := lock.AttemptParams{Owner: owner, Now: now}
				check(t, "start-attempt", cur, now, func(id string) (lock.Record, bool, error) {
					ap.MailID = id
					return fast.tryStartAttempt(ctx, ap)
				}, func(id string) (lock.Record, error) {
					ap.MailID = id
					return ref.update(ctx, "start-attempt", id, startAttemptRule(ap))
				})
				for _, hash := range []string{"h1", "h2"} {
					aq := lock.AttemptParams{Owner: owner, Now: now, ContentHash: hash,
						LeaseUntil: now.Add(6 * time.Minute), ExpiresAt: now.Add(time.Hour)}
					check(t, "acquiring start-attempt", cur, now, func(id string) (lock.Record, bool, error) {
						aq.MailID = id
						return fast.tryStartAttempt(ctx, aq)
					}, func(id string) (lock.Record, error) {
						aq.MailID = id
						return ref.update(ctx, "start-attempt", id, startAttemptRule(aq))
					})
				}
				lp := lock.ReleaseParams{Owner: owner, Now: now}
				check(t, "release", cur, now, func(id string) (lock.Record, bool, error) {
					lp.MailID = id
					ok, err := fast.tryRelease(ctx, lp)
					return lock.Record{}, ok, err
				}, func(id string) (lock.Record, error) {
					lp.MailID = id
					return ref.update(ctx, "release", id, releaseRule(lp))
				})
			}
		}
	}
	t.Logf("%d of %d cases", n/stride, n)
}

// sameRecord compares records with times compared as instants.
func sameRecord(a, b lock.Record) bool {
	return a.MailID == b.MailID && a.Status == b.Status && a.Owner == b.Owner && a.ContentHash == b.ContentHash &&
		a.SESMessageID == b.SESMessageID && a.LeaseUntil.Equal(b.LeaseUntil) && a.SentAt.Equal(b.SentAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Renewals == b.Renewals && a.AttemptedAt.Equal(b.AttemptedAt)
}
