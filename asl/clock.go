package asl

import (
	"context"
	"sync"
	"time"
)

// Clock is the time an execution runs on: Wait states, Retry delays, the
// execution's TimeoutSeconds, task TimeoutSeconds and HeartbeatSeconds, the
// context object's times and $now/$millis all read it. Options.Clock nil is
// the wall clock. The method set is the one of the module's clock.Clock
// (asl does not import it), so any of those clocks can be passed as it is.
// Unless Options.Sequential is set, a definition with Map or Parallel
// states reads the Clock from several goroutines: it must be safe for that.
type Clock interface {
	Now() time.Time
	// Timer returns a channel that receives once d has passed, and a
	// function that releases the timer early.
	Timer(d time.Duration) (<-chan time.Time, func())
	// Sleep waits d, or until ctx ends (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// wallClock is the default Clock. Task deadlines on it use the runtime's
// timers directly (context.WithTimeout, time.AfterFunc): no goroutine per
// task, and the handler's context reports its deadline.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// afterFunc calls f in its own goroutine once d has passed on clk, unless
// the returned stop is called first.
func afterFunc(clk Clock, d time.Duration, f func()) (stop func()) {
	ch, release := clk.Timer(d)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			f()
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			release()
			close(done)
		})
	}
}

// withTimeout is context.WithTimeoutCause on clk.
func withTimeout(ctx context.Context, clk Clock, d time.Duration, cause error) (context.Context, func()) {
	if _, wall := clk.(wallClock); wall {
		return context.WithTimeoutCause(ctx, d, cause)
	}
	c, cancel := context.WithCancelCause(ctx)
	stop := afterFunc(clk, d, func() { cancel(cause) })
	return c, func() {
		stop()
		cancel(nil)
	}
}

// deadman calls f once d passes on a clock without reset being called;
// it is the HeartbeatSeconds timer.
type deadman struct {
	mu    sync.Mutex
	clk   Clock
	d     time.Duration
	f     func()
	wall  *time.Timer
	stopT func()
	ended bool
}

func newDeadman(clk Clock, d time.Duration, f func()) *deadman {
	m := &deadman{clk: clk, d: d, f: f}
	if _, wall := clk.(wallClock); wall {
		m.wall = time.AfterFunc(d, f)
		return m
	}
	m.stopT = afterFunc(clk, d, f)
	return m
}

// reset starts the period again.
func (m *deadman) reset() {
	if m.wall != nil {
		m.wall.Reset(m.d)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ended {
		return
	}
	m.stopT()
	m.stopT = afterFunc(m.clk, m.d, m.f)
}

// stop releases the timer.
func (m *deadman) stop() {
	if m.wall != nil {
		m.wall.Stop()
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ended = true
	m.stopT()
}
