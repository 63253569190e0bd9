package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	recordevent "github.com/mailflow/mailflow/tasks/record-event"
	"github.com/mailflow/mailflow/workflow"
)

// scripted answers each body as the test says.
type scripted map[string]error

func (s scripted) HandleBatch(_ context.Context, bodies [][]byte) ([]recordevent.Result, []error) {
	errs := make([]error, len(bodies))
	for i, b := range bodies {
		errs[i] = s[string(b)]
	}
	return make([]recordevent.Result, len(bodies)), errs
}

func TestBatchDeadLettersMalformedAndRetriesTransient(t *testing.T) {
	ctx := context.Background()
	store, err := sqsstore.Open(filepath.Join(t.TempDir(), "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateQueue(ctx, "events-dlq", nil, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sqsapi.New(store, sqsapi.Options{}))
	defer srv.Close()
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	url, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("events-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	b := &batch{
		rec: scripted{
			"bad":   &recordevent.MalformedError{Reason: "no source"},
			"flaky": errors.New("DynamoDB throttled"),
		},
		sqs: client, dlqURL: aws.ToString(url.QueueUrl), log: slog.New(slog.DiscardHandler),
	}
	resp, err := b.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: "good"}, {MessageId: "m2", Body: "bad"}, {MessageId: "m3", Body: "flaky"}, {MessageId: "m4", Body: "good"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m3" {
		t.Fatalf("batch item failures %+v, want only m3", resp.BatchItemFailures)
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("%d dead letters", len(out.Messages))
	}
	m := out.Messages[0]
	if aws.ToString(m.Body) != "bad" || aws.ToString(m.MessageAttributes[workflow.DLQAttrReason].StringValue) != "no source" ||
		aws.ToString(m.MessageAttributes[workflow.DLQAttrMessageID].StringValue) != "m2" {
		t.Fatalf("dead letter %+v", m)
	}

	// When the dead-letter queue cannot take it, the record is retried, not lost.
	b.dlqURL = srv.URL + "/000000000000/missing"
	resp, _ = b.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m5", Body: "bad"}}})
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m5" {
		t.Fatalf("batch item failures %+v, want m5", resp.BatchItemFailures)
	}
}
