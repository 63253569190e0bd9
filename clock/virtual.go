// Virtual time: it moves only when Advance is called; timers whose deadline
// is reached fire synchronously inside that call (their channel has a buffer
// of one, so firing never blocks). Tests of the queue store, the SQS endpoint
// and the conformance harnesses use it to cross visibility timeouts, delays,
// retention and long polls instantly. Build one with NewVirtual.

package clock

import (
	"context"
	"sync"
	"time"
)

// Virtual is a manually advanced clock.
type Virtual struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*timer]struct{}
	changed chan struct{}
}

type timer struct {
	at time.Time
	ch chan time.Time
}

// NewVirtual returns a clock that reads start until it is advanced.
func NewVirtual(start time.Time) *Virtual {
	return &Virtual{now: start, timers: map[*timer]struct{}{}, changed: make(chan struct{})}
}

// Now returns the current virtual time.
func (c *Virtual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Timer returns a channel that receives the virtual time once d has passed on
// this clock, and a function that releases the timer early.
func (c *Virtual) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t.ch, func() {}
	}
	c.timers[t] = struct{}{}
	c.notify()
	return t.ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.timers, t)
	}
}

// Sleep waits until the clock has been advanced by d, or until ctx ends.
func (c *Virtual) Sleep(ctx context.Context, d time.Duration) error {
	return sleepOn(ctx, c.Timer, d)
}

// Advance moves the clock forward by d and fires every timer now due.
func (c *Virtual) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			delete(c.timers, t)
		}
	}
}

// Pending reports how many timers are waiting.
func (c *Virtual) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Changed returns a channel closed the next time a timer is registered, so a
// test can wait for the code under test to start waiting instead of sleeping.
func (c *Virtual) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *Virtual) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}
