package clock

import (
	"context"
	"testing"
	"time"
)

func TestSkippingWaitsMoveTheClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewSkipping(start)
	if err := c.Sleep(context.Background(), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := c.Now().Sub(start); got != 3*time.Second {
		t.Fatalf("after Sleep(3s) the clock moved %s", got)
	}
	ch, stop := c.Timer(2 * time.Second)
	defer stop()
	select {
	case got := <-ch:
		if !got.Equal(start.Add(5 * time.Second)) {
			t.Fatalf("timer fired at %v", got)
		}
	default:
		t.Fatal("the timer had not fired on return")
	}
	c.Advance(time.Second)
	if got := c.Now().Sub(start); got != 6*time.Second {
		t.Fatalf("after Advance(1s) the clock moved %s in all", got)
	}
	for _, d := range []time.Duration{0, -time.Second} {
		if err := c.Sleep(context.Background(), d); err != nil {
			t.Fatalf("Sleep(%s): %v", d, err)
		}
		ch, _ := c.Timer(d)
		<-ch
	}
	if got := c.Now().Sub(start); got != 6*time.Second {
		t.Fatalf("waits of zero or less moved the clock to +%s", got)
	}
}

func TestSkippingFiresVirtualTimers(t *testing.T) {
	c := NewSkipping(time.Unix(0, 0))
	// A timer taken through the embedded Virtual waits for the clock to
	// reach it; another goroutine's wait gets it there.
	ch, stop := c.Virtual.Timer(time.Minute)
	defer stop()
	if err := c.Sleep(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("fired early")
	default:
	}
	if err := c.Sleep(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("not fired when the wait reached it")
	}
}

func TestSkippingSleepHonoursContext(t *testing.T) {
	start := time.Unix(0, 0)
	c := NewSkipping(start)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err == nil {
		t.Fatal("a canceled sleep returned nil")
	}
	if !c.Now().Equal(start) {
		t.Fatalf("a canceled sleep moved the clock to %v", c.Now())
	}
}
