package local_test

import (
	"context"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/execsource"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sendertest"
)

// The history of an execution under way can be read before it stops; once
// it has stopped, the store has it.
func TestHistoryOfARunningExecution(t *testing.T) {
	t.Parallel()
	held := sendertest.NewHeld(1)
	rt, c, done := startWith(t, local.Config{}, local.Hooks{WrapSender: func(s sender.Sender) sender.Sender { held.Sender = s; return held }})
	t.Cleanup(held.Release)
	if _, err := c.Send(context.Background(), client.Mail{MailID: "slow-1", To: []string{"ann@example.org"}, Subject: "Hi", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.Entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the send never started")
	}
	ctx := context.Background()
	page, err := rt.Executions().List(ctx, execstore.Filter{Status: asl.StatusRunning})
	if err != nil || len(page.Executions) != 1 {
		held.Release()
		t.Fatalf("running executions: %v, %v", page.Executions, err)
	}
	id := page.Executions[0].ID
	src := execsource.Source{Store: rt.Executions(), Running: rt.RunningEvents}
	x, err := src.Get(ctx, id)
	if err != nil {
		held.Release()
		t.Fatal(err)
	}
	if x.Status != asl.StatusRunning || !hasEvent(x.Events, "TaskScheduled", "") || hasEvent(x.Events, "ExecutionSucceeded", "") {
		held.Release()
		t.Fatalf("running execution: status %s, %d events", x.Status, len(x.Events))
	}
	if withoutRuntime, _ := (execsource.Source{Store: rt.Executions()}).Get(ctx, id); len(withoutRuntime.Events) != 0 {
		t.Errorf("the store had %d events of a running execution", len(withoutRuntime.Events))
	}
	held.Release()
	waitItems(t, done, 1)
	if _, ok := rt.RunningEvents(id); ok {
		t.Error("a finished execution is still reported running")
	}
	x, err = src.Get(ctx, id)
	if err != nil || x.Status != asl.StatusSucceeded || !hasEvent(x.Events, "ExecutionSucceeded", "") {
		t.Fatalf("finished execution: %+v, %v", x, err)
	}
}

func hasEvent(evs []inspect.Event, typ, name string) bool {
	for _, ev := range evs {
		if ev.Type == typ && (name == "" || ev.Name == name) {
			return true
		}
	}
	return false
}
