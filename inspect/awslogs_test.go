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

func fixtureSource(t *testing.T) (*LogSource, *inspecttest.FakeLogs) {
	t.Helper()
	f := &inspecttest.FakeLogs{PageSize: 4}
	for _, file := range []string{"testdata/express-with-data.jsonl", "testdata/express-without-data.jsonl"} {
		if err := f.LoadFile(file); err != nil {
			t.Fatal(err)
		}
	}
	now := time.UnixMilli(1795600000000).Add(time.Hour)
	return &LogSource{API: f, LogGroup: "/aws/vendedlogs/states/mailflow-prod", Clock: clock.NewVirtual(now)}, f
}

func TestParseLogEvent(t *testing.T) {
	t.Parallel()
	_, ev, warnings, err := ParseLogEvent(`{"id":"12","type":"TaskFailed","details":{"cause":"boom","error":"Mail.Transient","resource":"invoke","resourceType":"lambda"},"previous_event_id":"11","event_timestamp":"1795600000020","execution_arn":"arn:aws:states:eu-west-1:1:express:m:n:u","redrive_count":"0"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	if ev.ID != 12 || ev.PreviousID != 11 || ev.Error != "Mail.Transient" || ev.Cause != "boom" || ev.Timestamp.UnixMilli() != 1795600000020 || ev.ResourceType != "lambda" {
		t.Fatalf("%+v", ev)
	}
	// Numbers where strings are documented are accepted too.
	if _, ev, _, err = ParseLogEvent(`{"id":3,"type":"PassStateEntered","details":{"name":"X","input":"{\"a\":1}","inputDetails":{"truncated":false}},"previous_event_id":2,"event_timestamp":1,"execution_arn":"arn:x"}`); err != nil || string(ev.Input) != `{"a":1}` {
		t.Fatalf("%+v %v", ev, err)
	}
	for _, bad := range []string{`not json`, `{"message":"x"}`, `{"id":"1","type":7,"execution_arn":"a"}`} {
		if _, _, _, err := ParseLogEvent(bad); err == nil {
			t.Errorf("%s: parsed", bad)
		}
	}
}

func TestLogSourceWithExecutionData(t *testing.T) {
	t.Parallel()
	src, _ := fixtureSource(t)
	x, err := src.Get(context.Background(), "exec-a")
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != asl.StatusSucceeded || x.Name != "exec-a" || x.StateMachine != "mailflow-prod" || x.Duration() != 763*time.Millisecond {
		t.Fatalf("execution %+v", x)
	}
	if len(x.Items) != 2 {
		t.Fatalf("items %+v", x.Items)
	}
	sent, dead := x.Items[0], x.Items[1]
	if sent.MailID != "welcome-1" || sent.Outcome != workflow.OutcomeSent || sent.MessageID != "m-0" || !strings.Contains(sent.Body, `"mailId":"welcome-1"`) {
		t.Errorf("item 0 %+v", sent)
	}
	if dead.MailID != "bad-1" || dead.Outcome != workflow.OutcomeDeadLettered || dead.Error != "Mail.InvalidMessage" || dead.Cause != "invalid message: to[0]: not an e-mail address" {
		t.Errorf("item 1 %+v", dead)
	}
	if !x.Failed() {
		t.Error("an execution with a dead-lettered item counts as failed")
	}
	tl := BuildTimeline(x.Events)
	if len(tl.States) != 1 || tl.States[0].Name != "ProcessRecords" || tl.States[0].Type != "Map" || tl.States[0].Status != RunSucceeded {
		t.Fatalf("top states %+v", tl.States)
	}
	if len(tl.Iterations) != 2 {
		t.Fatalf("iterations %+v", tl.Iterations)
	}
	names := func(runs []StateRun) string {
		var s []string
		for _, r := range runs {
			s = append(s, r.Name+":"+r.Status)
		}
		return strings.Join(s, " ")
	}
	// The iterations ran concurrently; previous_event_id chains separate them.
	if got := names(tl.Iterations[0].States); got != "AcquireLock:succeeded AlreadySent?:succeeded FetchAttachments:succeeded Send:succeeded Sent:succeeded" {
		t.Errorf("iteration 0: %s", got)
	}
	if got := names(tl.Iterations[1].States); got != "AcquireLock:failed DeadLetter:succeeded DeadLettered:succeeded" {
		t.Errorf("iteration 1: %s", got)
	}
	send := tl.Iterations[0].States[3]
	if send.Attempts != 2 || send.Retries != 1 || len(send.Failures) != 1 || send.Failures[0].Error != "Mail.Throttled" || send.Duration != 679*time.Millisecond {
		t.Errorf("Send run %+v", send)
	}
	acquire := tl.Iterations[1].States[0]
	if acquire.Error != "Mail.InvalidMessage" || CauseMessage(acquire.Cause) != "invalid message: to[0]: not an e-mail address" || acquire.Duration != 23*time.Millisecond {
		t.Errorf("AcquireLock run %+v", acquire)
	}
	if tl.Iterations[1].Outcome != workflow.OutcomeDeadLettered || tl.Iterations[1].MessageID != "m-1" {
		t.Errorf("iteration 1 %+v", tl.Iterations[1])
	}
	// The same by ARN.
	if y, err := src.Get(context.Background(), x.ID); err != nil || y.ID != x.ID {
		t.Fatalf("by ARN: %v %v", y, err)
	}
}

func TestLogSourceWithoutExecutionData(t *testing.T) {
	t.Parallel()
	src, _ := fixtureSource(t)
	x, err := src.Get(context.Background(), "exec-b")
	if err != nil {
		t.Fatal(err)
	}
	if !x.InputMissing || len(x.Input) != 0 || len(x.Items) != 1 {
		t.Fatalf("execution %+v", x)
	}
	it := x.Items[0]
	if it.Outcome != workflow.OutcomeRetryLater || it.Error != "Mail.LockBusy" || it.Cause != "another execution holds the lease" || it.Body != "" {
		t.Errorf("item %+v", it)
	}
	tl := BuildTimeline(x.Events)
	if r := tl.Iterations[0].States[0]; !r.Missing || r.Status != RunFailed {
		t.Errorf("run %+v", r)
	}
	// Replay cannot invent the body: it says so and enqueues nothing.
	res, err := Replay(context.Background(), x, ReplayOptions{}, &Queues{}, nil, time.Now(), nil)
	if err != nil || len(res) != 1 || res[0].Action != ActionSkipped || !strings.Contains(res[0].Note, "body is unknown") {
		t.Fatalf("replay %+v %v", res, err)
	}

	c, err := src.Get(context.Background(), "exec-c")
	if err != nil || c.Status != asl.StatusFailed || c.Error != "States.DataLimitExceeded" || !c.Failed() {
		t.Fatalf("exec-c %+v %v", c, err)
	}
	// Best-effort delivery: an execution whose start was lost.
	// Its events carry execution data, so the input is logged: only its
	// event is missing, and so is the start time.
	d, err := src.Get(context.Background(), "exec-d")
	if err != nil || d.InputMissing || !d.StartMissing || !d.StartedAt.IsZero() || d.DurationKnown() || len(d.Items) != 1 || d.Items[0].MailID != "late-1" || d.Items[0].Outcome != workflow.OutcomeSent {
		t.Fatalf("exec-d %+v %v", d, err)
	}
}

func TestLogSourceTruncatedInput(t *testing.T) {
	t.Parallel()
	// A batch whose escaped input is over 248 KB: Step Functions logs the
	// first 248 KB of it and marks it truncated; each iteration's input (one
	// record) is whole.
	arn := "arn:aws:states:eu-west-1:123456789012:express:mailflow-prod:exec-big:55555555-5555-5555-5555-555555555555"
	var records []map[string]any
	for i := range 40 {
		body, _ := json.Marshal(map[string]any{"version": 1, "mailId": "big-" + strconv.Itoa(i), "to": []string{"a@example.org"}, "subject": "s", "text": strings.Repeat("x", 7000)})
		records = append(records, map[string]any{"messageId": "mb-" + strconv.Itoa(i), "body": string(body)})
	}
	batch, _ := json.Marshal(records)
	escaped, _ := json.Marshal(string(batch))
	if len(escaped) <= 248*1024 {
		t.Fatalf("the fixture batch is only %d bytes escaped", len(escaped))
	}
	truncated := string(batch)[:248*1024-len(escaped)+len(batch)]
	line := func(id, prev int, typ string, details map[string]any) string {
		b, _ := json.Marshal(map[string]any{"id": strconv.Itoa(id), "previous_event_id": strconv.Itoa(prev), "type": typ, "details": details,
			"event_timestamp": strconv.Itoa(1795600000000 + id), "execution_arn": arn, "redrive_count": "0"})
		return string(b)
	}
	rec7, _ := json.Marshal(records[7])
	f := &inspecttest.FakeLogs{PageSize: 100}
	for _, l := range []string{
		line(1, 0, "ExecutionStarted", map[string]any{"input": truncated, "inputDetails": map[string]any{"truncated": true}}),
		line(2, 0, "MapStateEntered", map[string]any{"name": "ProcessRecords", "input": truncated, "inputDetails": map[string]any{"truncated": true}}),
		line(3, 2, "MapStateStarted", map[string]any{"length": 40}),
		line(4, 3, "MapIterationStarted", map[string]any{"index": 7, "name": "ProcessRecords"}),
		line(5, 4, "TaskStateEntered", map[string]any{"name": "AcquireLock", "input": string(rec7), "inputDetails": map[string]any{"truncated": false}}),
		line(6, 5, "TaskScheduled", map[string]any{"resource": "invoke", "resourceType": "lambda"}),
		line(7, 6, "TaskFailed", map[string]any{"error": "Mail.Transient", "cause": "connection reset"}),
		line(8, 7, "PassStateEntered", map[string]any{"name": "RetryLater"}),
		line(9, 8, "PassStateExited", map[string]any{"name": "RetryLater", "output": `{"messageId":"mb-7","outcome":"retry-later","error":"Mail.Transient","retryLater":true,"failure":{"itemIdentifier":"mb-7"}}`, "outputDetails": map[string]any{"truncated": false}}),
		line(10, 9, "MapIterationSucceeded", map[string]any{"index": 7, "name": "ProcessRecords"}),
	} {
		if len(l) > 256*1024 {
			t.Fatalf("a log event is %d bytes, over CloudWatch's 256 KB", len(l))
		}
		f.Add(l)
	}
	src := &LogSource{API: f, LogGroup: "g", Clock: clock.NewVirtual(time.UnixMilli(1795600000000).Add(time.Minute))}
	x, err := src.Get(context.Background(), "exec-big")
	if err != nil {
		t.Fatal(err)
	}
	if !x.InputTruncated || len(x.Input) != 0 || x.Status != asl.StatusRunning {
		t.Fatalf("execution: truncated %v, input %d bytes, status %s", x.InputTruncated, len(x.Input), x.Status)
	}
	if len(x.Items) != 8 {
		t.Fatalf("%d items, want 8 (up to the highest iteration seen)", len(x.Items))
	}
	it := x.Items[7]
	if it.MessageID != "mb-7" || it.MailID != "big-7" || it.Outcome != workflow.OutcomeRetryLater || it.Body != records[7]["body"] || it.Error != "Mail.Transient" {
		t.Errorf("item 7: %+v", it)
	}
	if x.Items[0].Outcome != workflow.OutcomeUnfinished || x.Items[0].Body != "" {
		t.Errorf("item 0: %+v", x.Items[0])
	}
	tl := BuildTimeline(x.Events)
	if !tl.States[0].Truncated || tl.States[0].InputText == "" {
		t.Errorf("Map run: %+v", tl.States[0])
	}
}

func TestLogSourceList(t *testing.T) {
	t.Parallel()
	src, f := fixtureSource(t)
	ctx := context.Background()
	page, err := src.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range page.Executions {
		names = append(names, x.Name+":"+x.Summary())
	}
	if got := strings.Join(names, " | "); got != "exec-d:sent 1 | exec-c:unfinished 1 | exec-b:retry-later 1 | exec-a:dead-lettered 1, sent 1" {
		t.Fatalf("list: %s", got)
	}
	for _, p := range f.Patterns() {
		if !strings.HasPrefix(p, `{ $.type = "ExecutionStarted" ||`) {
			t.Errorf("pattern %q", p)
		}
	}
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Filter{Status: "failed"}, "exec-c exec-b exec-a"},
		{Filter{Status: string(asl.StatusFailed)}, "exec-c"},
		{Filter{Outcome: string(workflow.OutcomeSent)}, "exec-d exec-a"},
		{Filter{MailID: "bad-1"}, "exec-a"},
		{Filter{MailID: "nobody"}, ""},
		{Filter{Since: time.UnixMilli(1795600000000 + 60000)}, "exec-d exec-c exec-b"},
		{Filter{Until: time.UnixMilli(1795600000000 + 60000)}, "exec-a"},
		{Filter{Limit: 2}, "exec-d exec-c"},
	} {
		page, err := src.List(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, x := range page.Executions {
			got = append(got, x.Name)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%+v: %v, want %s", tc.f, got, tc.want)
		}
		if tc.f.Limit == 2 {
			next, err := src.List(ctx, Filter{Limit: 2, Cursor: page.NextCursor})
			if err != nil || len(next.Executions) != 2 || next.Executions[0].Name != "exec-b" || next.NextCursor != "" {
				t.Errorf("second page %+v %v", next, err)
			}
		}
	}
	mails, err := src.MailExecutions(ctx, "welcome-1")
	if err != nil || len(mails) != 2 || mails[0].Item.Outcome != workflow.OutcomeUnfinished || !strings.Contains(mails[0].ExecutionID, "exec-c") ||
		mails[1].Item.Outcome != workflow.OutcomeSent || !strings.Contains(mails[1].ExecutionID, "exec-a") {
		t.Fatalf("mail executions %+v %v", mails, err)
	}
	if _, err := src.Get(ctx, "exec-zzz"); err == nil || !strings.Contains(err.Error(), "execution not found") {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := (&LogSource{API: f}).List(ctx, Filter{}); err == nil {
		t.Fatal("a source without a log group listed")
	}
}
