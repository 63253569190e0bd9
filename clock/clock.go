// Package clock is mailflow's one source of time: everything that reads the
// time or waits (the local runtime, the queue store, the pipe, the state
// machine's Wait, Retry and TimeoutSeconds, the tasks, the pacer and the SES
// simulator) takes a Clock, so that one value decides how time passes for the
// whole pipeline.
//
// Four clocks implement it:
//   - Wall, the real time, the default everywhere;
//   - Scaled, time that runs a constant factor faster than the wall clock,
//     for time-scaled benchmarks and soaks: with factor 10, an 8 s retry delay
//     and a 7 min visibility timeout pass in 0.8 s and 42 s;
//   - Virtual, time that moves only when a test advances it;
//   - Skipping, a Virtual clock that also moves by the length of every wait
//     on it, so that waits in a test pass at once.
//
// The asl interpreter knows nothing of this package; it declares the same
// method set (asl.Clock), which every Clock here satisfies.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits on it. Implementations are safe for
// concurrent use.
type Clock interface {
	Now() time.Time
	// Timer returns a channel that receives once d has passed, and a
	// function that releases the timer early.
	Timer(d time.Duration) (<-chan time.Time, func())
	// Sleep waits d, or until ctx ends (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// Wall is the real time.
var Wall Clock = wall{}

type wall struct{}

func (wall) Now() time.Time { return time.Now() }

func (wall) Timer(d time.Duration) (<-chan time.Time, func()) { return wallTimer(d) }

func (wall) Sleep(ctx context.Context, d time.Duration) error { return sleepOn(ctx, wallTimer, d) }

// Or returns c, or Wall when c is nil: the default of an optional Clock field.
func Or(c Clock) Clock {
	if c == nil {
		return Wall
	}
	return c
}

// sleepOn waits on a timer made by timer, or until ctx ends.
func sleepOn(ctx context.Context, timer func(time.Duration) (<-chan time.Time, func()), d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	ch, stop := timer(d)
	defer stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var (
	_ Clock = wall{}
	_ Clock = (*Scaled)(nil)
	_ Clock = (*Virtual)(nil)
)
