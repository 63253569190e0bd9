package faults_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/memlock"
	"github.com/mailflow/mailflow/store/memstore"
	"github.com/mailflow/mailflow/testkit/faults"
)

func acquire(t *testing.T, tb lock.Table, id string) error {
	t.Helper()
	now := time.Now()
	_, err := tb.Acquire(context.Background(), lock.AcquireParams{MailID: id, Owner: "o", ContentHash: "h", Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)})
	return err
}

// TestFailStrikesTimesThenPasses: a Fail fault strikes the given number of
// consecutive hits, before the call's effect or, at AcquireAfter, after it.
func TestFailStrikesTimesThenPasses(t *testing.T) {
	t.Parallel()
	inner := memlock.New()
	p := faults.New(faults.At(faults.AcquireAfter, faults.Fault{Kind: faults.Fail, Times: 2}))
	tb := p.Lock(inner)
	for i, id := range []string{"a", "b", "c"} {
		err := acquire(t, tb, id)
		if (i < 2) != errors.Is(err, faults.ErrInjected) {
			t.Fatalf("call %d: %v", i, err)
		}
		// The effect happened before the fault struck.
		if _, ok, _ := inner.Get(context.Background(), id); !ok {
			t.Fatalf("call %d: the lock was not taken", i)
		}
	}
	if p.Hits(faults.AcquireAfter) != 3 || p.StruckTotal() != 2 || p.Summary() != "acquire-after/fail=2" {
		t.Fatalf("hits %d, struck %s", p.Hits(faults.AcquireAfter), p.Summary())
	}

	p = faults.New(faults.At(faults.AcquireBefore, faults.Fault{Kind: faults.Fail}))
	inner = memlock.New()
	if err := acquire(t, p.Lock(inner), "x"); !errors.Is(err, faults.ErrInjected) {
		t.Fatal(err)
	}
	if _, ok, _ := inner.Get(context.Background(), "x"); ok {
		t.Fatal("a fault before the call let the call happen")
	}
}

// TestCrashFreezesEverything: after a crash no wrapped call reaches its
// part, and OnCrash is told where it happened.
func TestCrashFreezesEverything(t *testing.T) {
	t.Parallel()
	var at faults.Point
	p := faults.New(faults.At(faults.Stage, faults.Fault{Kind: faults.Crash}), faults.OnCrash(func(pt faults.Point) { at = pt }))
	st := p.Store(memstore.New())
	tb := p.Lock(memlock.New())
	if err := acquire(t, tb, "before"); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), "staging/m.eml", strings.NewReader("x"), 1); !errors.Is(err, faults.ErrCrashed) {
		t.Fatal(err)
	}
	if !p.IsCrashed() || at != faults.Stage || p.CrashedAt() != faults.Stage {
		t.Fatalf("crashed %v at %q", p.IsCrashed(), at)
	}
	if err := acquire(t, tb, "after"); !errors.Is(err, faults.ErrCrashed) {
		t.Fatalf("a call after the crash: %v", err)
	}
	if _, _, err := tb.Get(context.Background(), "before"); !errors.Is(err, faults.ErrCrashed) {
		t.Fatalf("a read after the crash: %v", err)
	}
	if _, _, err := st.Open(context.Background(), "attachments/a"); !errors.Is(err, faults.ErrCrashed) {
		t.Fatalf("a fetch after the crash: %v", err)
	}
}

// TestDelayUsesTheClock: delays wait on the plan's clock, and a crash
// during a delay ends it.
func TestDelayUsesTheClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := clock.NewSkipping(start)
	p := faults.New(faults.At(faults.Release, faults.Fault{Kind: faults.Delay, Delay: 300 * time.Second}),
		faults.WithClock(c))
	// The call goes on to the table after the delay (which has no record).
	if err := p.Lock(memlock.New()).Release(context.Background(), lock.ReleaseParams{MailID: "m", Owner: "o", Now: time.Now()}); !errors.Is(err, lock.ErrCondition) {
		t.Fatal(err)
	}
	if slept := c.Now().Sub(start); slept != 300*time.Second {
		t.Fatalf("slept %s", slept)
	}

	p = faults.New(faults.At(faults.Release, faults.Fault{Kind: faults.Delay, Delay: time.Hour}))
	done := make(chan error, 1)
	go func() {
		done <- p.Lock(memlock.New()).Release(context.Background(), lock.ReleaseParams{MailID: "m", Owner: "o", Now: time.Now()})
	}()
	for p.Hits(faults.Release) == 0 {
		time.Sleep(time.Millisecond)
	}
	p.Crash(faults.Release)
	select {
	case err := <-done:
		if !errors.Is(err, faults.ErrCrashed) {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a crash did not end the delay")
	}
}

// TestRandomRate: rate 0 never strikes, rate 1 always does.
func TestRandomRate(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{0, 1} {
		p := faults.New(faults.WithRandom(faults.Random{Rate: rate, Seed: 7}))
		tb := p.Lock(memlock.New())
		failed := 0
		for i := range 100 {
			if err := acquire(t, tb, string(rune('a'+i%26))+strings.Repeat("x", i)); err != nil {
				failed++
			}
		}
		// A failure before the call ends it: AcquireAfter is not reached.
		if want := int(rate * 100); failed != want || p.StruckTotal() != want {
			t.Fatalf("rate %v: %d of 100 calls failed, %d faults struck", rate, failed, p.StruckTotal())
		}
	}
}
