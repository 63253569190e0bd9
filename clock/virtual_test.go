package clock

import (
	"testing"
	"time"
)

func TestTimerFiresOnAdvance(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewVirtual(start)
	changed := c.Changed()
	ch, stop := c.Timer(10 * time.Second)
	defer stop()
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed after a timer was registered")
	}
	c.Advance(9 * time.Second)
	select {
	case <-ch:
		t.Fatal("timer fired early")
	default:
	}
	if c.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1", c.Pending())
	}
	c.Advance(time.Second)
	select {
	case got := <-ch:
		if !got.Equal(start.Add(10 * time.Second)) {
			t.Fatalf("fired at %v", got)
		}
	default:
		t.Fatal("timer did not fire when due")
	}
	if c.Pending() != 0 {
		t.Fatalf("Pending = %d after firing", c.Pending())
	}
}

func TestStoppedTimerNeverFires(t *testing.T) {
	t.Parallel()
	c := NewVirtual(time.Unix(0, 0))
	ch, stop := c.Timer(time.Second)
	stop()
	c.Advance(time.Hour)
	select {
	case <-ch:
		t.Fatal("stopped timer fired")
	default:
	}
}
