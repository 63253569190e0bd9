package asl_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
)

// newManualClock is time that moves only when the test advances it.
func newManualClock() *clock.Virtual {
	return clock.NewVirtual(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
}

// waitTimers waits (in real time) until n timers are pending on c.
func waitTimers(t *testing.T, c *clock.Virtual, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Pending() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d timers pending, want %d", c.Pending(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// blockingTask is a handler that waits for its context to end, answering
// commands meanwhile: "beat" sends a heartbeat, anything else only reports
// whether the context has ended.
type blockingTask struct {
	started chan struct{}
	cmd     chan string
	reply   chan error
	sawEnd  chan error
}

func newBlockingTask() *blockingTask {
	return &blockingTask{started: make(chan struct{}), cmd: make(chan string), reply: make(chan error), sawEnd: make(chan error, 1)}
}

func (b *blockingTask) Invoke(ctx context.Context, _ *asl.TaskRequest) (any, error) {
	close(b.started)
	for {
		select {
		case <-ctx.Done():
			b.sawEnd <- ctx.Err()
			return nil, ctx.Err()
		case c := <-b.cmd:
			if c == "beat" {
				asl.Heartbeat(ctx)
			}
			b.reply <- ctx.Err()
		}
	}
}

func (b *blockingTask) ask(t *testing.T, c string) error {
	t.Helper()
	select {
	case b.cmd <- c:
	case <-time.After(10 * time.Second):
		t.Fatal("the task is not running")
	}
	return <-b.reply
}

func startOnClock(t *testing.T, def string, clk asl.Clock, task asl.TaskHandler) (<-chan *asl.Result, *[]string) {
	t.Helper()
	d := mustParse(t, def)
	reg := asl.NewRegistry()
	reg.Register("arn:aws:states:::sqs:sendMessage", task)
	var mu sync.Mutex
	var events []string
	done := make(chan *asl.Result, 1)
	go func() {
		res, err := asl.Execute(context.Background(), d, []byte(`{}`), asl.Options{Registry: reg, Clock: clk,
			Observer: asl.ObserverFunc(func(e *asl.Event) {
				mu.Lock()
				defer mu.Unlock()
				events = append(events, string(e.Type))
			})})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	return done, &events
}

func waitResult(t *testing.T, done <-chan *asl.Result) *asl.Result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the execution did not end")
		return nil
	}
}

// TimeoutSeconds passes on the execution's clock, not on the wall clock.
func TestTaskTimeoutOnClock(t *testing.T) {
	clk := newManualClock()
	task := newBlockingTask()
	wallStart := time.Now()
	done, events := startOnClock(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","TimeoutSeconds":3600,"End":true}}}`, clk, task)
	<-task.started
	waitTimers(t, clk, 1)
	clk.Advance(3599 * time.Second)
	if err := task.ask(t, "probe"); err != nil {
		t.Fatalf("cancelled before the timeout: %v", err)
	}
	clk.Advance(time.Second)
	r := waitResult(t, done)
	if err := <-task.sawEnd; err == nil {
		t.Error("the task did not see its context end")
	}
	if r.Status != asl.StatusFailed || r.Error != asl.ErrTimeout {
		t.Fatalf("%+v", r)
	}
	if got := (*events)[len(*events)-2]; got != string(asl.TaskTimedOut) {
		t.Errorf("events %v", *events)
	}
	if el := time.Since(wallStart); el > 5*time.Second {
		t.Errorf("took %v of wall time", el)
	}
}

// HeartbeatSeconds passes on the clock too, and a heartbeat restarts it.
func TestHeartbeatOnClock(t *testing.T) {
	clk := newManualClock()
	task := newBlockingTask()
	done, _ := startOnClock(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","TimeoutSeconds":3600,"HeartbeatSeconds":10,"End":true}}}`, clk, task)
	<-task.started
	waitTimers(t, clk, 2)
	clk.Advance(6 * time.Second)
	if err := task.ask(t, "beat"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(6 * time.Second) // 12 s since the start, 6 since the beat
	if err := task.ask(t, "probe"); err != nil {
		t.Fatalf("heartbeat deadline not restarted: %v", err)
	}
	clk.Advance(4 * time.Second)
	r := waitResult(t, done)
	if r.Status != asl.StatusFailed || r.Error != asl.ErrHeartbeatTimeout {
		t.Fatalf("%+v", r)
	}
}

// Wait states and Retry delays wait on the clock.
func TestWaitAndRetryOnClock(t *testing.T) {
	clk := newManualClock()
	calls := 0
	task := asl.TaskHandlerFunc(func(context.Context, *asl.TaskRequest) (any, error) {
		calls++
		if calls == 1 {
			return nil, asl.NewError("Busy", "")
		}
		return "ok", nil
	})
	done, _ := startOnClock(t, `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"Next":"T"},
		"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","Retry":[{"ErrorEquals":["Busy"],"IntervalSeconds":30}],"End":true}}}`, clk, task)
	start := clk.Now()
	waitTimers(t, clk, 1)
	clk.Advance(60 * time.Second)
	waitTimers(t, clk, 1)
	clk.Advance(30 * time.Second)
	r := waitResult(t, done)
	if r.Status != asl.StatusSucceeded || calls != 2 || clk.Now().Sub(start) != 90*time.Second {
		t.Fatalf("%+v after %d calls", r, calls)
	}
}
