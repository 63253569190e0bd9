package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
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
