package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/dynamodelivery"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/inspecttest"
	"github.com/mailflow/mailflow/workflow"
)

// dlqAWS is a deployment as `--aws` sees it: the queues are our SQS
// endpoint spoken to with the SDK, the delivery table is dynalite.
type dlqAWS struct {
	store      *sqsstore.Store
	client     *sqs.Client
	src, dlq   string
	deliveries *dynamodelivery.Store
	// logs is the state machine's log group; locks the dedup lock table.
	logs  *inspecttest.FakeLogs
	locks *dynamolock.Table
	flags []string
}

func newDLQAWS(t *testing.T) *dlqAWS {
	t.Helper()
	ctx := context.Background()
	store, err := sqsstore.Open(filepath.Join(t.TempDir(), "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := httptest.NewServer(sqsapi.New(store, sqsapi.Options{}))
	t.Cleanup(srv.Close)
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("mailflow-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": store.QueueARN("mailflow-dlq"), "maxReceiveCount": 1})
	src, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("mailflow-source"), Attributes: map[string]string{"RedrivePolicy": string(redrive), "VisibilityTimeout": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	ddb := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	if err := dynamodelivery.CreateTable(ctx, ddb, "mailflow-deliveries"); err != nil {
		t.Fatal(err)
	}
	deliveries, err := dynamodelivery.New(ddb, "mailflow-deliveries")
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamolock.CreateTable(ctx, ddb, "mailflow-locks"); err != nil {
		t.Fatal(err)
	}
	locks, err := dynamolock.New(ddb, "mailflow-locks")
	if err != nil {
		t.Fatal(err)
	}
	a := &dlqAWS{store: store, client: client, src: aws.ToString(src.QueueUrl), dlq: aws.ToString(dlq.QueueUrl), deliveries: deliveries,
		logs: &inspecttest.FakeLogs{}, locks: locks,
		flags: []string{"--aws", "--log-group", "/aws/vendedlogs/states/mailflow", "--queue-url", aws.ToString(src.QueueUrl),
			"--dlq-url", aws.ToString(dlq.QueueUrl), "--delivery-table", "mailflow-deliveries"}}
	saved := openAWS
	t.Cleanup(func() { openAWS = saved })
	openAWS = func(ctx context.Context, o awsOptions) (*inspect.Backend, error) {
		o.Config = &aws.Config{Region: "us-east-1"}
		o.Logs, o.SQS, o.Locks = a.logs, client, a.locks
		if o.DeliveryTable != "" {
			o.Deliveries = deliveries
		}
		return openAWSBackend(ctx, o)
	}
	return a
}

// deadLetter puts a record in the dead-letter queue as the state machine
// does (DeadLetter, then RecordDeadLettered and record-event's merge).
func (a *dlqAWS) deadLetter(t *testing.T, mailID, sourceID, errName, cause, to string, at time.Time) {
	t.Helper()
	a.deadLetterBy(t, "arn:exec:"+mailID, mailID, sourceID, errName, cause, to, at)
}

// deadLetterBy is deadLetter by the execution execARN.
func (a *dlqAWS) deadLetterBy(t *testing.T, execARN, mailID, sourceID, errName, cause, to string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	body := `{"version":1,"mailId":"` + mailID + `","to":["` + to + `"],"subject":"Hi","text":"x"}`
	attr := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	failure, _ := json.Marshal(map[string]string{"Error": errName, "Cause": cause})
	if _, err := a.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(a.dlq), MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			workflow.DLQAttrError: attr(errName), workflow.DLQAttrFailure: attr(string(failure)),
			workflow.DLQAttrMessageID: attr(sourceID), workflow.DLQAttrExecutionID: attr(execARN),
		}}); err != nil {
		t.Fatal(err)
	}
	a.indexed(t, execARN, mailID, sourceID, errName, cause, to, at)
}

// indexed records the dead-lettered event of a mail in the delivery table
// (RecordDeadLettered and record-event's merge): its dead-letter index
// entry.
func (a *dlqAWS) indexed(t *testing.T, execARN, mailID, sourceID, errName, cause, to string, at time.Time) {
	t.Helper()
	now := time.Now()
	if _, _, err := a.deliveries.Apply(context.Background(), delivery.ApplyParams{MailID: mailID, Now: now, ExpiresAt: now.Add(time.Hour),
		Events: []delivery.Event{{ID: "dl-" + mailID, Type: workflow.EventDeadLettered, Time: at,
			Reason: &workflow.EventReason{Error: errName, Cause: cause},
			Queued: &delivery.QueuedRecord{MessageID: sourceID, ExecutionID: execARN, Recipients: []string{to}}}}}); err != nil {
		t.Fatal(err)
	}
}

// movedByPolicy sends a record to the source queue and receives it until
// the queue's redrive policy moves it; it returns its message id.
func (a *dlqAWS) movedByPolicy(t *testing.T, body string) string {
	t.Helper()
	ctx := context.Background()
	sent, err := a.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(a.src), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := a.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(a.src), VisibilityTimeout: 0}); err != nil {
			t.Fatal(err)
		}
	}
	if !slicesContainsID(a.peek(t, "mailflow-dlq"), aws.ToString(sent.MessageId)) {
		t.Fatalf("message %s was not moved by the redrive policy", aws.ToString(sent.MessageId))
	}
	return aws.ToString(sent.MessageId)
}

func (a *dlqAWS) peek(t *testing.T, queue string) []sqsstore.Message {
	t.Helper()
	msgs, _, err := a.store.Peek(context.Background(), queue, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func slicesContainsID(msgs []sqsstore.Message, id string) bool {
	for _, m := range msgs {
		if m.MessageID == id {
			return true
		}
	}
	return false
}

func (a *dlqAWS) run(t *testing.T, code int, args []string, want ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append(append(append([]string{}, args[:2]...), a.flags...), args[2:]...)
	got := Run(context.Background(), all, strings.NewReader(""), &out, &errOut)
	text := out.String() + errOut.String()
	if got != code {
		t.Fatalf("%s: exit %d, want %d\n%s", strings.Join(args, " "), got, code, text)
	}
	for _, w := range want {
		if !matches(text, w) {
			t.Errorf("%s: output lacks %q:\n%s", strings.Join(args, " "), w, text)
		}
	}
	return out.String()
}

// TestDLQOnAWS runs every dlq verb with --aws: list and show read the
// dead-letter index and receive nothing, the messages the redrive policy
// moved are counted as not indexed, and redrive, delete and purge change
// the queue and the index together.
func TestDLQOnAWS(t *testing.T) {
	// Not parallel: it replaces the package's AWS hooks.
	a := newDLQAWS(t)
	t0 := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Millisecond)
	a.deadLetter(t, "mail-a", "src-a", string(workflow.InvalidMessage), "to[0]: not an e-mail address", "ann@one.example", t0)
	a.deadLetter(t, "mail-b", "src-b", string(workflow.Rejected), "Email address is not verified.", "bob@two.example", t0.Add(time.Minute))
	a.deadLetter(t, "mail-c", "src-c", string(workflow.Suppressed), "cy@two.example is suppressed", "cy@two.example", t0.Add(2*time.Minute))
	a.movedByPolicy(t, `{"version":1,"mailId":"mail-p","to":["pat@one.example"],"subject":"Hi","text":"x"}`)

	a.run(t, ExitOK, []string{"dlq", "list"},
		"mail mail-a  Mail.InvalidMessage", "cause: to[0]: not an e-mail address", "recipients: ann@one.example",
		"source message src-a, execution arn:exec:mail-a", "mail mail-b  Mail.Rejected", "mail mail-c  Mail.Suppressed",
		"3 dead-lettered mail(s) in the index; "+a.dlq+" holds about 4 message(s)",
		"not indexed: 1 more message(s) in the queue (ApproximateNumberOfMessages)")
	for _, m := range a.peek(t, "mailflow-dlq") {
		if m.MessageID != "" && m.ApproximateReceiveCount > 1 {
			t.Errorf("listing received %s: receive count %d", m.MessageID, m.ApproximateReceiveCount)
		}
	}
	// Paging by the key the listing prints.
	out := a.run(t, ExitOK, []string{"dlq", "list", "--limit", "2"}, "mail mail-a", "mail mail-b", "not:mail mail-c", "more follow: list them with --after ")
	after := out[strings.Index(out, "--after ")+len("--after "):]
	after = strings.Trim(strings.TrimSpace(after), `"`)
	a.run(t, ExitOK, []string{"dlq", "list", "--after", after}, "mail mail-c", "not:mail mail-a", "not:mail mail-b")
	a.run(t, ExitFailure, []string{"dlq", "list", "--after", "mail-b"}, "dead-letter cursor")
	var dls []inspect.DeadLetter
	if err := json.Unmarshal([]byte(a.run(t, ExitOK, []string{"dlq", "list", "--recipient-domain", "TWO.example", "-o", "json"})), &dls); err != nil {
		t.Fatal(err)
	}
	if len(dls) != 2 || dls[0].MailID != "mail-b" || dls[1].MailID != "mail-c" || !dls[0].Indexed {
		t.Errorf("filtered listing %+v", dls)
	}

	a.run(t, ExitOK, []string{"dlq", "show", "mail-b"}, "~mail\\s+mail-b", "~error\\s+Mail.Rejected", "~recipients\\s+bob@two.example",
		"~indexed at\\s+\\d{4}-", "are only in the queue", "delivery record  dead-lettered")
	a.run(t, ExitOK, []string{"dlq", "show", "src-c"}, "~mail\\s+mail-c")
	a.run(t, ExitFailure, []string{"dlq", "show", "mail-zzz"}, "no dead letter mail-zzz")

	a.run(t, ExitOK, []string{"dlq", "redrive", "--recipient-domain", "two.example", "--dry-run"},
		"would move -  mail mail-b", "would move -  mail mail-c", "dry run: would move 2, keep 1", "not indexed: 1 more message")
	a.run(t, ExitOK, []string{"dlq", "redrive", "--error", "mail.rejected"}, "~moved \\S+  mail mail-b  Mail.Rejected", "moved 1, kept 3")
	if src := a.peek(t, "mailflow-source"); len(src) != 1 || !strings.Contains(src[0].Body, "mail-b") {
		t.Errorf("source queue after the redrive: %+v", src)
	}
	// The messages the redrive kept are visible again at once.
	a.run(t, ExitOK, []string{"dlq", "delete", "mail-c"}, "deleted mail-c from ")
	a.run(t, ExitOK, []string{"dlq", "list"}, "mail mail-a", "not:mail mail-b", "not:mail mail-c", "holds about 2 message(s)", "not indexed: 1 more")
	a.run(t, ExitFailure, []string{"dlq", "delete", "mail-c"}, "no message mail-c")

	a.run(t, ExitFailure, []string{"dlq", "purge"}, "about 2 message(s) of "+a.dlq+" would be deleted", "run again with --yes")
	a.run(t, ExitOK, []string{"dlq", "purge", "--yes", "-o", "table"}, "purged "+a.dlq+": about 2 message(s) deleted")
	if n := len(a.peek(t, "mailflow-dlq")); n != 0 {
		t.Errorf("%d messages left after the purge", n)
	}
	a.run(t, ExitOK, []string{"dlq", "list"}, "the dead-letter queue is empty")
}

// TestReplayRemovesACopyMovedByTheRedrivePolicy replays a mail whose
// record the source queue's redrive policy moved (its executions failed as
// a whole, so it carries no state machine tag): the copy leaves the
// dead-letter queue, so a later redrive cannot enqueue it a second time.
func TestReplayRemovesACopyMovedByTheRedrivePolicy(t *testing.T) {
	// Not parallel: it replaces the package's AWS hooks.
	a := newDLQAWS(t)
	body := `{"version":1,"mailId":"mail-p","to":["pat@one.example"],"subject":"Hi","text":"x"}`
	moved := a.movedByPolicy(t, body)
	a.movedByPolicy(t, `{"version":1,"mailId":"mail-q","to":["q@one.example"],"subject":"Hi","text":"x"}`)
	q := &inspect.Queues{API: a.client, SourceURL: a.src, DLQURL: a.dlq}
	x := &inspect.Execution{ID: "arn:exec:1", Name: "exec-1", Items: []inspect.Item{{Index: 0, MessageID: moved, MailID: "mail-p",
		Outcome: workflow.OutcomeUnfinished, Error: "States.Timeout", Body: body}}}
	results, err := inspect.Replay(context.Background(), x, inspect.ReplayOptions{}, q, nil, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Action != inspect.ActionEnqueued || results[0].DeadLettersRemoved != 1 {
		t.Fatalf("results %+v", results)
	}
	left := a.peek(t, "mailflow-dlq")
	if slicesContainsID(left, moved) || len(left) != 1 || !strings.Contains(left[0].Body, "mail-q") {
		t.Errorf("dead-letter queue after the replay: %+v", left)
	}
	if src := a.peek(t, "mailflow-source"); len(src) != 1 || src[0].Body != body {
		t.Errorf("source queue after the replay: %+v", src)
	}
}

// errorLevelEvents are the log events of an execution at log level ERROR:
// only its failures, without input, without the records they are about.
func errorLevelEvents(arn string, at time.Time, errs ...string) []string {
	var out []string
	for i, e := range errs {
		cause, _ := json.Marshal(map[string]string{"errorMessage": "failed with " + e, "errorType": e})
		ev, _ := json.Marshal(map[string]any{"id": fmt.Sprint(10*i + 9), "type": "TaskFailed", "previous_event_id": fmt.Sprint(10*i + 8),
			"details":         map[string]string{"error": e, "cause": string(cause), "resource": "invoke", "resourceType": "lambda"},
			"event_timestamp": fmt.Sprint(at.Add(time.Duration(i) * time.Millisecond).UnixMilli()), "execution_arn": arn, "redrive_count": "0"})
		out = append(out, string(ev))
	}
	return out
}

// TestReplayAndDLQAtErrorLevel: a deployment whose state machine logs at
// ERROR logs no execution input, so `replay --aws` takes each record from
// the dead-letter copy the execution tagged: the transient one is
// re-enqueued with the copy's body and the copy leaves the queue and the
// index; the permanent one and the one whose lock is SENT are skipped and
// stay. A failed execution's record, left on the source queue, is
// reported and not replayed; a record the index lists whose copy is gone
// is reported and fails the command, as does an execution of which
// nothing is known.
// `dlq list` and `dlq show` give the reasons from the dead-letter index,
// and without a delivery table from the messages themselves: neither
// reads the log.
func TestReplayAndDLQAtErrorLevel(t *testing.T) {
	// Not parallel: it replaces the package's AWS hooks.
	a := newDLQAWS(t)
	ctx := context.Background()
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	arn := func(name string) string {
		return "arn:aws:states:us-east-1:123456789012:express:mailflow:" + name + ":11111111-1111-1111-1111-111111111111"
	}
	for _, ev := range errorLevelEvents(arn("exec-r"), at, string(workflow.Throttled), string(workflow.InvalidMessage), string(workflow.Throttled)) {
		a.logs.Add(ev)
	}
	for _, ev := range errorLevelEvents(arn("exec-g"), at.Add(time.Second), string(workflow.Throttled)) {
		a.logs.Add(ev)
	}
	for _, ev := range errorLevelEvents(arn("exec-h"), at.Add(3*time.Second), string(workflow.Throttled)) {
		a.logs.Add(ev)
	}
	ms := func(d time.Duration) string { return fmt.Sprint(at.Add(d).UnixMilli()) }
	for _, ev := range []string{
		`{"id":"7","type":"TaskTimedOut","details":{"resource":"invoke","resourceType":"lambda","error":"States.Timeout","cause":"Task timed out after 300.00 seconds"},"previous_event_id":"6","event_timestamp":"` + ms(2*time.Second) + `","execution_arn":"` + arn("exec-f") + `","redrive_count":"0"}`,
		`{"id":"8","type":"MapIterationFailed","details":{"index":0,"name":"ProcessRecords"},"previous_event_id":"7","event_timestamp":"` + ms(2*time.Second) + `","execution_arn":"` + arn("exec-f") + `","redrive_count":"0"}`,
		`{"id":"9","type":"ExecutionFailed","details":{"cause":"The Map state failed.","error":"States.Runtime"},"previous_event_id":"8","event_timestamp":"` + ms(2*time.Second) + `","execution_arn":"` + arn("exec-f") + `","redrive_count":"0"}`,
	} {
		a.logs.Add(ev)
	}
	a.deadLetterBy(t, arn("exec-r"), "mail-t", "src-t", string(workflow.Throttled), "failed with Mail.Throttled", "tom@one.example", at)
	a.deadLetterBy(t, arn("exec-r"), "mail-i", "src-i", string(workflow.InvalidMessage), "subject: required", "ivy@one.example", at)
	a.deadLetterBy(t, arn("exec-r"), "mail-s", "src-s", string(workflow.Throttled), "failed with Mail.Throttled", "sue@two.example", at)
	// exec-g dead-lettered mail-g, whose copy is gone: only the index
	// says so.
	a.indexed(t, arn("exec-g"), "mail-g", "src-g", string(workflow.Throttled), "failed with Mail.Throttled", "gil@one.example", at)
	now := time.Now()
	if _, err := a.locks.Acquire(ctx, lock.AcquireParams{MailID: "mail-s", Owner: "o", ContentHash: "h", Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.locks.MarkSent(ctx, lock.MarkSentParams{MailID: "mail-s", Owner: "o", SESMessageID: "ses-0009", Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var body string
	for _, m := range a.peek(t, "mailflow-dlq") {
		if strings.Contains(m.Body, "mail-t") {
			body = m.Body
		}
	}

	a.run(t, ExitOK, []string{"replay", "exec-r", "--failed-only"},
		"#0 mail-t (dead-lettered, known from its dead-letter copy): re-enqueued as ", "the body is that of its dead-letter copy ",
		"its copy in the dead-letter queue was removed",
		"#1 mail-i (dead-lettered, known from its dead-letter copy): skipped, will fail again: Mail.InvalidMessage: subject: required",
		"#2 mail-s (dead-lettered, known from its dead-letter copy): skipped, already sent ses-0009",
		"note: the execution input is not logged (log level ERROR)",
		"1 of 3 items re-enqueued onto "+a.src+" (transient 1: 1 re-enqueued; permanent 1: 1 skipped; already-sent 1: 1 skipped)")
	if src := a.peek(t, "mailflow-source"); len(src) != 1 || src[0].Body != body {
		t.Fatalf("source queue after the replay: %+v, want the copy's body %s", src, body)
	}
	for _, m := range a.peek(t, "mailflow-dlq") {
		if strings.Contains(m.Body, "mail-t") {
			t.Errorf("the replayed copy is still in the dead-letter queue: %s", m.MessageID)
		}
	}
	a.run(t, ExitOK, []string{"replay", "exec-f"},
		"#0 - (unfinished): skipped, not replayed: its execution left the record on the source queue", "(on-source-queue 1: 1 skipped)")
	a.run(t, ExitFailure, []string{"replay", "exec-g"},
		"#0 mail-g (dead-lettered, known from the dead-letter index): skipped, cannot replay it: its body was not logged", "the dead-letter index lists it",
		"0 of 1 items re-enqueued", "(body-unknown 1: 1 skipped)", "1 item(s) not replayed: their bodies are in neither")
	a.run(t, ExitFailure, []string{"replay", "exec-h"}, "0 of 0 items re-enqueued", "no record of exec-h is known")

	// The reasons: from the index (the replayed mail left it), then from
	// the messages' own attributes.
	a.run(t, ExitOK, []string{"dlq", "list"},
		"mail mail-i  Mail.InvalidMessage", "cause: subject: required", "source message src-i, execution "+arn("exec-r"),
		"mail mail-s  Mail.Throttled", "mail mail-g  Mail.Throttled", "not:mail mail-t", "3 dead-lettered mail(s) in the index")
	a.run(t, ExitOK, []string{"dlq", "show", "mail-i"}, "~error\\s+Mail.InvalidMessage", "~cause\\s+subject: required", "are only in the queue")
	a.flags = a.flags[:len(a.flags)-2] // no --delivery-table
	a.run(t, ExitOK, []string{"dlq", "list"},
		"mail mail-i  Mail.InvalidMessage", "cause: subject: required", "mail mail-s  Mail.Throttled", "not:mail mail-t", "2 message(s) in "+a.dlq)
	if got := a.logs.Patterns(); len(got) == 0 {
		t.Fatal("replay read no log")
	}
}

// TestReplayGaps: a replay that left a failed record without a body, or
// knew no record at all, ends in an error; records left on the source
// queue and skipped ones do not.
func TestReplayGaps(t *testing.T) {
	x := &inspect.Execution{Name: "exec-1", InputMissing: true}
	for _, tc := range []struct {
		results []inspect.ReplayResult
		want    string
	}{
		{nil, "no record of exec-1 is known"},
		{[]inspect.ReplayResult{{Class: inspect.ClassBodyUnknown, Outcome: workflow.OutcomeDeadLettered}}, "1 item(s) not replayed"},
		{[]inspect.ReplayResult{{Class: inspect.ClassOnSourceQueue, Outcome: workflow.OutcomeRetryLater}, {Class: inspect.ClassPermanent, Outcome: workflow.OutcomeDeadLettered}}, ""},
	} {
		err := replayGaps(x, tc.results)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.results, err, tc.want)
		}
	}
}
