// Scaled time: start + factor × (wall time elapsed since NewScaled); waits
// are the wall-clock durations divided by factor. It keeps the wall clock's
// monotonic reading, so it never runs backwards.

package clock

import (
	"context"
	"fmt"
	"time"
)

// Scaled is a clock that runs factor times as fast as the wall clock. It is safe for concurrent use.
type Scaled struct {
	factor float64
	start  time.Time // wall clock at New, with its monotonic reading
	since  func(time.Time) time.Duration
	timer  func(time.Duration) (<-chan time.Time, func())
}

// NewScaled returns a clock that starts at the current time and runs factor
// times as fast as the wall clock.
func NewScaled(factor float64) (*Scaled, error) {
	if !(factor > 0) || factor > 1e6 {
		return nil, fmt.Errorf("clock: factor %v must be in (0, 1e6]", factor)
	}
	return &Scaled{factor: factor, start: time.Now(), since: time.Since, timer: wallTimer}, nil
}

func wallTimer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Factor is how many scaled seconds pass per wall-clock second.
func (c *Scaled) Factor() float64 { return c.factor }

// Now returns the scaled time.
func (c *Scaled) Now() time.Time {
	return c.start.Add(c.Scale(c.since(c.start))).Round(0)
}

// Scale converts a wall-clock duration into scaled time.
func (c *Scaled) Scale(wall time.Duration) time.Duration {
	return time.Duration(float64(wall) * c.factor)
}

// Wall converts a scaled duration into wall-clock time.
func (c *Scaled) Wall(scaled time.Duration) time.Duration {
	return time.Duration(float64(scaled) / c.factor)
}

// Timer fires once d of scaled time has passed.
func (c *Scaled) Timer(d time.Duration) (<-chan time.Time, func()) {
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
func (c *Scaled) Sleep(ctx context.Context, d time.Duration) error {
	return sleepOn(ctx, func(d time.Duration) (<-chan time.Time, func()) { return c.timer(c.Wall(d)) }, d)
}
