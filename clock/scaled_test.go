package clock

import (
	"context"
	"testing"
	"time"
)

// fake replaces the wall clock: elapsed is what time.Since reports, and
// timers record the wall durations they were asked for.
type fake struct {
	elapsed time.Duration
	asked   []time.Duration
}

func newFake(t *testing.T, factor float64) (*Scaled, *fake) {
	t.Helper()
	c, err := NewScaled(factor)
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{}
	c.since = func(time.Time) time.Duration { return f.elapsed }
	c.timer = func(d time.Duration) (<-chan time.Time, func()) {
		f.asked = append(f.asked, d)
		ch := make(chan time.Time, 1)
		ch <- time.Time{}
		return ch, func() {}
	}
	return c, f
}

func TestNowRunsScaled(t *testing.T) {
	t.Parallel()
	c, f := newFake(t, 10)
	t0 := c.Now()
	f.elapsed = 1500 * time.Millisecond
	if got := c.Now().Sub(t0); got != 15*time.Second {
		t.Fatalf("1.5s of wall time = %s scaled, want 15s", got)
	}
}

func TestWaitsAreShortened(t *testing.T) {
	t.Parallel()
	c, f := newFake(t, 20)
	if err := c.Sleep(context.Background(), 8*time.Second); err != nil {
		t.Fatal(err)
	}
	ch, stop := c.Timer(7 * time.Minute)
	<-ch
	stop()
	stop() // a second stop is harmless
	if len(f.asked) != 2 || f.asked[0] != 400*time.Millisecond || f.asked[1] != 21*time.Second {
		t.Fatalf("wall waits %v, want [400ms 21s]", f.asked)
	}
}

func TestSleepHonoursContext(t *testing.T) {
	t.Parallel()
	c, err := NewScaled(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil {
		t.Fatal("a canceled sleep returned nil")
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{0, -1, 1e7} {
		if _, err := NewScaled(f); err == nil {
			t.Errorf("factor %v accepted", f)
		}
	}
}
