package sqsapi_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/local/gateway"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
)

// TestBehindRouter checks that the endpoint works behind the single local
// address that also serves S3: SDK (JSON) and query-protocol requests reach it.
func TestBehindRouter(t *testing.T) {
	t.Parallel()
	s, err := sqsstore.Open(filepath.Join(t.TempDir(), "q.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(gateway.Router{SQS: sqsapi.New(s, sqsapi.Options{})})
	defer srv.Close()
	c := newClient(srv.URL, nil)
	ctx := context.Background()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("routed")})
	if err != nil {
		t.Fatalf("CreateQueue through the router: %v", err)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("hi")}); err != nil {
		t.Fatal(err)
	}
	code, body := postForm(t, srv.URL, url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {*out.QueueUrl}})
	if code != 200 || !strings.Contains(string(body), "<Body>hi</Body>") {
		t.Fatalf("query ReceiveMessage through the router: %d %s", code, body)
	}
}
