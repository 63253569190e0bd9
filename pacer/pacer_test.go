package pacer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/mempacer"
	"github.com/mailflow/mailflow/workflow"
)

var epoch = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// newClock returns a clock that waits by moving its time forward.
func newClock() *clock.Skipping { return clock.NewSkipping(epoch) }

// frozen is a clock on which no time passes: waits end at once.
type frozen struct{}

func (frozen) Now() time.Time { return epoch }

func (frozen) Timer(time.Duration) (<-chan time.Time, func()) {
	ch := make(chan time.Time, 1)
	ch <- epoch
	return ch, func() {}
}

func (frozen) Sleep(context.Context, time.Duration) error { return nil }

func mustNew(t *testing.T, cfg pacer.Config) *pacer.Pacer {
	t.Helper()
	p, err := pacer.New(mempacer.New(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func name(err error) workflow.ErrorName { return workflow.NameOf(err) }

func TestFixedRateThrottles(t *testing.T) {
	t.Parallel()
	c := newClock()
	p := mustNew(t, pacer.Config{Rate: 5, Burst: 5, Clock: c})
	ctx := context.Background()
	for i := range 5 {
		if err := p.Take(ctx, 1, ""); err != nil {
			t.Fatalf("take %d: %v", i+1, err)
		}
	}
	if err := p.Take(ctx, 1, ""); name(err) != workflow.Throttled {
		t.Fatalf("sixth take in the same instant: %v, want %s", err, workflow.Throttled)
	}
	c.Advance(400 * time.Millisecond)
	if err := p.Take(ctx, 2, ""); err != nil {
		t.Fatalf("two recipients after 400ms at 5/s: %v", err)
	}
	// More recipients than the bucket holds take a full bucket.
	c.Advance(time.Second)
	if err := p.Take(ctx, 50, ""); err != nil {
		t.Fatalf("50 recipients with a full bucket: %v", err)
	}
	if err := p.Take(ctx, 1, ""); name(err) != workflow.Throttled {
		t.Fatalf("after a 50-recipient send: %v", err)
	}
}

func TestMaxWaitWaitsForComingTokens(t *testing.T) {
	t.Parallel()
	c := newClock()
	p := mustNew(t, pacer.Config{Rate: 10, Burst: 10, MaxWait: 250 * time.Millisecond, Clock: c})
	ctx := context.Background()
	start := c.Now()
	for i := range 12 {
		if err := p.Take(ctx, 1, ""); err != nil {
			t.Fatalf("take %d: %v", i+1, err)
		}
	}
	// 10 from the burst, then two reserved 100ms apart (the clock advanced
	// by each wait).
	if got := c.Now().Sub(start); got != 200*time.Millisecond {
		t.Fatalf("waited %s, want 200ms", got)
	}
	for range 3 {
		if err := p.Take(ctx, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	// Takes without time passing: the backlog grows past MaxWait.
	p2 := mustNew(t, pacer.Config{Rate: 10, Burst: 10, MaxWait: 250 * time.Millisecond, Clock: frozen{}})
	for range 12 {
		_ = p2.Take(ctx, 1, "")
	}
	var err error
	for range 3 {
		err = p2.Take(ctx, 1, "")
	}
	if name(err) != workflow.Throttled {
		t.Fatalf("take beyond MaxWait: %v", err)
	}
	// A send refused before may wait longer: refused once, it waits up
	// to 500ms, enough for the 400ms backlog.
	if err := p2.Take(ctx, 1, "exec/msg-1"); name(err) != workflow.Throttled {
		t.Fatalf("first try: %v", err)
	}
	if err := p2.Take(ctx, 1, "exec/msg-1"); err != nil {
		t.Fatalf("once-refused take within its longer wait: %v", err)
	}
	// Its count is forgotten once it got through.
	if err := p2.Take(ctx, 1, "exec/msg-1"); name(err) != workflow.Throttled {
		t.Fatalf("the same key after success: %v", err)
	}
	// A send tried once before somewhere else (another instance, as the
	// caller counts it) waits as long, though this pacer never refused it.
	if err := p2.Take(ctx, 1, "exec/msg-2"); name(err) != workflow.Throttled {
		t.Fatalf("a first try of another send: %v", err)
	}
	if err := p2.TakeAttempt(ctx, 1, "exec/msg-3", 1); err != nil {
		t.Fatalf("a send tried once elsewhere, within its longer wait: %v", err)
	}
	for attempt, want := range map[int]time.Duration{0: 250 * time.Millisecond, 1: 500 * time.Millisecond, 3: 2 * time.Second, 6: 16 * time.Second, 40: 16 * time.Second} {
		if got := p2.Wait(attempt); got != want {
			t.Errorf("Wait(%d) = %s, want %s", attempt, got, want)
		}
	}
}

func TestRateFromAccountRefreshed(t *testing.T) {
	t.Parallel()
	c := newClock()
	quota := pacer.Quota{MaxSendRate: 2, Max24HourSend: -1}
	reads := 0
	p := mustNew(t, pacer.Config{Clock: c, Refresh: time.Minute, Account: func(context.Context) (pacer.Quota, error) {
		reads++
		return quota, nil
	}})
	ctx := context.Background()
	if r, err := p.Rate(ctx); err != nil || r != 2 {
		t.Fatalf("rate %v, %v; want 2", r, err)
	}
	quota.MaxSendRate = 40
	c.Advance(30 * time.Second)
	if r, _ := p.Rate(ctx); r != 2 {
		t.Fatalf("rate %v before the refresh is due, want 2", r)
	}
	c.Advance(30 * time.Second)
	if r, _ := p.Rate(ctx); r != 40 {
		t.Fatalf("rate %v after a minute, want 40", r)
	}
	if reads != 2 {
		t.Fatalf("%d quota reads, want 2", reads)
	}
	// A failed refresh keeps the last quota.
	quota.MaxSendRate = 0
	c.Advance(time.Minute)
	if r, err := p.Rate(ctx); err != nil || r != 40 {
		t.Fatalf("rate %v, %v after a bad refresh; want the last 40", r, err)
	}
}

func TestDailyQuotaRespected(t *testing.T) {
	t.Parallel()
	c := newClock()
	quota := pacer.Quota{MaxSendRate: 100, Max24HourSend: 10, SentLast24Hours: 7}
	p := mustNew(t, pacer.Config{Clock: c, Account: func(context.Context) (pacer.Quota, error) { return quota, nil }})
	ctx := context.Background()
	if err := p.Take(ctx, 2, ""); err != nil {
		t.Fatal(err)
	}
	if err := p.Take(ctx, 2, ""); name(err) != workflow.QuotaExhausted {
		t.Fatalf("9 + 2 of 10: %v, want %s", err, workflow.QuotaExhausted)
	}
	if err := p.Take(ctx, 1, ""); err != nil {
		t.Fatalf("the tenth recipient: %v", err)
	}
	// A fixed rate still honours the account's daily quota.
	fixed := mustNew(t, pacer.Config{Rate: 100, Clock: c, Account: func(context.Context) (pacer.Quota, error) {
		return pacer.Quota{MaxSendRate: 1, Max24HourSend: 200, SentLast24Hours: 200}, nil
	}})
	if err := fixed.Take(ctx, 1, ""); name(err) != workflow.QuotaExhausted {
		t.Fatalf("fixed rate, quota used up: %v", err)
	}
}

func TestUnreadableQuotaIsTransient(t *testing.T) {
	t.Parallel()
	p := mustNew(t, pacer.Config{Account: func(context.Context) (pacer.Quota, error) {
		return pacer.Quota{}, errors.New("AccessDenied")
	}})
	if err := p.Take(context.Background(), 1, ""); name(err) != workflow.Transient {
		t.Fatalf("got %v, want %s", err, workflow.Transient)
	}
}

func TestFixedRateSurvivesUnreadableQuota(t *testing.T) {
	t.Parallel()
	c := newClock()
	reads := 0
	p := mustNew(t, pacer.Config{Rate: 1, Clock: c, Account: func(context.Context) (pacer.Quota, error) {
		reads++
		return pacer.Quota{}, errors.New("AccessDenied")
	}})
	ctx := context.Background()
	if err := p.Take(ctx, 1, ""); err != nil {
		t.Fatalf("fixed rate with an unreadable quota: %v", err)
	}
	if err := p.Take(ctx, 1, ""); workflow.NameOf(err) != workflow.Throttled {
		t.Fatalf("second take: %v", err)
	}
	if reads != 1 {
		t.Fatalf("%d quota reads within the refresh interval, want 1", reads)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for label, cfg := range map[string]pacer.Config{
		"no rate source": {},
		"negative rate":  {Rate: -1},
		"negative wait":  {Rate: 1, MaxWait: -1},
	} {
		if _, err := pacer.New(mempacer.New(), cfg); err == nil {
			t.Errorf("%s: accepted", label)
		}
	}
	if _, err := pacer.New(nil, pacer.Config{Rate: 1}); err == nil {
		t.Error("nil bucket accepted")
	}
}

func TestDefaultBurstIsHalfASecond(t *testing.T) {
	t.Parallel()
	p := mustNew(t, pacer.Config{Rate: 10, Clock: newClock()})
	ok := 0
	for range 10 {
		if p.Take(context.Background(), 1, "") == nil {
			ok++
		}
	}
	if ok != 5 {
		t.Fatalf("%d takes from a fresh bucket at 10/s, want 5 (half a second)", ok)
	}
}

// TestReserveGrantsInTurn: a batch's tokens in one take, each entry granted
// the time it would have had its tokens taking them in turn; nothing is
// reserved when the batch cannot be granted within the wait, nor beyond
// the daily quota.
func TestReserveGrantsInTurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClock()
	// 10/s, a bucket of 5: the first five now, then a tenth of a second
	// apart; two recipients take two tokens.
	p := mustNew(t, pacer.Config{Rate: 10, Burst: 5, MaxWait: time.Second, Clock: c})
	grants, err := p.Reserve(ctx, []int{1, 1, 0, 3, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 0, -1, 0, 100 * time.Millisecond, 300 * time.Millisecond}
	for i, w := range want {
		switch {
		case w < 0 && !grants[i].IsZero():
			t.Errorf("entry %d of no recipients granted %v", i, grants[i])
		case w >= 0 && !grants[i].Equal(epoch.Add(w)):
			t.Errorf("entry %d granted %v, want %v", i, grants[i].Sub(epoch), w)
		}
	}
	if got := p.Counts(); got.Reservations != 1 || got.Takes != 0 {
		t.Fatalf("counts %+v", got)
	}
	// The bucket is 0.8 s ahead: a batch of ten more would end 1.3 s
	// out, beyond the wait: none reserved, nothing taken.
	grants, err = p.Reserve(ctx, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	if err != nil || !allZero(grants) {
		t.Fatalf("beyond the wait: %v, %v", grants, err)
	}
	if err := p.Take(ctx, 1, ""); err != nil {
		t.Fatalf("a single take after the refused batch: %v", err)
	}

	// Without a wait, a batch beyond the burst cannot be granted at once.
	now := mustNew(t, pacer.Config{Rate: 10, Burst: 5, Clock: newClock()})
	if grants, err := now.Reserve(ctx, []int{3, 3}); err != nil || !allZero(grants) {
		t.Fatalf("no wait, beyond the burst: %v, %v", grants, err)
	}
	if grants, err := now.Reserve(ctx, []int{2, 2}); err != nil || allZero(grants) {
		t.Fatalf("no wait, within the burst: %v, %v", grants, err)
	}

	// The daily quota counts every recipient of the batch.
	quota := mustNew(t, pacer.Config{Clock: newClock(), MaxWait: time.Second,
		Account: func(context.Context) (pacer.Quota, error) {
			return pacer.Quota{MaxSendRate: 100, Max24HourSend: 10, SentLast24Hours: 7}, nil
		}})
	if grants, err := quota.Reserve(ctx, []int{2, 2}); err != nil || !allZero(grants) {
		t.Fatalf("beyond the daily quota: %v, %v", grants, err)
	}
	if grants, err := quota.Reserve(ctx, []int{2, 1}); err != nil || allZero(grants) {
		t.Fatalf("within the daily quota: %v, %v", grants, err)
	}
}

// TestTakeReservedUsesAFreshGrant: a first attempt waits for its grant and
// takes nothing; a grant older than Grace, one further ahead than a take
// could wait, or a retry takes its own tokens.
func TestTakeReservedUsesAFreshGrant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClock()
	p := mustNew(t, pacer.Config{Rate: 10, Burst: 5, MaxWait: time.Second, Clock: c})
	if g, err := p.Grace(ctx); err != nil || g != 250*time.Millisecond {
		t.Fatalf("Grace = %v, %v; want half of the 0.5 s refill", g, err)
	}
	start := c.Now()
	if err := p.TakeReserved(ctx, start.Add(200*time.Millisecond), 1, "a", 0); err != nil {
		t.Fatal(err)
	}
	if waited := c.Now().Sub(start); waited != 200*time.Millisecond {
		t.Fatalf("waited %v for a grant 200ms ahead", waited)
	}
	if err := p.TakeReserved(ctx, c.Now().Add(-200*time.Millisecond), 1, "b", 0); err != nil {
		t.Fatal(err)
	}
	if got := p.Counts(); got.Takes != 0 || got.Expired != 0 {
		t.Fatalf("fresh grants took tokens: %+v", got)
	}
	for _, g := range []struct {
		at      time.Time
		earlier int
	}{
		{c.Now().Add(-300 * time.Millisecond), 0}, // older than Grace
		{c.Now().Add(2 * time.Second), 0},         // further ahead than MaxWait
		{c.Now(), 1},                              // a retry
		{time.Time{}, 0},                          // none
	} {
		if err := p.TakeReserved(ctx, g.at, 1, "c", g.earlier); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Counts(); got.Takes != 4 || got.Expired != 2 {
		t.Fatalf("counts %+v, want four takes, two of them for unusable grants", got)
	}
}

func allZero(ts []time.Time) bool {
	for _, t := range ts {
		if !t.IsZero() {
			return false
		}
	}
	return true
}
