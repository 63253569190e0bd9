package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/testkit/inspecttest"
)

// TestInspectAWSAtErrorLevel runs the inspection commands against a
// deployment whose state machine logs at ERROR: the successful mails come
// from the task result lines in the task log groups the stack names, in
// either form ("-v2": the execution named after the stack's state
// machine, the event's timestamp for the time).
func TestInspectAWSAtErrorLevel(t *testing.T) {
	// Not parallel: it replaces the package's AWS hooks.
	// v3: FetchAttachments writes a line only when it fails (the other
	// tasks' lines as in v2).
	for _, form := range []string{"", "-v2", "-v3"} {
		t.Run("lines"+form, func(t *testing.T) { testInspectAWSAtErrorLevel(t, form) })
	}
}

func testInspectAWSAtErrorLevel(t *testing.T, form string) {
	ctx := context.Background()
	groups := inspecttest.LogGroups{}
	tasks := inspect.TaskLogGroups{AcquireLock: "/aws/lambda/al", FetchAttachments: "/aws/lambda/fa", Send: "/aws/lambda/send", ReleaseLock: "/aws/lambda/rl"}
	for group, file := range map[string]string{tasks.AcquireLock: "acquirelock", tasks.FetchAttachments: "fetchattachments", tasks.Send: "send", tasks.ReleaseLock: "releaselock"} {
		f := &inspecttest.FakeLogs{PageSize: 5}
		path := "../inspect/testdata/tasklog-" + file + form + ".jsonl"
		if _, err := os.Stat(path); err != nil && form == "-v3" {
			path = "../inspect/testdata/tasklog-" + file + "-v2.jsonl"
		}
		if err := f.LoadEventsFile(path); err != nil {
			t.Fatal(err)
		}
		groups[group] = f
	}
	sm := &inspecttest.FakeLogs{}
	if err := sm.LoadFile("../inspect/testdata/express-error-level-batch.jsonl"); err != nil {
		t.Fatal(err)
	}
	groups["/aws/vendedlogs/states/sm"] = sm

	savedStack, savedOpen := readStack, openAWS
	defer func() { readStack, openAWS = savedStack, savedOpen }()
	readStack = func(context.Context, string, string) (inspect.StackInfo, error) {
		return inspect.StackInfo{QueueURL: "https://sqs/q", DLQURL: "https://sqs/dlq", LogGroup: "/aws/vendedlogs/states/sm", LockTable: "locks", TaskLogGroups: tasks,
			StateMachineARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:mailflow-prod"}, nil
	}
	openAWS = func(ctx context.Context, o awsOptions) (*inspect.Backend, error) {
		o.Logs = groups
		o.Locks = nil
		b, err := openAWSBackend(ctx, o)
		if err != nil {
			return nil, err
		}
		b.Locks = nil
		return b, nil
	}
	flags := []string{"--aws", "--stack", "mailflow", "--lookback", "87600h"}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"executions", "list"}, []string{"exec-t"}},
		{[]string{"executions", "show", "arn:aws:states:eu-west-1:123456789012:express:mailflow-prod:exec-t:88888888-8888-8888-8888-888888888888"}, []string{
			"arn:aws:states:eu-west-1:123456789012:express:mailflow-prod:exec-t:88888888-8888-8888-8888-888888888888", "sent           mail mail-sent"}},
		{[]string{"executions", "show", "exec-t"}, []string{
			"sent           mail mail-sent", "SES message id 0102019a-sent-0001", "Send             done",
			"already-sent   mail mail-already",
			"dead-lettered  mail mail-bad", "Mail.InvalidMessage: invalid message: to[0]: not an e-mail address",
			"mail mail-throttled", "Send             Mail.Throttled: TooManyRequestsException", "SES message id 0102019a-sent-0004",
			"unknown        mail mail-busy", "Mail.LockBusy",
			"warning: log group /aws/lambda/send", "warning: log group /aws/lambda/al",
		}},
		{[]string{"executions", "list", "--outcome", "sent"}, []string{"exec-t"}},
		{[]string{"mail", "status", "mail-throttled"}, []string{"sent", "exec-t", "SES 0102019a-sent-0004", "Send             Mail.Throttled"}},
		{[]string{"mail", "status", "mail-busy"}, []string{"unknown", "Mail.LockBusy"}},
	} {
		var out, errOut bytes.Buffer
		code := Run(ctx, append(c.args, flags...), strings.NewReader(""), &out, &errOut)
		text := out.String() + errOut.String()
		if code != ExitOK {
			t.Errorf("%v: exit %d\n%s", c.args, code, text)
			continue
		}
		if testing.Verbose() {
			t.Logf("%v:\n%s", c.args, text)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, text)
			}
		}
	}
}
