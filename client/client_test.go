package client_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local/gateway"
	"github.com/mailflow/mailflow/local/s3local"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/workflow"
)

type env struct {
	client   *client.Client
	sqs      *sqs.Client
	s3       *s3.Client
	queueURL string
	limits   workflow.Limits
}

// setup serves a local SQS queue and S3 bucket on one address and points
// real SDK clients at it.
func setup(t *testing.T) env {
	t.Helper()
	dir := t.TempDir()
	store, err := sqsstore.Open(filepath.Join(dir, "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.CreateQueue(context.Background(), "mail", nil, nil); err != nil {
		t.Fatal(err)
	}
	bucket, err := s3local.Open(filepath.Join(dir, "s3"), "attachments-bucket")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gateway.Router{SQS: sqsapi.New(store, sqsapi.Options{}), S3: bucket})
	t.Cleanup(hs.Close)
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	e := env{
		sqs:    sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), Credentials: creds}),
		s3:     s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), UsePathStyle: true, Credentials: creds}),
		limits: workflow.Limits{AttachmentPrefix: "attachments/", AllowedSenders: []string{"example.com"}, DefaultSender: "noreply@example.com"},
	}
	out, err := e.sqs.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("mail")})
	if err != nil {
		t.Fatal(err)
	}
	e.queueURL = aws.ToString(out.QueueUrl)
	e.client, err = client.New(client.Config{QueueURL: e.queueURL, Bucket: "attachments-bucket", Limits: e.limits, SQS: e.sqs, S3: e.s3})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e env) receive(t *testing.T) []sqstypes.Message {
	t.Helper()
	out, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(e.queueURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Messages
}

func (e env) object(t *testing.T, key string) string {
	t.Helper()
	out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("attachments-bucket"), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("object %s: %v", key, err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b)
}

func TestSendUploadsThenEnqueues(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res, err := e.client.Send(context.Background(), client.Mail{
		MailID: "order-7/receipt", To: []string{"Ann <ann@example.org>"}, Subject: "Receipt", Text: "Thanks",
		Attachments: []client.Attachment{{Filename: "receipt.pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.7 ...")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.MessageID == "" || len(res.Uploaded) != 1 {
		t.Fatalf("result %+v", res)
	}
	msgs := e.receive(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on the queue", len(msgs))
	}
	m, err := workflow.Parse([]byte(aws.ToString(msgs[0].Body)), e.limits)
	if err != nil {
		t.Fatalf("the queued body is not a valid message: %v", err)
	}
	if len(m.Attachments) != 1 || !strings.HasPrefix(m.Attachments[0].Key, "attachments/") {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	if got := e.object(t, m.Attachments[0].Key); got != "%PDF-1.7 ..." {
		t.Fatalf("uploaded %q", got)
	}
	if v := msgs[0].MessageAttributes["mailflow.mailId"]; aws.ToString(v.StringValue) != "order-7/receipt" {
		t.Fatalf("mailId attribute %+v", v)
	}
}

func TestLargeBodiesGoToS3(t *testing.T) {
	t.Parallel()
	e := setup(t)
	html := "<p>" + strings.Repeat("big newsletter ", 4000) + "</p>"
	_, err := e.client.Send(context.Background(), client.Mail{MailID: "big", To: []string{"a@example.org"}, Subject: "s", Text: "short", HTML: html})
	if err != nil {
		t.Fatal(err)
	}
	body := aws.ToString(e.receive(t)[0].Body)
	if len(body) > client.DefaultMaxMessageBytes {
		t.Fatalf("queued body is %d bytes", len(body))
	}
	m, err := workflow.Parse([]byte(body), e.limits)
	if err != nil {
		t.Fatal(err)
	}
	if m.HTML != "" || m.HTMLKey == "" || m.Text != "short" {
		t.Fatalf("html not offloaded: %+v", m)
	}
	if e.object(t, m.HTMLKey) != html {
		t.Fatal("offloaded HTML differs")
	}
}

func TestInvalidMailTouchesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, err := e.client.Send(context.Background(), client.Mail{
		MailID: "bad id with spaces", To: []string{"a@example.org"}, Subject: "s", Text: "t",
		Attachments: []client.Attachment{{Filename: "a.txt", Content: []byte("x")}},
	})
	var inv *workflow.InvalidMessageError
	if !errors.As(err, &inv) || !inv.Has("mailId") {
		t.Fatalf("got %v", err)
	}
	list, lerr := e.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("attachments-bucket")})
	if lerr != nil || len(list.Contents) != 0 {
		t.Fatalf("objects uploaded for an invalid mail: %v %v", lerr, list.Contents)
	}
	if n := len(e.receive(t)); n != 0 {
		t.Fatalf("%d messages enqueued for an invalid mail", n)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	if _, err := client.New(client.Config{}); err == nil {
		t.Fatal("accepted an empty config")
	}
}

// TestClientRefusesWhatThePipelineRefuses: the client validates with the
// contract before it uploads or enqueues, so a mail the pipeline would
// dead-letter (reserved headers, a container attachment type, an unsafe file
// name, an address the envelope cannot carry, text that is not UTF-8) is
// refused with the same field and touches nothing.
func TestClientRefusesWhatThePipelineRefuses(t *testing.T) {
	t.Parallel()
	e := setup(t)
	valid := func() client.Mail {
		return client.Mail{MailID: "m", To: []string{"a@example.org"}, Subject: "s", Text: "t"}
	}
	for field, edit := range map[string]func(*client.Mail){
		"headers": func(m *client.Mail) { m.Headers = map[string]string{"X-SES-CONFIGURATION-SET": "untracked"} },
		"attachments[0].contentType": func(m *client.Mail) {
			m.Attachments = []client.Attachment{{Filename: "a.eml", ContentType: "message/rfc822", Content: []byte("x")}}
		},
		"attachments[0].filename": func(m *client.Mail) {
			m.Attachments = []client.Attachment{{Filename: "invoice\u202efdp.exe", Content: []byte("MZ")}}
		},
		"to[0]":          func(m *client.Mail) { m.To = []string{`"victim@evil"@example.org`} },
		"subject":        func(m *client.Mail) { m.Subject = "caf\xe9" },
		"headers.X-Note": func(m *client.Mail) { m.Headers = map[string]string{"X-Note": "\x1b[2J"} },
	} {
		m := valid()
		edit(&m)
		_, err := e.client.Send(context.Background(), m)
		var inv *workflow.InvalidMessageError
		if !errors.As(err, &inv) || !inv.Has(field) {
			t.Errorf("%s: got %v", field, err)
		}
	}
	list, lerr := e.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("attachments-bucket")})
	if lerr != nil || len(list.Contents) != 0 {
		t.Fatalf("objects uploaded for invalid mail: %v %v", lerr, list.Contents)
	}
	if n := len(e.receive(t)); n != 0 {
		t.Fatalf("%d messages enqueued for invalid mail", n)
	}
}
