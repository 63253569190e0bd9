// Package pacertest is the conformance suite of the pacer.Bucket port.
// Every adapter runs it from one small test:
//
//	func TestConformance(t *testing.T) {
//		pacertest.Run(t, pacertest.Harness{NewBucket: ...})
//	}
//
// It checks the token-bucket arithmetic through the adapter's storage (the
// initial burst, refill that never exceeds the burst, multi-token takes,
// reservations, a clock that runs behind the stored state), that invalid
// parameters are rejected, and that concurrent takes never hand out more
// tokens than the bucket holds.
package pacertest

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflow/mailflow/pacer"
)

// Harness builds fresh buckets for the suite.
type Harness struct {
	// NewBucket returns an empty bucket, independent of every other.
	NewBucket func(t *testing.T) pacer.Bucket
	// Contenders is how many goroutines race in the concurrency test
	// (default 8); Races how many takes each makes (default 25).
	Contenders, Races int
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.Contenders == 0 {
		h.Contenders = 8
	}
	if h.Races == 0 {
		h.Races = 25
	}
	ctx := context.Background()
	take := func(t *testing.T, b pacer.Bucket, p pacer.TakeParams) pacer.TakeResult {
		t.Helper()
		r, err := b.Take(ctx, p)
		if err != nil {
			t.Fatalf("Take(%+v): %v", p, err)
		}
		return r
	}
	p := func(cost float64, at time.Duration) pacer.TakeParams {
		return pacer.TakeParams{Cost: cost, Rate: 10, Burst: 10, Now: t0.Add(at)}
	}
	near := func(got, want time.Duration) bool {
		d := got - want
		return d > -time.Millisecond && d < time.Millisecond
	}

	t.Run("BurstThenThrottle", func(t *testing.T) {
		b := h.NewBucket(t)
		for i := range 10 {
			if r := take(t, b, p(1, 0)); !r.OK || r.Wait != 0 {
				t.Fatalf("take %d of a full bucket: %+v", i+1, r)
			}
		}
		r := take(t, b, p(1, 0))
		if r.OK || !near(r.RetryAfter, 100*time.Millisecond) {
			t.Fatalf("take beyond the burst: %+v, want refused with RetryAfter 100ms", r)
		}
		// A refused take leaves the state alone: still 100ms to wait.
		if r := take(t, b, p(1, 0)); r.OK || !near(r.RetryAfter, 100*time.Millisecond) {
			t.Fatalf("second refused take: %+v", r)
		}
	})

	t.Run("RefillCappedAtBurst", func(t *testing.T) {
		b := h.NewBucket(t)
		for range 10 {
			take(t, b, p(1, 0))
		}
		// 250ms later: 2.5 tokens, so 2 takes.
		for i := range 2 {
			if r := take(t, b, p(1, 250*time.Millisecond)); !r.OK {
				t.Fatalf("refilled take %d refused: %+v", i+1, r)
			}
		}
		if r := take(t, b, p(1, 250*time.Millisecond)); r.OK || !near(r.RetryAfter, 50*time.Millisecond) {
			t.Fatalf("third take after 250ms: %+v, want refused, RetryAfter 50ms", r)
		}
		// An hour idle fills the bucket to its burst, not beyond.
		ok := 0
		for range 15 {
			if take(t, b, p(1, time.Hour)).OK {
				ok++
			}
		}
		if ok != 10 {
			t.Fatalf("after an idle hour %d takes succeeded, want the burst of 10", ok)
		}
	})

	t.Run("MultiTokenTake", func(t *testing.T) {
		b := h.NewBucket(t)
		if r := take(t, b, p(4, 0)); !r.OK {
			t.Fatalf("4 of 10: %+v", r)
		}
		if r := take(t, b, p(6, 0)); !r.OK {
			t.Fatalf("6 of the remaining 6: %+v", r)
		}
		if r := take(t, b, p(3, 0)); r.OK || !near(r.RetryAfter, 300*time.Millisecond) {
			t.Fatalf("3 of an empty bucket: %+v, want RetryAfter 300ms", r)
		}
		if r := take(t, b, p(10, time.Second)); !r.OK {
			t.Fatalf("a full bucket's worth after 1s: %+v", r)
		}
	})

	t.Run("Reserve", func(t *testing.T) {
		b := h.NewBucket(t)
		for range 10 {
			take(t, b, p(1, 0))
		}
		for i, want := range []time.Duration{100, 200, 300} {
			q := p(1, 0)
			q.Reserve = 300 * time.Millisecond
			r := take(t, b, q)
			if !r.OK || !near(r.Wait, want*time.Millisecond) {
				t.Fatalf("reservation %d: %+v, want OK with Wait %dms", i+1, r, want)
			}
		}
		q := p(1, 0)
		q.Reserve = 300 * time.Millisecond
		if r := take(t, b, q); r.OK || !near(r.RetryAfter, 400*time.Millisecond) {
			t.Fatalf("reservation beyond Reserve: %+v, want refused with RetryAfter 400ms", r)
		}
	})

	t.Run("BatchBeyondTheBurst", func(t *testing.T) {
		// A batch's tokens in one take: 15 from a full bucket of 10 at
		// 10/s are granted within a second, the last after 0.5s.
		b := h.NewBucket(t)
		q := p(15, 0)
		q.Reserve = time.Second
		if r := take(t, b, q); !r.OK || !near(r.Wait, 500*time.Millisecond) {
			t.Fatalf("batch of 15: %+v, want OK with Wait 500ms", r)
		}
		// The bucket is 1.5s ahead now: a single token is 0.6s away.
		if r := take(t, b, p(1, 0)); r.OK || !near(r.RetryAfter, 600*time.Millisecond) {
			t.Fatalf("take after the batch: %+v, want RetryAfter 600ms", r)
		}
		// More than the reserve covers, even from an empty bucket, is
		// refused and writes nothing.
		fresh := h.NewBucket(t)
		q = p(25, 0)
		q.Reserve = time.Second
		if r := take(t, fresh, q); r.OK {
			t.Fatalf("batch of 25 within 1s: %+v, want refused", r)
		}
		for i := range 10 {
			if r := take(t, fresh, p(1, 0)); !r.OK {
				t.Fatalf("take %d after the refused batch: %+v", i+1, r)
			}
		}
	})

	t.Run("ClockBehindStoredState", func(t *testing.T) {
		// Another instance whose clock runs ahead drained the bucket.
		b := h.NewBucket(t)
		for range 10 {
			take(t, b, p(1, time.Second))
		}
		if r := take(t, b, p(1, 0)); r.OK || !near(r.RetryAfter, 1100*time.Millisecond) {
			t.Fatalf("take from a clock 1s behind: %+v, want RetryAfter 1.1s", r)
		}
	})

	t.Run("RateChange", func(t *testing.T) {
		b := h.NewBucket(t)
		for range 10 {
			take(t, b, p(1, 0))
		}
		// The quota rises to 100/s with a burst of 100. The stored state
		// is time (the bucket is 1s behind), so the next token costs
		// 10ms at the new rate, and 100 of them fit in the next second.
		q := pacer.TakeParams{Cost: 1, Rate: 100, Burst: 100, Now: t0}
		if r := take(t, b, q); r.OK || !near(r.RetryAfter, 10*time.Millisecond) {
			t.Fatalf("take at the raised rate: %+v, want RetryAfter 10ms", r)
		}
		ok := 0
		for range 120 {
			q.Now = t0.Add(time.Second)
			if take(t, b, q).OK {
				ok++
			}
		}
		if ok != 100 {
			t.Fatalf("%d takes in the next second at 100/s, want 100", ok)
		}
	})

	t.Run("RejectsInvalid", func(t *testing.T) {
		b := h.NewBucket(t)
		for name, q := range map[string]pacer.TakeParams{
			"zero rate":       {Cost: 1, Rate: 0, Burst: 1, Now: t0},
			"burst below one": {Cost: 0.5, Rate: 1, Burst: 0.5, Now: t0},
			"cost over burst": {Cost: 3, Rate: 1, Burst: 2, Now: t0},
			"infinite cost":   {Cost: math.Inf(1), Rate: 1, Burst: 2, Now: t0, Reserve: time.Second},
			"zero cost":       {Cost: 0, Rate: 1, Burst: 2, Now: t0},
			"zero time":       {Cost: 1, Rate: 1, Burst: 2},
			"negative wait":   {Cost: 1, Rate: 1, Burst: 2, Now: t0, Reserve: -1},
		} {
			if _, err := b.Take(ctx, q); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		if r := take(t, b, p(10, 0)); !r.OK {
			t.Fatalf("rejected calls took tokens: %+v", r)
		}
	})

	t.Run("ConcurrentTakesNeverOvergrant", func(t *testing.T) {
		b := h.NewBucket(t)
		const burst = 20
		var ok atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, h.Contenders)
		for range h.Contenders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range h.Races {
					r, err := b.Take(ctx, pacer.TakeParams{Cost: 1, Rate: 1, Burst: burst, Now: t0})
					if err != nil {
						errs <- err
						return
					}
					if r.OK {
						ok.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		want := int64(min(burst, h.Contenders*h.Races))
		if got := ok.Load(); got != want {
			t.Fatalf("%d concurrent takes succeeded, want exactly %d", got, want)
		}
	})
}
