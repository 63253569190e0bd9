package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/dynamodelivery"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// recordingS3 keeps the keys put, by bucket.
type recordingS3 struct{ puts []string }

func (r *recordingS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	r.puts = append(r.puts, aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key))
	return &s3.PutObjectOutput{}, nil
}

// TestSendAWSStack runs send --aws with the stack named by MAILFLOW_STACK:
// the queue and the bucket come from its outputs, the senders from the
// deployment configuration (MAILFLOW_CONFIG), and the mail lands on the
// stack's queue with its attachment in the stack's bucket. Not parallel:
// it sets the environment and replaces the AWS hooks.
func TestSendAWSStack(t *testing.T) {
	ctx := context.Background()
	store, err := sqsstore.Open(filepath.Join(t.TempDir(), "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := httptest.NewServer(sqsapi.New(store, sqsapi.Options{}))
	defer srv.Close()
	queues := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	src, err := queues.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("mailflow-source")})
	if err != nil {
		t.Fatal(err)
	}
	objects := &recordingS3{}
	savedStack, savedOpen := readStack, openSendAWS
	defer func() { readStack, openSendAWS = savedStack, savedOpen }()
	readStack = func(_ context.Context, _, stack string) (inspect.StackInfo, error) {
		switch stack {
		case "mailflow-prod":
			return inspect.StackInfo{QueueURL: aws.ToString(src.QueueUrl), Bucket: "prod-attachments"}, nil
		case "no-bucket":
			return inspect.StackInfo{QueueURL: aws.ToString(src.QueueUrl)}, nil
		}
		return inspect.StackInfo{}, fmt.Errorf("stack %s: not found", stack)
	}
	openSendAWS = func(context.Context, string) (client.SQSAPI, client.S3API, error) { return queues, objects, nil }
	t.Setenv(envDeployConfig, "../infra/mailflow.example.json")
	t.Setenv(envSenders, "")
	attachment := filepath.Join(t.TempDir(), "invoice.txt")
	if err := writeFile(attachment, "total 12"); err != nil {
		t.Fatal(err)
	}
	mail := []string{"send", "--aws", "--to", "jane@example.org", "--subject", "Invoice", "--text", "attached"}

	for _, c := range []struct {
		stack string
		args  []string
		code  int
		want  string
	}{
		{"mailflow-prod", []string{"--from", "billing@example.com", "--attach", attachment, "--mail-id", "aws-1"}, ExitOK, "enqueued mail aws-1"},
		{"mailflow-prod", []string{"--mail-id", "aws-2"}, ExitOK, "enqueued mail aws-2"}, // the configuration's defaultFrom
		{"mailflow-prod", []string{"--from", "ops@example.com"}, ExitUsage, "the pipeline allows billing@example.com, no-reply@example.com"},
		{"no-bucket", nil, ExitFailure, "stack no-bucket lacks the outputs QueueUrl or BucketName"},
		{"nope", nil, ExitFailure, "stack nope: not found"},
		{"", nil, ExitUsage, "--aws needs --stack (or MAILFLOW_STACK), or --queue-url and --bucket (the stack outputs QueueUrl and BucketName)"},
	} {
		t.Setenv("MAILFLOW_STACK", c.stack)
		var out, errOut bytes.Buffer
		code := Run(ctx, append(append([]string{}, mail...), c.args...), strings.NewReader(""), &out, &errOut)
		if text := out.String() + errOut.String(); code != c.code || !strings.Contains(text, c.want) {
			t.Errorf("MAILFLOW_STACK=%s %v: exit %d, want %d with %q:\n%s", c.stack, c.args, code, c.code, c.want, text)
		}
	}
	if len(objects.puts) != 1 || !strings.HasPrefix(objects.puts[0], "prod-attachments/attachments/") {
		t.Errorf("uploads %q, want one into the stack's bucket", objects.puts)
	}
	got, err := queues.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: src.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 2 {
		t.Fatalf("%d messages on the stack's queue, want 2", len(got.Messages))
	}
	for _, m := range got.Messages {
		if body := aws.ToString(m.Body); !strings.Contains(body, `"mailId":"aws-`) {
			t.Errorf("message %s", body)
		}
	}
}

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o644) }

// TestSendAWSWait runs send --aws --wait against the stack's tables: a
// stand-in for the deployed pipeline takes each message off the stack's
// queue and records what the pipeline would (the lock marked sent, SES's
// delivery or bounce events, or the dead-lettered entry) in DynamoDB
// (dynalite), and the wait reads them, never the logs. Not parallel: it
// replaces the AWS hooks.
func TestSendAWSWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := sqsstore.Open(filepath.Join(t.TempDir(), "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := httptest.NewServer(sqsapi.New(store, sqsapi.Options{}))
	defer srv.Close()
	queues := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")})
	src, err := queues.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("mailflow-source")})
	if err != nil {
		t.Fatal(err)
	}
	ddb := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	if err := dynamolock.CreateTable(ctx, ddb, "mailflow-locks"); err != nil {
		t.Fatal(err)
	}
	if err := dynamodelivery.CreateTable(ctx, ddb, "mailflow-deliveries"); err != nil {
		t.Fatal(err)
	}
	locks, _ := dynamolock.New(ddb, "mailflow-locks")
	deliveries, err := dynamodelivery.New(ddb, "mailflow-deliveries")
	if err != nil {
		t.Fatal(err)
	}
	savedStack, savedSend, savedOpen := readStack, openSendAWS, openAWS
	defer func() { readStack, openSendAWS, openAWS = savedStack, savedSend, savedOpen }()
	readStack = func(_ context.Context, _, stack string) (inspect.StackInfo, error) {
		if stack != "mailflow-prod" {
			return inspect.StackInfo{}, fmt.Errorf("stack %s: not found", stack)
		}
		return inspect.StackInfo{QueueURL: aws.ToString(src.QueueUrl), Bucket: "prod-attachments", DLQURL: aws.ToString(src.QueueUrl) + "-dlq",
			LockTable: "mailflow-locks", DeliveryTable: "mailflow-deliveries", LogGroup: "/aws/vendedlogs/states/mailflow"}, nil
	}
	openSendAWS = func(context.Context, string) (client.SQSAPI, client.S3API, error) { return queues, &recordingS3{}, nil }
	openAWS = func(ctx context.Context, o awsOptions) (*inspect.Backend, error) {
		o.Config = &aws.Config{Region: "us-east-1"}
		o.Logs, o.SQS, o.Locks, o.Deliveries = failingLogs{t}, queues, locks, deliveries
		return openAWSBackend(ctx, o)
	}

	// The pipeline's stand-in: what it records depends on the recipient.
	report := func(err error) {
		if err != nil && ctx.Err() == nil {
			t.Error(err)
		}
	}
	pipeline := func(mailID, to string) {
		now := time.Now()
		exp := now.Add(time.Hour)
		switch to {
		case "gone@example.org":
			at := now
			_, _, err := deliveries.Apply(ctx, delivery.ApplyParams{MailID: mailID, Now: now, ExpiresAt: exp, Events: []delivery.Event{{
				ID: "dl-" + mailID, Type: workflow.EventDeadLettered, Time: at,
				Reason: &workflow.EventReason{Error: string(workflow.Suppressed), Cause: "gone@example.org is suppressed (BOUNCE)"}}}})
			report(err)
			return
		}
		if rec, ok, err := locks.Get(ctx, mailID); err != nil || (ok && rec.Status == lock.Sent) {
			report(err) // an already-sent mail is left as it is
			return
		}
		if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: mailID, Owner: "exec-1", ContentHash: "h", Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: exp}); err != nil {
			report(err)
			return
		}
		if _, err := locks.MarkSent(ctx, lock.MarkSentParams{MailID: mailID, Owner: "exec-1", SESMessageID: "ses-" + mailID, Now: now, ExpiresAt: exp}); err != nil {
			report(err)
			return
		}
		state := workflow.EventDelivered
		var bounce *workflow.EventBounce
		if to == "bounce@example.org" {
			state, bounce = workflow.EventBounced, &workflow.EventBounce{Type: "Permanent", SubType: "General", DiagnosticCode: "550 5.1.1 user unknown"}
		}
		if _, _, err := deliveries.Apply(ctx, delivery.ApplyParams{MailID: mailID, Now: now, ExpiresAt: exp, Events: []delivery.Event{
			{ID: "d-" + mailID, Type: state, Recipient: to, Time: now.Add(time.Second), SESMessageID: "ses-" + mailID, Bounce: bounce}}}); err != nil {
			report(err)
		}
	}
	go func() {
		for ctx.Err() == nil {
			res, err := queues.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: src.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			if err != nil {
				continue
			}
			for _, m := range res.Messages {
				var msg struct {
					MailID string   `json:"mailId"`
					To     []string `json:"to"`
				}
				_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &msg)
				pipeline(msg.MailID, msg.To[0])
				_, _ = queues.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: src.QueueUrl, ReceiptHandle: m.ReceiptHandle})
			}
		}
	}()
	// A mail sent two hours ago under the id that is enqueued again.
	old := time.Now().Add(-2 * time.Hour)
	if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: "aws-old", Owner: "exec-0", ContentHash: "h", Now: old, LeaseUntil: old.Add(time.Minute), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.MarkSent(ctx, lock.MarkSentParams{MailID: "aws-old", Owner: "exec-0", SESMessageID: "ses-old", Now: old, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	t.Setenv(envDeployConfig, "../infra/mailflow.example.json")
	t.Setenv(envSenders, "")
	t.Setenv("MAILFLOW_STACK", "mailflow-prod")
	for _, c := range []struct {
		to, mailID string
		extra      []string
		code       int
		want       string
	}{
		{"ann@example.org", "aws-sent", nil, ExitOK, "mail aws-sent sent (SES message ses-aws-sent)"},
		{"ann@example.org", "aws-delivered", []string{"--until", "DELIVERED"}, ExitOK, "mail aws-delivered delivered (SES message ses-aws-delivered)"},
		{"bounce@example.org", "aws-bounced", []string{"--until", "delivered"}, ExitFailure, "not delivered to every recipient: bounce@example.org bounced (Permanent/General"},
		{"gone@example.org", "aws-gone", nil, ExitFailure, "mail aws-gone dead-lettered: Mail.Suppressed: gone@example.org is suppressed"},
		{"ann@example.org", "aws-old", nil, ExitOK, "mail aws-old already-sent (SES message ses-old, sent at "},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"send", "--aws", "--wait", "--timeout", "30s", "--to", c.to, "--subject", "Hi", "--text", "hello", "--mail-id", c.mailID}, c.extra...)
		code := Run(ctx, args, strings.NewReader(""), &out, &errOut)
		if text := out.String() + errOut.String(); code != c.code || !strings.Contains(text, c.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", c.mailID, code, c.code, c.want, text)
		}
	}
}

// failingLogs fails the test if the wait reads the execution logs.
type failingLogs struct{ t *testing.T }

func (f failingLogs) FilterLogEvents(context.Context, *cloudwatchlogs.FilterLogEventsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	f.t.Error("send --aws --wait read the execution logs")
	return &cloudwatchlogs.FilterLogEventsOutput{}, nil
}
