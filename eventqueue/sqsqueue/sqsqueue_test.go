package sqsqueue_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/eventqueue/sqsqueue"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/workflow"
)

// TestSendReachesTheQueue sends through our own SQS endpoint and reads the
// record back as the consumer does.
func TestSendReachesTheQueue(t *testing.T) {
	ctx := context.Background()
	store, err := sqsstore.Open(filepath.Join(t.TempDir(), "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateQueue(ctx, "events", nil, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sqsapi.New(store, sqsapi.Options{}))
	defer srv.Close()
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	url, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("events")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsqueue.New(client, aws.ToString(url.QueueUrl))
	if err != nil {
		t.Fatal(err)
	}
	sent := workflow.PipelineEvent{Source: workflow.PipelineEventSource, Type: workflow.EventAccepted, MessageID: "m-1",
		ExecutionID: "arn:exec:1", Time: "2026-12-07T10:00:00.123Z", MailID: "order-1/receipt"}
	if err := q.Send(ctx, sent); err != nil {
		t.Fatal(err)
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v, %+v", err, out)
	}
	got, err := workflow.ParsePipelineEvent([]byte(aws.ToString(out.Messages[0].Body)))
	if err != nil || got != sent {
		t.Fatalf("received %+v, %v; sent %+v", got, err, sent)
	}

	if err := q.Send(ctx, sent); err != nil {
		t.Fatal(err)
	}
	missing, _ := sqsqueue.New(client, srv.URL+"/000000000000/missing")
	if err := missing.Send(ctx, sent); err == nil {
		t.Fatal("a send to a missing queue succeeded")
	}
	if _, err := sqsqueue.New(client, "events"); err == nil {
		t.Fatal("a queue name was taken for a URL")
	}
}
