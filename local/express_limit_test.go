package local

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/execstore"
)

// TestExpressLimitOnTheClock: the five-minute Express limit passes on the
// runtime's clock, like every other wait, so a virtual clock moved past it
// times out an execution whose task never returns, with no wall time spent.
func TestExpressLimitOnTheClock(t *testing.T) {
	t.Parallel()
	// No TimeoutSeconds: only the Express limit bounds the execution.
	def, err := asl.Parse([]byte(`{"StartAt":"Stall","States":{"Stall":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:stall","End":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	reg := asl.NewRegistry()
	reg.Register("arn:aws:lambda:us-east-1:000000000000:function:stall", asl.TaskHandlerFunc(func(ctx context.Context, _ *asl.TaskRequest) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	store, err := execstore.Open(t.TempDir() + "/executions.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	x := &executor{def: def, registry: reg, store: store, stateMachine: "m", region: "us-east-1", account: "000000000000",
		clock: c, running: map[string]*recorder{}}

	done := make(chan asl.Status, 1)
	go func() {
		out, err := x.Invoke(context.Background(), []byte(`[]`))
		if err != nil {
			t.Error(err)
		}
		if out.Status != asl.StatusTimedOut {
			t.Logf("execution: %s %s: %s", out.Status, out.Error, out.Cause)
		} else if out.Error != asl.ErrTimeout || !strings.Contains(out.Cause, "Express") {
			// The pipe dead-letters a record with them.
			t.Errorf("timed out with error %q, cause %q; want %s and a cause naming the Express limit", out.Error, out.Cause, asl.ErrTimeout)
		}
		done <- out.Status
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the task never started")
	case st := <-done:
		t.Fatalf("the execution ended (%s) before its task started", st)
	}
	c.Advance(ExpressTimeout - time.Second)
	select {
	case st := <-done:
		t.Fatalf("stopped before the limit: %s", st)
	case <-time.After(50 * time.Millisecond):
	}
	c.Advance(time.Second)
	select {
	case st := <-done:
		if st != asl.StatusTimedOut {
			t.Fatalf("status %s, want %s", st, asl.StatusTimedOut)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the execution outlived the Express limit on its clock")
	}
}
