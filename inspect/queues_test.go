package inspect

import (
	"context"
	"encoding/json"
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

	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// sqsEndpoint serves a fresh queue store over the local SQS endpoint on a
// loopback port and returns an SDK client for it, with a source queue whose
// redrive policy names a dead-letter queue.
func sqsEndpoint(t *testing.T) (*sqs.Client, *Queues) {
	t.Helper()
	store, err := sqsstore.Open(filepath.Join(t.TempDir(), "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := httptest.NewServer(sqsapi.New(store, sqsapi.Options{}))
	t.Cleanup(srv.Close)
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	ctx := context.Background()
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("mailflow-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": store.QueueARN("mailflow-dlq"), "maxReceiveCount": 5})
	src, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("mailflow-source"),
		Attributes: map[string]string{"RedrivePolicy": string(redrive)}})
	if err != nil {
		t.Fatal(err)
	}
	return client, &Queues{API: client, SourceURL: aws.ToString(src.QueueUrl), DLQURL: aws.ToString(dlq.QueueUrl), PollInterval: 20 * time.Millisecond}
}

// deadLetter sends a message to the DLQ as the state machine's DeadLetter
// state does.
func deadLetter(t *testing.T, client *sqs.Client, q *Queues, mailID, errName, cause string) {
	t.Helper()
	failure, _ := json.Marshal(map[string]string{"Error": errName, "Cause": cause})
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	_, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl:    aws.String(q.DLQURL),
		MessageBody: aws.String(`{"version":1,"mailId":"` + mailID + `","to":["a@example.org"],"subject":"s","text":"t"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			workflow.DLQAttrError: str(errName), workflow.DLQAttrFailure: str(string(failure)),
			workflow.DLQAttrMessageID: str("src-" + mailID), workflow.DLQAttrExecutionID: str("arn:aws:states:us-east-1:1:express:mailflow:exec-" + mailID + ":u"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestQueuesOverTheSQSEndpoint(t *testing.T) {
	t.Parallel()
	client, q := sqsEndpoint(t)
	ctx := context.Background()
	deadLetter(t, client, q, "order-1", "Mail.Rejected", `{"errorMessage":"MessageRejected: Email address is not verified.","errorType":"Mail.Rejected"}`)
	deadLetter(t, client, q, "order-2", "Mail.InvalidMessage", "invalid message: subject: required")

	for round := range 2 { // a listing gives the messages back: twice the same
		msgs, err := q.DeadLetters(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 {
			t.Fatalf("round %d: %d messages", round, len(msgs))
		}
		byMail := map[string]DeadLetter{}
		for _, m := range msgs {
			byMail[m.MailID] = m
		}
		m := byMail["order-1"]
		if m.Error != "Mail.Rejected" || m.Cause != "MessageRejected: Email address is not verified." || m.SourceMessageID != "src-order-1" ||
			!strings.Contains(m.ExecutionID, "exec-order-1") || m.SentAt.IsZero() {
			t.Errorf("order-1: %+v", m)
		}
		if m := byMail["order-2"]; m.Error != "Mail.InvalidMessage" || m.Cause != "invalid message: subject: required" {
			t.Errorf("order-2: %+v", m)
		}
	}
	if msgs, err := q.DeadLetters(ctx, 1); err != nil || len(msgs) != 1 {
		t.Fatalf("max 1: %d %v", len(msgs), err)
	}
	depths, err := q.Depths(ctx)
	if err != nil || len(depths) != 2 || depths[1].Visible != 2 || depths[1].InFlight != 0 || !depths[1].DeadLetter || depths[0].Visible != 0 {
		t.Fatalf("depths %+v %v", depths, err)
	}

	var progress []MoveStatus
	st, err := q.Redrive(ctx, func(m MoveStatus) { progress = append(progress, m) })
	if err != nil || st.Status != "COMPLETED" || st.Moved != 2 || st.ToMove != 2 {
		t.Fatalf("redrive %+v %v", st, err)
	}
	if len(progress) == 0 || progress[len(progress)-1] != st {
		t.Fatalf("progress %+v", progress)
	}
	depths, _ = q.Depths(ctx)
	if depths[0].Visible != 2 || depths[1].Visible != 0 {
		t.Fatalf("after the redrive: %+v", depths)
	}
	// An empty DLQ redrives to completion too.
	if st, err := q.Redrive(ctx, nil); err != nil || st.Status != "COMPLETED" || st.Moved != 0 {
		t.Fatalf("empty redrive %+v %v", st, err)
	}
	id, err := q.Enqueue(ctx, `{"mailId":"x"}`)
	if err != nil || id == "" {
		t.Fatalf("enqueue %q %v", id, err)
	}
}

func TestReplayAndMailStatusWithDynamoLocks(t *testing.T) {
	t.Parallel()
	client, q := sqsEndpoint(t)
	ctx := context.Background()
	ddb := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	if err := dynamolock.CreateTable(ctx, ddb, "locks"); err != nil {
		t.Fatal(err)
	}
	locks, err := dynamolock.New(ddb, "locks")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: "welcome-1", Owner: "exec/m-0", ContentHash: "h", Now: now,
		LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.MarkSent(ctx, lock.MarkSentParams{MailID: "welcome-1", Owner: "exec/m-0", SESMessageID: "ses-0001", Now: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	src, _ := fixtureSource(t)
	x, err := src.Get(ctx, "exec-a")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Replay(ctx, x, ReplayOptions{FailedOnly: true}, q, locks, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Action != ActionSkipped || res[1].Action != ActionSkipped || res[1].Class != ClassPermanent ||
		!strings.Contains(res[1].Note, "will fail again: Mail.InvalidMessage") {
		t.Fatalf("failed-only replay %+v", res)
	}
	res, err = Replay(ctx, x, ReplayOptions{Force: true}, q, locks, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != ActionSkipped || res[0].LockStatus != "SENT" || res[0].Note != "already sent ses-0001" ||
		res[1].Action != ActionEnqueued || !res[1].Forced {
		t.Fatalf("forced replay %+v", res)
	}
	// Without the lock table, the outcome alone says the mail was sent.
	if res, err := Replay(ctx, x, ReplayOptions{}, q, nil, now, nil); err != nil || res[0].Action != ActionSkipped || !strings.Contains(res[0].Note, "already sent") {
		t.Fatalf("replay without locks %+v %v", res, err)
	}
	// What was enqueued is the forced record's body.
	got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.SourceURL), MaxNumberOfMessages: 10, VisibilityTimeout: 30})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range got.Messages {
		bodies = append(bodies, workflow.PeekMailID(aws.ToString(m.Body)))
	}
	if strings.Join(bodies, ",") != "bad-1" {
		t.Fatalf("enqueued %v", bodies)
	}

	st, err := Mail(ctx, "welcome-1", &Backend{Source: src, Locks: locks}, now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Lock == nil || st.Lock.Status != "SENT" || st.Lock.SESMessageID != "ses-0001" || !st.Lock.SentAt.Equal(now) || len(st.Executions) != 2 {
		t.Fatalf("mail status %+v", st)
	}
	if st, err := Mail(ctx, "never-seen", &Backend{Source: src, Locks: locks}, now); err != nil || st.Lock != nil || len(st.Executions) != 0 {
		t.Fatalf("unknown mail %+v %v", st, err)
	}
	// A mail being sent: its owner, lease and attempts so far.
	if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: "slow-1", Owner: "exec/m-9", ContentHash: "h", Now: now,
		LeaseUntil: now.Add(6 * time.Minute), ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := locks.Renew(ctx, lock.RenewParams{MailID: "slow-1", Owner: "exec/m-9", Now: now,
			LeaseUntil: now.Add(6 * time.Minute), ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	st, err = Mail(ctx, "slow-1", &Backend{Source: src, Locks: locks}, now)
	if err != nil {
		t.Fatal(err)
	}
	if l := st.Lock; l == nil || l.Status != "SENDING" || l.Owner != "exec/m-9" || l.SendAttempts != 3 || l.LeaseUntil.IsZero() {
		t.Fatalf("mail being sent %+v", l)
	}
}
