package sqsapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
)

func benchQueue(b *testing.B) (*sqs.Client, string) {
	s, err := sqsstore.Open(filepath.Join(b.TempDir(), "bench.db"), sqsstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sqsapi.New(s, sqsapi.Options{}))
	b.Cleanup(func() { srv.Close(); s.Close() })
	c := newClient(srv.URL, nil)
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	return c, *out.QueueUrl
}

// BenchmarkSendReceiveDelete moves one message at a time through the
// endpoint with the SDK client: SendMessage, ReceiveMessage, DeleteMessage.
func BenchmarkSendReceiveDelete(b *testing.B) {
	c, url := benchQueue(b)
	ctx := context.Background()
	body := aws.String(`{"to":"someone@example.com","subject":"hello","text":"a short transactional mail"}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: body}); err != nil {
			b.Fatal(err)
		}
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
		if err != nil || len(out.Messages) != 1 {
			b.Fatalf("receive: %v %v", out, err)
		}
		if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSendReceiveDeleteBatch10 does the same with batches of ten.
func BenchmarkSendReceiveDeleteBatch10(b *testing.B) {
	c, url := benchQueue(b)
	ctx := context.Background()
	body := aws.String(`{"to":"someone@example.com","subject":"hello","text":"a short transactional mail"}`)
	entries := make([]types.SendMessageBatchRequestEntry, 10)
	for i := range entries {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: body}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries}); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < 10; {
			out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
			if err != nil || len(out.Messages) == 0 {
				b.Fatalf("receive: %v %v", out, err)
			}
			del := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
			for j, m := range out.Messages {
				del[j] = types.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), ReceiptHandle: m.ReceiptHandle}
			}
			if _, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: del}); err != nil {
				b.Fatal(err)
			}
			got += len(out.Messages)
		}
	}
	b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "msgs/s")
}
