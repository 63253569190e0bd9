package asl

import (
	"encoding/json"
	"testing"
)

// AppendDetails writes what EncodeJSON writes for Flatten without the
// envelope fields, for every combination of fields.
func TestAppendDetailsMatchesFlatten(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	ip := func(v int) *int { return &v }
	full := Event{
		ID: 7, PreviousEventID: 6, Type: TaskScheduled,
		Name: "Send <&>", HasInput: true, Input: map[string]any{"b": []any{json.Number("1.50"), true, nil}, "a": "x\u2028"},
		HasOutput: true, Output: "out\n", Error: "States.TaskFailed", HasError: true, Cause: "", HasCause: true,
		Resource: "arn:aws:lambda:us-east-1:000000000000:function:f", ResourceType: "lambda", Region: "us-east-1",
		HasParams: true, Parameters: map[string]any{"FunctionName": "f", "Payload": map[string]any{}},
		TimeoutInSeconds: i64(300), HeartbeatInSeconds: i64(-1), Index: ip(3), Length: ip(10),
		AssignedVariables: map[string]any{"v": json.Number("2")}, Location: "Output/result", State: "S",
	}
	events := []Event{{ID: 1, Type: ExecutionStarted}, full}
	// Each field on its own, too.
	for _, f := range []func(e *Event){
		func(e *Event) { e.Name = full.Name },
		func(e *Event) { e.HasInput, e.Input = true, nil },
		func(e *Event) { e.HasOutput, e.Output = true, full.Output },
		func(e *Event) { e.HasError, e.Error = true, full.Error },
		func(e *Event) { e.HasCause, e.Cause = true, "why" },
		func(e *Event) { e.Resource, e.ResourceType, e.Region = full.Resource, full.ResourceType, full.Region },
		func(e *Event) { e.HasParams, e.Parameters = true, full.Parameters },
		func(e *Event) {
			e.TimeoutInSeconds, e.HeartbeatInSeconds = full.TimeoutInSeconds, full.HeartbeatInSeconds
		},
		func(e *Event) { e.Index, e.Length = full.Index, full.Length },
		func(e *Event) { e.AssignedVariables = map[string]any{} },
		func(e *Event) { e.Location, e.State = full.Location, full.State },
	} {
		e := Event{ID: 2, PreviousEventID: 1, Type: TaskSucceeded}
		f(&e)
		events = append(events, e)
	}
	for i, e := range events {
		flat := e.Flatten()
		delete(flat, "id")
		delete(flat, "previousEventId")
		delete(flat, "type")
		want, err := EncodeJSON(flat)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.AppendDetails([]byte("prefix"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "prefix"+string(want) {
			t.Errorf("event %d:\n got %s\nwant prefix%s", i, got, want)
		}
	}
	bad := Event{HasOutput: true, Output: make(chan int)}
	if _, err := bad.AppendDetails(nil); err == nil {
		t.Error("an unencodable value gave no error")
	}
}
