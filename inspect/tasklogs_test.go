package inspect

import (
	"context"
	"reflect"
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

// The state machine of the recorded lines.
const testStateMachine = "arn:aws:states:eu-west-1:123456789012:stateMachine:mailflow-prod"

// lineForms are the recorded task log groups by the form of their result
// lines, per task: "" the lines with "time" and the whole executionId ARN,
// "-v2" those without "time", naming the execution after its state machine
// ("exec") and leaving empty attributes out; "-v3" FetchAttachments' lines
// as it writes them now, only its failures.
var lineForms = map[string]map[string]string{
	"old":    {TaskAcquireLock: "", TaskFetchAttachments: "", TaskSend: "", TaskReleaseLock: ""},
	"new":    {TaskAcquireLock: "-v2", TaskFetchAttachments: "-v2", TaskSend: "-v2", TaskReleaseLock: "-v2"},
	"latest": {TaskAcquireLock: "-v2", TaskFetchAttachments: "-v3", TaskSend: "-v2", TaskReleaseLock: "-v2"},
	// Functions updated one by one while an execution runs.
	"mixed": {TaskAcquireLock: "", TaskFetchAttachments: "-v2", TaskSend: "", TaskReleaseLock: "-v2"},
}

// taskLogSource loads the recorded task log groups and the state machine's
// log at ERROR of the same batch.
func taskLogSource(t *testing.T, warn func(string)) *TaskLogSource {
	t.Helper()
	return taskLogSourceOf(t, lineForms["old"], warn)
}

// taskLogSourceOf is taskLogSource with the lines of each task in the
// form form names.
func taskLogSourceOf(t *testing.T, form map[string]string, warn func(string)) *TaskLogSource {
	t.Helper()
	groups := inspecttest.LogGroups{}
	files := map[string]string{TaskAcquireLock: "acquirelock", TaskFetchAttachments: "fetchattachments", TaskSend: "send", TaskReleaseLock: "releaselock"}
	for task, group := range testTaskGroups {
		f := &inspecttest.FakeLogs{PageSize: 4}
		if err := f.LoadEventsFile("testdata/tasklog-" + files[task] + form[task] + ".jsonl"); err != nil {
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
	for name, form := range lineForms {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var warnings []string
			src := taskLogSourceOf(t, form, func(w string) { warnings = append(warnings, w) })
			src.StateMachineARN = testStateMachine
			testOutcomesAtError(t, src, &warnings, form[TaskFetchAttachments] == "-v3")
		})
	}
}

// testOutcomesAtError checks the recorded batch's items; silentFetch says
// FetchAttachments wrote no line for its successes.
func testOutcomesAtError(t *testing.T, src *TaskLogSource, warnings *[]string, silentFetch bool) {
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
		if silentFetch {
			w.steps = strings.Replace(w.steps, " FetchAttachments:done", "", 1)
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
	all := strings.Join(*warnings, "\n")
	if len(*warnings) != 3 || !strings.Contains(all, "mailflow-Send") || !strings.Contains(all, "INIT_START") || !strings.Contains(all, "no task in log line") {
		t.Fatalf("warnings: %q", *warnings)
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

// TestTaskLogSourceReadsBothLineForms: lines without "time", naming the
// execution after its state machine, tell the same execution as the old
// lines: the same ARN, items, steps and step times, whether the state
// machine is configured or learned from its log, and with the state
// machine's log empty.
func TestTaskLogSourceReadsBothLineForms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const arn = "arn:aws:states:eu-west-1:123456789012:express:mailflow-prod:exec-t:88888888-8888-8888-8888-888888888888"
	get := func(t *testing.T, form map[string]string, stateMachine string, emptyLog bool, id string) *Execution {
		t.Helper()
		src := taskLogSourceOf(t, form, nil)
		src.StateMachineARN = stateMachine
		if emptyLog {
			src.Logs.API.(inspecttest.LogGroups)["/aws/vendedlogs/states/mailflow-prod"] = &inspecttest.FakeLogs{}
		}
		x, err := src.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		page, err := src.List(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Executions) != 1 || !reflect.DeepEqual(page.Executions[0].Items, x.Items) {
			t.Fatalf("List %+v, Get %+v", page.Executions, x.Items)
		}
		return x
	}
	for _, emptyLog := range []bool{false, true} {
		want := get(t, lineForms["old"], "", emptyLog, "exec-t")
		if want.ID != arn || len(want.Items) != 5 {
			t.Fatalf("old lines: %s, %d items", want.ID, len(want.Items))
		}
		// The step times are the events' timestamps, as the old lines' "time".
		if st := want.Items[0].Steps; len(st) != 3 || !st[2].Time.Equal(time.UnixMilli(1795800000060)) {
			t.Fatalf("msg-1 steps %+v", st)
		}
		for _, c := range []struct {
			form, stateMachine, id string
		}{
			{"new", testStateMachine, "exec-t"},
			{"mixed", testStateMachine, "exec-t"},
			{"new", "", arn}, // learned from the ARN asked for
			{"mixed", "", arn},
		} {
			x := get(t, lineForms[c.form], c.stateMachine, emptyLog, c.id)
			if x.ID != arn || !reflect.DeepEqual(x.Items, want.Items) {
				t.Errorf("%s lines, state machine %q, empty log %v: %s\n%+v\nwant\n%+v", c.form, c.stateMachine, emptyLog, x.ID, x.Items, want.Items)
			}
		}
	}
	// Learned from the state machine's log: asked for by name.
	if x := get(t, lineForms["new"], "", false, "exec-t"); x.ID != arn {
		t.Errorf("execution %s, want %s", x.ID, arn)
	}
	// Nothing names the state machine: the execution is its NAME:ID.
	if x := get(t, lineForms["new"], "", true, "exec-t"); x.ID != "exec-t:88888888-8888-8888-8888-888888888888" || x.Name != "exec-t" || len(x.Items) != 5 {
		t.Errorf("execution %s (%s), %d items", x.ID, x.Name, len(x.Items))
	}
	src := taskLogSourceOf(t, lineForms["new"], nil)
	src.StateMachineARN = "mailflow-prod"
	if _, err := src.Get(ctx, "exec-t"); err == nil || !strings.Contains(err.Error(), "not a state machine ARN") {
		t.Errorf("a state machine name for an ARN: %v", err)
	}
}

func TestParseTaskLineReadsTheShortForm(t *testing.T) {
	t.Parallel()
	l, ok, warnings, err := ParseTaskLine(`{"level":"INFO","msg":"done","task":"Send","messageId":"m","exec":"e:1","mailId":"x","sesMessageId":"s"}`)
	if !ok || err != nil || len(warnings) != 0 || l.ExecutionID != "" || l.Execution != "e:1" || !l.Time.IsZero() || l.SESMessageID != "s" {
		t.Fatalf("line %+v ok %v warnings %q err %v", l, ok, warnings, err)
	}
	if _, ok, _, err := ParseTaskLine(`{"level":"INFO","msg":"done","task":"Send","messageId":"m"}`); ok || err == nil || !strings.Contains(err.Error(), "without executionId or exec") {
		t.Errorf("no execution: ok %v err %v", ok, err)
	}
}

// TestParseTaskLineCauseWithoutTheName: older lines start the cause with
// the error name; it is read without it, as newer lines and the state
// machine's log give it, so that "error: cause" does not say it twice.
func TestParseTaskLineCauseWithoutTheName(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{
		`{"msg":"failed","task":"Send","messageId":"m","executionId":"arn:x","error":"Mail.Throttled","cause":"Mail.Throttled: slow down"}`,
		`{"msg":"failed","task":"Send","messageId":"m","exec":"e:1","error":"Mail.Throttled","cause":"slow down"}`,
	} {
		if l, ok, _, err := ParseTaskLine(msg); !ok || err != nil || l.Error != "Mail.Throttled" || l.Cause != "slow down" {
			t.Errorf("%s: line %+v ok %v err %v", msg, l, ok, err)
		}
	}
}

// The Send task takes the lock in its attempt write: it may find the mail
// sent by another execution (already-sent) or its mailId taken for other
// content (dead-lettered, as the definition's Catch routes it).
func TestRouteLinesFollowsTheSendTasksLock(t *testing.T) {
	t.Parallel()
	lines := func(send TaskLine) []TaskLine {
		send.Task = TaskSend
		return []TaskLine{{Task: TaskAcquireLock, Outcome: "acquired"}, {Task: TaskFetchAttachments}, send}
	}
	cases := []struct {
		name string
		send TaskLine
		want workflow.Outcome
	}{
		{"sent", TaskLine{SESMessageID: "ses-1"}, workflow.OutcomeSent},
		{"sent by another execution", TaskLine{SESMessageID: "ses-0", Outcome: string(workflow.OutcomeAlreadySent)}, workflow.OutcomeAlreadySent},
		{"taken for other content", TaskLine{Failed: true, Error: string(workflow.IdempotencyConflict)}, workflow.OutcomeDeadLettered},
		{"busy", TaskLine{Failed: true, Error: string(workflow.LockBusy)}, OutcomeUnknown},
	}
	for _, c := range cases {
		if got, _, _ := routeLines(lines(c.send)); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestRouteLinesWithoutFetchLine: FetchAttachments writes no line when it
// succeeds; the Send line after it says it passed, and without one the
// route is unknown. Its failure still routes as its Catch does.
func TestRouteLinesWithoutFetchLine(t *testing.T) {
	t.Parallel()
	acquired := TaskLine{Task: TaskAcquireLock, Outcome: "acquired"}
	cases := []struct {
		name  string
		lines []TaskLine
		want  workflow.Outcome
	}{
		{"sent", []TaskLine{acquired, {Task: TaskSend, SESMessageID: "ses-1"}}, workflow.OutcomeSent},
		{"sent with the old fetch line", []TaskLine{acquired, {Task: TaskFetchAttachments}, {Task: TaskSend, SESMessageID: "ses-1"}}, workflow.OutcomeSent},
		{"rejected", []TaskLine{acquired, {Task: TaskSend, Failed: true, Error: string(workflow.Rejected)}}, workflow.OutcomeDeadLettered},
		{"nothing after the check", []TaskLine{acquired}, OutcomeUnknown},
		{"attachment missing", []TaskLine{acquired, {Task: TaskFetchAttachments, Failed: true, Error: string(workflow.AttachmentMissing)}}, workflow.OutcomeDeadLettered},
		{"released after the build", []TaskLine{acquired, {Task: TaskReleaseLock, Reason: "released"}}, OutcomeUnknown},
	}
	for _, c := range cases {
		if got, _, _ := routeLines(c.lines); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
