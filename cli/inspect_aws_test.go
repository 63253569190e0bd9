package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/inspecttest"
	"github.com/mailflow/mailflow/workflow"
)

// TestInspectAWS runs the inspection commands with --aws: executions come
// from Express log events (fixtures in the documented format), the queues
// are the local SQS endpoint spoken to with the SDK, the lock table is
// DynamoDB (dynalite).
func TestInspectAWS(t *testing.T) {
	// Not parallel: it replaces the package's AWS hooks.
	ctx := context.Background()
	store, err := sqsstore.Open(filepath.Join(t.TempDir(), "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := httptest.NewServer(sqsapi.New(store, sqsapi.Options{}))
	defer srv.Close()
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("mailflow-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": store.QueueARN("mailflow-dlq"), "maxReceiveCount": 5})
	src, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("mailflow-source"), Attributes: map[string]string{"RedrivePolicy": string(redrive)}})
	if err != nil {
		t.Fatal(err)
	}
	attr := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: dlq.QueueUrl,
		MessageBody: aws.String(`{"version":1,"mailId":"bad-1","to":["not an address"],"subject":"Hi","text":"x"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			workflow.DLQAttrError:   attr("Mail.InvalidMessage"),
			workflow.DLQAttrFailure: attr(`{"Error":"Mail.InvalidMessage","Cause":"{\"errorMessage\":\"invalid message: to[0]: not an e-mail address\",\"errorType\":\"Mail.InvalidMessage\"}"}`),
		}}); err != nil {
		t.Fatal(err)
	}

	ddb := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	if err := dynamolock.CreateTable(ctx, ddb, "mailflow-locks"); err != nil {
		t.Fatal(err)
	}
	locks, _ := dynamolock.New(ddb, "mailflow-locks")
	now := time.Now()
	if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: "welcome-1", Owner: "o", ContentHash: "h", Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.MarkSent(ctx, lock.MarkSentParams{MailID: "welcome-1", Owner: "o", SESMessageID: "ses-0001", Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	logs := &inspecttest.FakeLogs{PageSize: 5, MaskEmails: true} // as the stack's data protection policy
	for _, f := range []string{"../inspect/testdata/express-with-data.jsonl", "../inspect/testdata/express-without-data.jsonl",
		"../inspect/testdata/express-error-level.jsonl", "../inspect/testdata/express-malformed.jsonl"} {
		if err := logs.LoadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	var opened []awsOptions
	saved := openAWS
	defer func() { openAWS = saved }()
	openAWS = func(ctx context.Context, o awsOptions) (*inspect.Backend, error) {
		opened = append(opened, o)
		o.Config = &aws.Config{Region: "us-east-1"}
		o.Logs, o.SQS, o.Locks = logs, client, locks
		return openAWSBackend(ctx, o)
	}

	awsFlags := []string{"--aws", "--log-group", "/aws/vendedlogs/states/mailflow", "--queue-url", aws.ToString(src.QueueUrl),
		"--dlq-url", aws.ToString(dlq.QueueUrl), "--table", "mailflow-locks", "--lookback", "87600h"}
	for _, c := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"executions", "list", "--since", "2026-11-25"}, ExitOK, []string{
			"exec-d", "exec-c", "exec-b", "~SUCCEEDED !\\s+2\\s+763ms\\s+dead-lettered 1, sent 1 \\(Mail.InvalidMessage\\)\\s+exec-a",
			"~FAILED !\\s+1.*execution States.DataLimitExceeded"}},
		{[]string{"executions", "list", "--status", "failed", "--limit", "1"}, ExitOK, []string{"exec-f", "more: --cursor "}},
		{[]string{"executions", "list", "--since", "2026-11-26"}, ExitOK, []string{
			"~unknown\\s+FAILED !\\s+1\\s+unknown\\s+.*exec-f", "~unknown\\s+unknown\\s+0\\s+unknown\\s+.*exec-e",
			"warning: exec-m: 1 log event field(s) unreadable, first: event 7 (TaskFailed): details.error"}},
		{[]string{"executions", "show", "exec-a"}, ExitOK, []string{
			"status     SUCCEEDED (1 of 2 items not delivered)",
			"#1  dead-lettered  mail bad-1  message m-1",
			"Mail.InvalidMessage: invalid message: to[0]: not an e-mail address",
			"~Send\\s+Task\\s+679ms\\s+succeeded after 1 retries",
			"! Mail.Throttled: TooManyRequestsException: Maximum sending rate exceeded.",
		}},
		{[]string{"executions", "show", "exec-b"}, ExitOK, []string{"input      not logged (execution data is off)", "retry-later", "Mail.LockBusy"}},
		// The start event was lost, but execution data is logged.
		{[]string{"executions", "show", "exec-d"}, ExitOK, []string{
			"started    unknown (the start event is missing from the logs; first event logged 2026-11-25T09:49:40Z)  duration unknown",
			"input      its event (the start) is missing from the logs", "not:input      not logged"}},
		// Log level ERROR: failures only, no start, no end of a success.
		{[]string{"executions", "show", "exec-e"}, ExitOK, []string{
			"status     unknown: no end logged at log level ERROR",
			"started    unknown (log level ERROR logs no start; first event logged 2026-11-26T13:33:20.02Z)  duration unknown",
			"input      not logged (log level ERROR logs failures only)",
			"~\\(state not logged\\)\\s+Task\\s+\\?\\s+failed", "! Mail.Throttled"}},
		{[]string{"executions", "show", "exec-f"}, ExitOK, []string{"status     FAILED", "duration unknown", "error      States.Runtime"}},
		{[]string{"executions", "show", "exec-m"}, ExitOK, []string{
			"warning    unreadable in the logs: event 7 (TaskFailed): details.error: want a string, got 429",
			"warning    unreadable in the logs: event 13 (MapIterationSucceeded): details.index: want an integer, got \"first\""}},
		{[]string{"replay", "exec-a", "--failed-only"}, ExitOK, []string{
			"#0 welcome-1 (sent): skipped, not failed (sent)",
			"#1 bad-1 (dead-lettered): skipped, will fail again: Mail.InvalidMessage: invalid message: to[0]: not an e-mail address",
			"0 of 2 items re-enqueued onto " + aws.ToString(src.QueueUrl) + " (permanent 1: 1 skipped; already-sent 1: 1 skipped)"}},
		{[]string{"replay", "exec-a", "--failed-only", "--json"}, ExitOK, []string{
			`"class": "permanent"`, `"summary"`, `"class": "already-sent",
      "items": 1,
      "enqueued": 0,
      "skipped": 1`}},
		{[]string{"replay", "exec-a", "--force"}, ExitOK, []string{
			"#0 welcome-1 (sent): skipped, already sent ses-0001",
			"#1 bad-1 (dead-lettered): re-enqueued as ", "forced: it failed with Mail.InvalidMessage",
			"1 of 2 items re-enqueued onto " + aws.ToString(src.QueueUrl) + " (permanent 1: 1 forced; already-sent 1: 1 skipped)"}},
		{[]string{"replay", "exec-b"}, ExitOK, []string{"skipped, not replayed: its execution left the record on the source queue", "0 of 1 items re-enqueued", "(on-source-queue 1: 1 skipped)"}},
		{[]string{"dlq", "list"}, ExitOK, []string{"mail bad-1  Mail.InvalidMessage", "cause: invalid message: to[0]: not an e-mail address", "1 message(s) in " + aws.ToString(dlq.QueueUrl)}},
		{[]string{"dlq", "redrive"}, ExitOK, []string{"COMPLETED: 1 of 1 moved", "redrive completed: 1 message(s) moved"}},
		{[]string{"dlq", "list", "--json"}, ExitOK, []string{"[]"}},
		{[]string{"mail", "status", "welcome-1"}, ExitOK, []string{"SES message id ses-0001", "executions 2", "sent", "unfinished"}},
		{[]string{"executions", "show", "exec-zzz"}, ExitFailure, []string{"execution not found"}},
		{[]string{"executions", "list", "--lookback", "-1h"}, ExitUsage, []string{"--lookback -1h0m0s must be positive"}},
	} {
		var out, errOut bytes.Buffer
		// The case's own flags come last, so they win over the defaults.
		k := len(c.args)
		for i, a := range c.args {
			if strings.HasPrefix(a, "-") {
				k = i
				break
			}
		}
		args := append(append(append([]string{}, c.args[:k]...), awsFlags...), c.args[k:]...)
		code := Run(ctx, args, strings.NewReader(""), &out, &errOut)
		name := strings.Join(c.args, " ")
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", name, code, c.code, out.String(), errOut.String())
			continue
		}
		text := out.String() + errOut.String()
		for _, w := range c.want {
			if !matches(text, w) {
				t.Errorf("%s: output lacks %q:\n%s", name, w, text)
			}
		}
	}
	// --stack names the resources from the stack's outputs and resources.
	savedStack := readStack
	defer func() { readStack = savedStack }()
	readStack = func(_ context.Context, _, stack string) (inspect.StackInfo, error) {
		if stack != "mailflow" {
			return inspect.StackInfo{}, fmt.Errorf("stack %s: not found", stack)
		}
		return inspect.StackInfo{QueueURL: aws.ToString(src.QueueUrl), DLQURL: aws.ToString(dlq.QueueUrl), LogGroup: "/aws/vendedlogs/states/from-stack"}, nil
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"dlq", "list", "--aws", "--stack", "mailflow"}, ExitOK, "the dead-letter queue is empty"},
		{[]string{"executions", "show", "exec-a", "--aws", "--stack", "mailflow", "--lookback", "87600h"}, ExitOK, "#1  dead-lettered  mail bad-1"},
		{[]string{"mail", "status", "welcome-1", "--aws", "--stack", "mailflow"}, ExitFailure, "stack mailflow does not name everything this command needs: give --table"},
		{[]string{"mail", "status", "welcome-1", "--aws", "--stack", "mailflow", "--table", "mailflow-locks", "--lookback", "87600h"}, ExitOK, "SES message id ses-0001"},
		{[]string{"dlq", "list", "--aws", "--stack", "nope"}, ExitFailure, "stack nope: not found"},
	} {
		var out, errOut bytes.Buffer
		code := Run(ctx, c.args, strings.NewReader(""), &out, &errOut)
		if code != c.code || !strings.Contains(out.String()+errOut.String(), c.want) {
			t.Errorf("%v: exit %d, want %d and %q\n%s%s", c.args, code, c.code, c.want, out.String(), errOut.String())
		}
	}
	if last := opened[len(opened)-1]; last.LogGroup != "/aws/vendedlogs/states/from-stack" || last.QueueURL != aws.ToString(src.QueueUrl) || last.LockTable != "mailflow-locks" {
		t.Errorf("names from the stack: %+v", last)
	}

	var out, errOut bytes.Buffer
	if code := Run(ctx, append([]string{"executions", "list", "--json"}, awsFlags...), strings.NewReader(""), &out, &errOut); code != ExitOK ||
		!json.Valid(out.Bytes()) || !strings.Contains(errOut.String(), "reading /aws/vendedlogs/states/mailflow: 5 log events") {
		t.Errorf("--json with progress: exit %d\nstdout %s\nstderr %s", code, out.String(), errOut.String())
	}
	if len(opened) == 0 || opened[0].LogGroup != "/aws/vendedlogs/states/mailflow" || opened[0].LockTable != "mailflow-locks" {
		t.Errorf("opened %+v", opened)
	}
	// Replay read the log unmasked (the bodies it re-enqueues must be the
	// mails); showing an execution does not.
	if logs.Unmasked == 0 {
		t.Error("replay read the execution log masked")
	}
	before := logs.Unmasked
	if code := Run(ctx, append([]string{"executions", "show", "exec-a"}, awsFlags...), strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); code != ExitOK || logs.Unmasked != before {
		t.Errorf("executions show: exit %d, %d unmasked searches, want none", code, logs.Unmasked-before)
	}
	// The redrive put the message back on the source queue, with the forced
	// replay; the skipped ones enqueued nothing.
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: src.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil || attrs.Attributes["ApproximateNumberOfMessages"] != "2" {
		t.Fatalf("source queue: %v %v", attrs, err)
	}
}

// matches reports whether text contains want, or matches it as a regular
// expression when it starts with ~.
func matches(text, want string) bool {
	if absent, ok := strings.CutPrefix(want, "not:"); ok {
		return !strings.Contains(text, absent)
	}
	if re, ok := strings.CutPrefix(want, "~"); ok {
		return regexp.MustCompile(re).MatchString(text)
	}
	return strings.Contains(text, want)
}
