// Skipping time: a Virtual clock that also moves by itself, whenever
// something waits on it. Tests of code that waits on one goroutine (a pacer
// waiting for tokens, a retry's backoff) run through the waits instantly
// and read how long they waited from Now.

package clock

import (
	"context"
	"time"
)

// Skipping is a Virtual clock whose waits end at once: a Timer or Sleep of d
// advances the clock by d, firing the timers then due, and returns. Waits
// on several goroutines add up, each moving the clock by its own d. Build
// one with NewSkipping.
type Skipping struct{ *Virtual }

var _ Clock = (*Skipping)(nil)

// NewSkipping returns a clock that reads start until it is advanced or
// waited on.
func NewSkipping(start time.Time) *Skipping { return &Skipping{NewVirtual(start)} }

// Timer advances the clock by d and returns a channel that has already
// received the new time.
func (c *Skipping) Timer(d time.Duration) (<-chan time.Time, func()) {
	if d > 0 {
		c.Advance(d)
	}
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch, func() {}
}

// Sleep advances the clock by d and returns nil; when ctx has ended it
// returns ctx.Err() and leaves the clock as it is.
func (c *Skipping) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.Advance(d)
	}
	return nil
}
