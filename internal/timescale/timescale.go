// Package timescale is a clock that runs faster (or slower) than the wall
// clock by a constant factor, for time-scaled benchmarks of the local
// runtime (localrt.Config.Clock): with factor 10, a state machine's 8 s
// retry delay and a queue's 7 min visibility timeout pass in 0.8 s and 42 s,
// and a 200/s SES quota admits 2,000 sends per wall-clock second.
//
// Scaled time is start + factor × (wall time elapsed since New); waits are
// the wall-clock durations divided by factor. It keeps the wall clock's
// monotonic reading, so it never runs backwards.
package timescale

import (
	"context"
	"fmt"
	"time"
)

// Clock is a scaled clock. It is safe for concurrent use.
type Clock struct {
	factor float64
	start  time.Time // wall clock at New, with its monotonic reading
	since  func(time.Time) time.Duration
	timer  func(time.Duration) (<-chan time.Time, func())
}

// New returns a clock that starts at the current time and runs factor
// times as fast as the wall clock.
func New(factor float64) (*Clock, error) {
	if !(factor > 0) || factor > 1e6 {
		return nil, fmt.Errorf("timescale: factor %v must be in (0, 1e6]", factor)
	}
	return &Clock{factor: factor, start: time.Now(), since: time.Since, timer: wallTimer}, nil
}

func wallTimer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Factor is how many scaled seconds pass per wall-clock second.
func (c *Clock) Factor() float64 { return c.factor }

// Now returns the scaled time.
func (c *Clock) Now() time.Time {
	return c.start.Add(c.Scale(c.since(c.start))).Round(0)
}

// Scale converts a wall-clock duration into scaled time.
func (c *Clock) Scale(wall time.Duration) time.Duration {
	return time.Duration(float64(wall) * c.factor)
}

// Wall converts a scaled duration into wall-clock time.
func (c *Clock) Wall(scaled time.Duration) time.Duration {
	return time.Duration(float64(scaled) / c.factor)
}

// Timer fires once d of scaled time has passed.
func (c *Clock) Timer(d time.Duration) (<-chan time.Time, func()) {
	ch, stop := c.timer(c.Wall(d))
	out := make(chan time.Time, 1)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			out <- c.Now()
		case <-done:
		}
	}()
	var stopped bool
	return out, func() {
		if !stopped {
			stopped = true
			stop()
			close(done)
		}
	}
}

// Sleep waits d of scaled time, or until ctx ends.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	ch, stop := c.timer(c.Wall(d))
	defer stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
