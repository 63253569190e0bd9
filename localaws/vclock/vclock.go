// Package vclock is a virtual clock for tests of the local AWS emulators.
//
// Who uses it: tests of localaws/sqsstore and localaws/sqsapi (and the
// conformance suite harnesses) inject a *Clock where the code under test would
// otherwise read the wall clock or wait on a real timer, so that visibility
// timeouts, delays, retention and long polls can be crossed instantly.
//
// Decisions and limits: time moves only when Advance or Set is called; timers
// whose deadline is reached fire synchronously inside that call (their channel
// has a buffer of one, so firing never blocks). The zero Clock is not usable:
// build one with New. A Clock is safe for concurrent use.
package vclock

import (
	"sync"
	"time"
)

// Clock is a manually advanced clock.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*timer]struct{}
	changed chan struct{}
}

type timer struct {
	at time.Time
	ch chan time.Time
}

// New returns a clock that reads start until it is advanced.
func New(start time.Time) *Clock {
	return &Clock{now: start, timers: map[*timer]struct{}{}, changed: make(chan struct{})}
}

// Now returns the current virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Timer returns a channel that receives the virtual time once d has passed on
// this clock, and a function that releases the timer early.
func (c *Clock) Timer(d time.Duration) (<-chan time.Time, func()) {
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

// Advance moves the clock forward by d and fires every timer now due.
func (c *Clock) Advance(d time.Duration) {
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
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Changed returns a channel closed the next time a timer is registered, so a
// test can wait for the code under test to start waiting instead of sleeping.
func (c *Clock) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *Clock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}
