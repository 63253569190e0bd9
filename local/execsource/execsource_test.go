package execsource_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/execsource"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

// A running execution's items are the records of its input, unfinished
// until their iteration reports an outcome, in Get and in List alike.
func TestARunningExecutionHasTheItemsOfItsInput(t *testing.T) {
	t.Parallel()
	store, err := execstore.Open(filepath.Join(t.TempDir(), "executions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	input, _ := json.Marshal([]workflow.Record{
		{MessageID: "m-0", Body: `{"mailId":"first"}`},
		{MessageID: "m-1", Body: `{"mailId":"second"}`},
	})
	now := time.Now().UTC()
	id := "arn:aws:states:us-east-1:000000000000:express:mailflow:run-1:x"
	if err := store.Start(context.Background(), execstore.Execution{ID: id, Name: "run-1", Status: asl.StatusRunning, Input: input, StartedAt: now}); err != nil {
		t.Fatal(err)
	}
	// The history so far: the first record's iteration has ended as sent.
	idx := 0
	out, _ := json.Marshal(workflow.ItemResult{MessageID: "m-0", MailID: "first", Outcome: workflow.OutcomeSent})
	details := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	history := []inspect.Event{
		{ID: 1, Type: "ExecutionStarted", Timestamp: now, Details: details(map[string]any{"input": json.RawMessage(input)})},
		{ID: 2, PreviousID: 1, Type: "MapStateEntered", Timestamp: now, Details: details(map[string]any{"name": "ProcessRecords"})},
		{ID: 3, PreviousID: 2, Type: "MapIterationStarted", Timestamp: now, Details: details(map[string]any{"name": "ProcessRecords", "index": idx})},
		{ID: 4, PreviousID: 3, Type: "PassStateEntered", Timestamp: now, Details: details(map[string]any{"name": "Sent"})},
		{ID: 5, PreviousID: 4, Type: "PassStateExited", Timestamp: now, Details: details(map[string]any{"name": "Sent", "output": json.RawMessage(out)})},
		{ID: 6, PreviousID: 5, Type: "MapIterationSucceeded", Timestamp: now, Details: details(map[string]any{"name": "ProcessRecords", "index": idx})},
	}
	for i := range history {
		history[i].ReadDetails()
	}
	src := execsource.Source{Store: store, Running: func(string) ([]inspect.Event, bool) { return history, true }}
	x, err := src.Get(context.Background(), "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Items) != 2 || x.Items[0].MailID != "first" || x.Items[1].MailID != "second" || x.Items[1].Outcome != workflow.OutcomeUnfinished {
		t.Fatalf("items of the running execution: %+v", x.Items)
	}
	if x.Items[0].Outcome != workflow.OutcomeSent {
		t.Errorf("the first record's iteration ended as sent, its item says %s", x.Items[0].Outcome)
	}
	page, err := src.List(context.Background(), inspect.Filter{Status: string(asl.StatusRunning)})
	if err != nil || len(page.Executions) != 1 || len(page.Executions[0].Items) != 2 {
		t.Fatalf("the listing of the running execution: %+v %v", page, err)
	}
}
