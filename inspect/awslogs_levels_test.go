package inspect

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/testkit/inspecttest"
	"github.com/mailflow/mailflow/workflow"
)

// The fixtures below follow the log event format of Express executions at
// each logging level: ALL logs every event type, ERROR only the failure
// types (no ExecutionStarted, no state entries), FATAL only the failed,
// timed out and aborted ends of executions.

func levelSource(t *testing.T, files ...string) *LogSource {
	t.Helper()
	f := &inspecttest.FakeLogs{PageSize: 3}
	for _, file := range files {
		if err := f.LoadFile(file); err != nil {
			t.Fatal(err)
		}
	}
	now := time.UnixMilli(1795700000000).Add(time.Hour)
	return &LogSource{API: f, LogGroup: "/aws/vendedlogs/states/mailflow-prod", Clock: clock.NewVirtual(now)}
}

func TestLogSourceKeepsEventsWithUnreadableFields(t *testing.T) {
	t.Parallel()
	x, err := levelSource(t, "testdata/express-malformed.jsonl").Get(context.Background(), "exec-m")
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Events) != 15 {
		t.Fatalf("%d events kept of the 15 logged", len(x.Events))
	}
	want := []string{
		`event 3 (MapStateStarted): details: want an object, got "oops"`,
		`event 6 (TaskScheduled): details.parameters: not JSON: {not json`,
		`event 7 (TaskFailed): details.error: want a string, got 429`,
		`event 9 (TaskSucceeded): details.outputDetails.truncated: want true or false, got {"truncated":"no"}`,
		`event 9 (TaskSucceeded): details.output: not JSON and not marked truncated: {"Payload":`,
		`event 13 (MapIterationSucceeded): details.index: want an integer, got "first"`,
		`event 14 (MapStateSucceeded): event_timestamp: not an integer: "soon"`,
		`event 14 (MapStateSucceeded): the time CloudWatch Logs recorded is shown for it`,
	}
	if got := strings.Join(x.Warnings, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	// What could be read is still there: the item, the retried Send with
	// its failure's cause, and the iteration that ended.
	if x.Status != asl.StatusSucceeded || len(x.Items) != 1 || x.Items[0].MailID != "odd-1" || x.Items[0].Outcome != workflow.OutcomeSent {
		t.Fatalf("execution %s, items %+v", x.Status, x.Items)
	}
	tl := BuildTimeline(x.Events)
	if len(tl.Iterations) != 1 || tl.Iterations[0].Status != RunSucceeded {
		t.Fatalf("iterations %+v", tl.Iterations)
	}
	send := tl.Iterations[0].States[0]
	if send.Name != "Send" || send.Attempts != 2 || len(send.Failures) != 1 || CauseMessage(send.Failures[0].Cause) != "TooManyRequestsException: Maximum sending rate exceeded." {
		t.Errorf("Send run %+v", send)
	}
	// A listing warns of what it read: the start, the end, the outcomes
	// and the failures.
	page, err := levelSource(t, "testdata/express-malformed.jsonl").List(context.Background(), Filter{})
	if err != nil || len(page.Executions) != 1 || page.Executions[0].Summary() != "sent 1" || strings.Join(page.Executions[0].Warnings, "\n") != want[2] {
		t.Fatalf("list %+v %v", page, err)
	}
}

func TestParseLogEventNamesTheUnreadableField(t *testing.T) {
	t.Parallel()
	_, ev, warnings, err := ParseLogEvent(`{"id":"x","type":"PassStateEntered","details":{"name":"Sent"},"previous_event_id":"4","event_timestamp":"1795600000020","execution_arn":"arn:x"}`)
	if err != nil || ev.Name != "Sent" || ev.PreviousID != 4 || len(warnings) != 1 || warnings[0] != `event 0 (PassStateEntered): id: not an integer: "x"` {
		t.Fatalf("%+v %q %v", ev, warnings, err)
	}
}

func TestTimelineStatesEndWithTheExecution(t *testing.T) {
	t.Parallel()
	at := func(ms int) time.Time { return time.UnixMilli(1795700000000 + int64(ms)).UTC() }
	idx := func(i int) *int { return &i }
	for _, tc := range []struct {
		name   string
		events []Event
		want   string // top-level runs, then each iteration and its runs
	}{
		{"a Fail state fails with the execution", []Event{
			{ID: 1, Type: "ExecutionStarted", Timestamp: at(0)},
			{ID: 2, Type: "FailStateEntered", Name: "Reject", Timestamp: at(5)},
			{ID: 3, PreviousID: 2, Type: "ExecutionFailed", Error: "Mail.Rejected", Cause: "no", Timestamp: at(6)},
		}, "Reject:failed:1ms:Mail.Rejected"},
		{"a Wait state is cut short by the timeout", []Event{
			{ID: 1, Type: "ExecutionStarted", Timestamp: at(0)},
			{ID: 2, Type: "WaitStateEntered", Name: "Pause", Timestamp: at(10)},
			{ID: 3, PreviousID: 2, Type: "ExecutionTimedOut", Error: asl.ErrTimeout, Timestamp: at(300000)},
		}, "Pause:aborted:4m59.99s:"},
		{"a Succeed state succeeds with the execution", []Event{
			{ID: 1, Type: "ExecutionStarted", Timestamp: at(0)},
			{ID: 2, Type: "SucceedStateEntered", Name: "Done", Timestamp: at(3)},
			{ID: 3, PreviousID: 2, Type: "ExecutionSucceeded", Timestamp: at(4)},
		}, "Done:succeeded:1ms:"},
		{"a Map iteration in flight ends with the execution", []Event{
			{ID: 1, Type: "ExecutionStarted", Timestamp: at(0)},
			{ID: 2, Type: "MapStateEntered", Name: "ProcessRecords", Timestamp: at(1)},
			{ID: 3, PreviousID: 2, Type: "MapStateStarted", Timestamp: at(1)},
			{ID: 4, PreviousID: 3, Type: "MapIterationStarted", Index: idx(0), Name: "ProcessRecords", Timestamp: at(2)},
			{ID: 5, PreviousID: 4, Type: "TaskStateEntered", Name: "Send", Timestamp: at(3)},
			{ID: 6, PreviousID: 5, Type: "TaskScheduled", Timestamp: at(3)},
			{ID: 7, PreviousID: 3, Type: "MapIterationStarted", Index: idx(1), Name: "ProcessRecords", Timestamp: at(2)},
			{ID: 8, PreviousID: 7, Type: "WaitStateEntered", Name: "Backoff", Timestamp: at(4)},
			{ID: 9, Type: "ExecutionAborted", Timestamp: at(1000)},
		}, "ProcessRecords:aborted:999ms: | 0:aborted Send:aborted:997ms: | 1:aborted Backoff:aborted:996ms:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := BuildTimeline(tc.events)
			runs := func(rs []StateRun) string {
				var s []string
				for _, r := range rs {
					s = append(s, r.Name+":"+r.Status+":"+r.Duration.String()+":"+r.Error)
				}
				return strings.Join(s, " ")
			}
			parts := []string{runs(tl.States)}
			for _, it := range tl.Iterations {
				parts = append(parts, strconv.Itoa(it.Index)+":"+it.Status+" "+runs(it.States))
			}
			if got := strings.Join(parts, " | "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestLogSourceErrorLevel(t *testing.T) {
	t.Parallel()
	src := levelSource(t, "testdata/express-error-level.jsonl")
	ctx := context.Background()
	// A succeeded execution logs only its caught failures at ERROR: no
	// start, no end.
	e, err := src.Get(ctx, "exec-e")
	if err != nil {
		t.Fatal(err)
	}
	if e.LogLevel != LevelError || !e.StartMissing || !e.StartedAt.IsZero() || e.DurationKnown() || e.Duration() != 0 || !e.InputMissing {
		t.Fatalf("exec-e: level %s, start missing %v, started %v, duration known %v, input missing %v", e.LogLevel, e.StartMissing, e.StartedAt, e.DurationKnown(), e.InputMissing)
	}
	if want := time.UnixMilli(1795700000020).UTC(); !e.FirstLoggedAt.Equal(want) {
		t.Errorf("first logged at %v, want %v", e.FirstLoggedAt, want)
	}
	// Each failure is shown, though the state it failed in is not logged.
	tl := BuildTimeline(e.Events)
	if len(tl.States) != 2 || tl.States[0].Error != "Mail.InvalidMessage" || tl.States[1].Error != "Mail.Throttled" ||
		tl.States[0].Status != RunFailed || !tl.States[0].Missing || tl.States[0].Duration != 0 || !tl.States[0].Entered.IsZero() {
		t.Fatalf("runs %+v", tl.States)
	}
	// A failed execution: its end, error and iteration are known.
	f, err := src.Get(ctx, "exec-f")
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != asl.StatusFailed || f.Error != "States.Runtime" || f.StoppedAt.IsZero() || !f.StartedAt.IsZero() || f.DurationKnown() || !f.InputMissing {
		t.Fatalf("exec-f %+v", f)
	}
	tl = BuildTimeline(f.Events)
	// The task failure is the iteration's: the iteration's end follows it.
	if len(tl.States) != 1 || tl.States[0].Type != "Map" || tl.States[0].Status != RunFailed || len(tl.Iterations) != 1 ||
		tl.Iterations[0].Status != RunFailed || tl.Iterations[0].Error != asl.ErrTimeout || len(tl.Iterations[0].States) != 1 {
		t.Fatalf("timeline %+v", tl)
	}
	// A listing orders executions whose start is unknown by their first
	// logged event, and a time range selects them by it.
	page, err := src.List(ctx, Filter{})
	if err != nil || len(page.Executions) != 2 || page.Executions[0].Name != "exec-f" || page.Executions[1].Name != "exec-e" {
		t.Fatalf("list %+v %v", page, err)
	}
	page, err = src.List(ctx, Filter{Since: time.UnixMilli(1795700000000 + 1000)})
	if err != nil || len(page.Executions) != 1 || page.Executions[0].Name != "exec-f" {
		t.Fatalf("since: %+v %v", page, err)
	}
	page, err = src.List(ctx, Filter{Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("limit 1: %+v %v", page, err)
	}
	next, err := src.List(ctx, Filter{Limit: 1, Cursor: page.NextCursor})
	if err != nil || len(next.Executions) != 1 || next.Executions[0].Name != "exec-e" {
		t.Fatalf("second page %+v %v", next, err)
	}
}

func TestLogSourceFatalLevel(t *testing.T) {
	t.Parallel()
	src := levelSource(t, "testdata/express-fatal-level.jsonl")
	for _, tc := range []struct {
		name   string
		status asl.Status
		error  string
	}{{"exec-g", asl.StatusTimedOut, asl.ErrTimeout}, {"exec-h", asl.StatusFailed, "States.Runtime"}} {
		x, err := src.Get(context.Background(), tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if x.LogLevel != LevelFatal || x.Status != tc.status || x.Error != tc.error || !x.StartMissing || x.DurationKnown() || !x.InputMissing || x.StoppedAt.IsZero() || len(x.Items) != 0 {
			t.Errorf("%s: %+v", tc.name, x)
		}
	}
}

func TestLogSourceTruncatedInputAndOutput(t *testing.T) {
	t.Parallel()
	x, err := levelSource(t, "testdata/express-truncated.jsonl").Get(context.Background(), "exec-t")
	if err != nil {
		t.Fatal(err)
	}
	if x.LogLevel != LevelAll || x.StartMissing || x.InputMissing || !x.InputTruncated || len(x.Input) != 0 ||
		!x.OutputTruncated || len(x.Output) != 0 || x.Duration() != 6*time.Millisecond || len(x.Warnings) != 0 {
		t.Fatalf("execution %+v", x)
	}
	// The record comes from the iteration's own input, which is whole.
	if len(x.Items) != 1 || x.Items[0].MailID != "trunc-1" || x.Items[0].Outcome != workflow.OutcomeSent || !json.Valid([]byte(x.Items[0].Body)) {
		t.Fatalf("items %+v", x.Items)
	}
	var mapRun *StateRun
	for _, ev := range x.Events {
		if ev.Type == "MapStateExited" && (!ev.OutputTruncated || ev.OutputText == "" || len(ev.Output) != 0) {
			t.Errorf("Map output %+v", ev)
		}
	}
	tl := BuildTimeline(x.Events)
	mapRun = &tl.States[0]
	if !mapRun.Truncated || mapRun.Status != RunSucceeded {
		t.Errorf("Map run %+v", mapRun)
	}
}
