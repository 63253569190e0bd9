package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local/gateway"
	"github.com/mailflow/mailflow/local/s3local"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/workflow"
)

// A backend sends a receipt with a PDF attached. Here the queue and the
// bucket are local endpoints started in-process; against `mailflow dev` or
// AWS only the endpoint and names differ.
func ExampleClient_Send() {
	ctx := context.Background()
	endpoint, queueURL, cleanup := startLocalEndpoints()
	defer cleanup()

	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	c, err := client.New(client.Config{
		QueueURL: queueURL,
		Bucket:   "mailflow-attachments",
		Limits:   workflow.Limits{AttachmentPrefix: "attachments/", AllowedSenders: []string{"example.com"}},
		SQS:      sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds}),
		S3:       s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true, Credentials: creds}),
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Send(ctx, client.Mail{
		MailID:  "order-1042/receipt",
		From:    "Example Shop <billing@example.com>",
		To:      []string{"Ann Example <ann@example.org>"},
		Subject: "Your receipt for order 1042",
		Text:    "Thank you for your order. Your receipt is attached.",
		Attachments: []client.Attachment{
			{Filename: "receipt-1042.pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.7 ...")},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("enqueued %s with %d upload(s)\n", res.MailID, len(res.Uploaded))
	// Output: enqueued order-1042/receipt with 1 upload(s)
}

func startLocalEndpoints() (endpoint, queueURL string, cleanup func()) {
	dir, err := os.MkdirTemp("", "mailflow-example-")
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqsstore.Open(filepath.Join(dir, "queues.db"), sqsstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateQueue(context.Background(), "mailflow-source", nil, nil); err != nil {
		log.Fatal(err)
	}
	bucket, err := s3local.Open(filepath.Join(dir, "s3"), "mailflow-attachments")
	if err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(gateway.Router{SQS: sqsapi.New(store, sqsapi.Options{}), S3: bucket})
	return hs.URL, hs.URL + "/" + store.AccountID() + "/mailflow-source", func() {
		hs.Close()
		store.Close()
		os.RemoveAll(dir)
	}
}
