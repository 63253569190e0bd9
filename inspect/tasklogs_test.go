package inspect

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/testkit/inspecttest"
	"github.com/mailflow/mailflow/workflow"
)

// Task log groups as the stack names them in tests.
var testTaskGroups = map[string]string{
	TaskAcquireLock:      "/aws/lambda/mailflow-AcquireLock",
	TaskFetchAttachments: "/aws/lambda/mailflow-FetchAttachments",
	TaskSend:             "/aws/lambda/mailflow-Send",
	TaskReleaseLock:      "/aws/lambda/mailflow-ReleaseLock",
}

// TaskLogGroups loads the recorded task log groups and the state machine's
// log at ERROR of the same batch.
func taskLogSource(t *testing.T, warn func(string)) *TaskLogSource {
	t.Helper()
	groups := inspecttest.LogGroups{}
	files := map[string]string{TaskAcquireLock: "acquirelock", TaskFetchAttachments: "fetchattachments", TaskSend: "send", TaskReleaseLock: "releaselock"}
	for task, group := range testTaskGroups {
		f := &inspecttest.FakeLogs{PageSize: 4}
		if err := f.LoadEventsFile("testdata/tasklog-" + files[task] + ".jsonl"); err != nil {
			t.Fatal(err)
		}
		groups[group] = f
	}
	sm := &inspecttest.FakeLogs{PageSize: 3}
	if err := sm.LoadFile("testdata/express-error-level-batch.jsonl"); err != nil {
		t.Fatal(err)
	}
	groups["/aws/vendedlogs/states/mailflow-prod"] = sm
	now := time.UnixMilli(1795800000000).Add(time.Hour)
	logs := &LogSource{API: groups, LogGroup: "/aws/vendedlogs/states/mailflow-prod", Clock: clock.NewVirtual(now)}
	return &TaskLogSource{Logs: logs, Groups: testTaskGroups, Warn: warn}
}

func TestTaskLogSourceTellsEachOutcomeAtError(t *testing.T) {
	t.Parallel()
	var warnings []string
	src := taskLogSource(t, func(w string) { warnings = append(warnings, w) })
	x, err := src.Get(context.Background(), "exec-t")
	if err != nil {
		t.Fatal(err)
	}
	if !x.InputMissing || x.LogLevel != LevelError {
		t.Fatalf("input missing %v, level %q", x.InputMissing, x.LogLevel)
	}
	want := map[string]struct {
		mail    string
		outcome workflow.Outcome
		err     string
		ses     string
		steps   string
	}{
		"msg-1": {"mail-sent", workflow.OutcomeSent, "", "0102019a-sent-0001", "AcquireLock:acquired FetchAttachments:done Send:done"},
		"msg-2": {"mail-already", workflow.OutcomeAlreadySent, "", "", "AcquireLock:already-sent"},
		"msg-3": {"mail-bad", workflow.OutcomeDeadLettered, string(workflow.InvalidMessage), "", "AcquireLock:" + string(workflow.InvalidMessage)},
		"msg-4": {"mail-throttled", workflow.OutcomeSent, "", "0102019a-sent-0004", "AcquireLock:acquired FetchAttachments:done Send:" + string(workflow.Throttled) + " Send:done"},
		"msg-5": {"mail-busy", OutcomeUnknown, string(workflow.LockBusy), "", "AcquireLock:" + string(workflow.LockBusy)},
	}
	if len(x.Items) != len(want) {
		t.Fatalf("%d items, want %d: %+v", len(x.Items), len(want), x.Items)
	}
	for _, it := range x.Items {
		w, ok := want[it.MessageID]
		if !ok {
			t.Fatalf("unexpected item %+v", it)
		}
		var steps []string
		for _, st := range it.Steps {
			r := st.Result
			if r == "" {
				r = st.Error
			}
			steps = append(steps, st.Task+":"+r)
		}
		if it.MailID != w.mail || it.Outcome != w.outcome || it.Error != w.err || it.SESMessageID != w.ses || strings.Join(steps, " ") != w.steps {
			t.Errorf("%s: mail %q outcome %s error %q ses %q steps %q; want %+v", it.MessageID, it.MailID, it.Outcome, it.Error, it.SESMessageID, strings.Join(steps, " "), w)
		}
		if w.err != "" && it.Cause == "" {
			t.Errorf("%s: no cause", it.MessageID)
		}
	}
	// Platform lines are skipped quietly; the truncated, the plain-text and
	// the task-less lines are skipped with a warning naming the group.
	all := strings.Join(warnings, "\n")
	if len(warnings) != 3 || !strings.Contains(all, "mailflow-Send") || !strings.Contains(all, "INIT_START") || !strings.Contains(all, "no task in log line") {
		t.Fatalf("warnings: %q", warnings)
	}
}

func TestTaskLogSourceListsSuccessfulExecutions(t *testing.T) {
	t.Parallel()
	src := taskLogSource(t, nil)
	page, err := src.List(context.Background(), Filter{Outcome: string(workflow.OutcomeSent)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Executions) != 1 || page.Executions[0].Name != "exec-t" {
		t.Fatalf("executions %+v", page.Executions)
	}
	mails, err := src.MailExecutions(context.Background(), "mail-already")
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 1 || mails[0].Item.Outcome != workflow.OutcomeAlreadySent || mails[0].StartedAt.IsZero() {
		t.Fatalf("mail executions %+v", mails)
	}
}

func TestTaskLogSourceAloneWhenTheStateMachineLoggedNothing(t *testing.T) {
	t.Parallel()
	src := taskLogSource(t, nil)
	src.Logs.API.(inspecttest.LogGroups)["/aws/vendedlogs/states/mailflow-prod"] = &inspecttest.FakeLogs{}
	x, err := src.Get(context.Background(), "exec-t")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing at ERROR: the execution did not fail; its level and input are
	// not claimed.
	if x.Status != asl.StatusSucceeded || !x.InputMissing || x.LogLevel != "" || !x.StartMissing || len(x.Items) != 5 {
		t.Fatalf("execution %+v", x)
	}
	if _, err := src.Get(context.Background(), "exec-none"); err == nil {
		t.Fatal("an unknown execution was found")
	}
}

func TestParseTaskLineSkipsForeignLines(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{"", "not json", `[1,2]`, `{"msg":"done"}`, `{"task":"Send","msg":"done","messageId":"m"}`} {
		if _, ok, _, err := ParseTaskLine(msg); ok || err == nil {
			t.Errorf("%q: ok %v err %v", msg, ok, err)
		}
	}
	if _, ok, _, err := ParseTaskLine(`{"time":"2026-11-27T17:20:00.020Z","type":"platform.report","record":{}}`); ok || err != nil {
		t.Errorf("platform line: ok %v err %v", ok, err)
	}
	l, ok, warnings, err := ParseTaskLine(`{"time":"soon","msg":"failed","task":"Send","messageId":"m","executionId":"arn:x","error":7}`)
	if !ok || err != nil || l.ExecutionID != "arn:x" || len(warnings) != 2 {
		t.Fatalf("line %+v ok %v warnings %q err %v", l, ok, warnings, err)
	}
}
