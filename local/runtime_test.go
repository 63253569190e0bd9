package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

type finished struct {
	exec  execstore.Execution
	items []execstore.Item
}

func start(t *testing.T, cfg local.Config) (*local.Runtime, *client.Client, chan finished) {
	t.Helper()
	return startWith(t, cfg, local.Hooks{})
}

// startWith is start with faults injected by hooks.
func startWith(t *testing.T, cfg local.Config, hooks local.Hooks) (*local.Runtime, *client.Client, chan finished) {
	t.Helper()
	done := make(chan finished, 100)
	cfg.DataDir = t.TempDir()
	cfg.Addr = "127.0.0.1:0"
	cfg.BatchWindow = 20 * time.Millisecond
	cfg.OnExecution = func(e execstore.Execution, items []execstore.Item) { done <- finished{e, items} }
	rt, err := local.StartWith(context.Background(), cfg, hooks)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	c, err := client.New(client.Config{
		QueueURL: rt.QueueURL(rt.Config().SourceQueue), Bucket: rt.Config().Bucket,
		Limits: workflow.Limits{AttachmentPrefix: rt.Config().AttachmentPrefix, AllowedSenders: rt.Config().AllowedSenders, DefaultSender: rt.Config().DefaultSender},
		SQS:    sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(rt.Endpoint()), Credentials: creds}),
		S3:     s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(rt.Endpoint()), UsePathStyle: true, Credentials: creds}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rt, c, done
}

func waitItems(t *testing.T, done chan finished, n int) []execstore.Item {
	t.Helper()
	var items []execstore.Item
	timeout := time.After(60 * time.Second)
	for len(items) < n {
		select {
		case f := <-done:
			if f.exec.Status != asl.StatusSucceeded {
				t.Fatalf("execution %s: %s %s %s", f.exec.Name, f.exec.Status, f.exec.Error, f.exec.Cause)
			}
			items = append(items, f.items...)
		case <-timeout:
			t.Fatalf("only %d of %d items finished", len(items), n)
		}
	}
	return items
}

func TestMailGoesThrough(t *testing.T) {
	t.Parallel()
	rt, c, done := start(t, local.Config{})
	_, err := c.Send(context.Background(), client.Mail{
		MailID: "hello-1", To: []string{"ann@example.org"}, Subject: "Hello", Text: "Hi Ann", HTML: "<p>Hi Ann</p>",
		Attachments: []client.Attachment{{Filename: "a.txt", ContentType: "text/plain", Content: []byte("attached")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	items := waitItems(t, done, 1)
	if items[0].Outcome != "sent" || items[0].MailID != "hello-1" {
		t.Fatalf("item %+v", items[0])
	}
	files, _ := filepath.Glob(filepath.Join(rt.OutboxDir(), "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d files in the outbox", len(files))
	}
	b, _ := os.ReadFile(files[0])
	if len(b) == 0 {
		t.Fatal("empty .eml")
	}
}

func TestOneRuntimePerDataDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rt, err := local.Start(context.Background(), local.Config{DataDir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.Start(context.Background(), local.Config{DataDir: dir, Addr: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "already using") {
		t.Fatalf("a second runtime on the same directory: %v", err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt, err = local.Start(context.Background(), local.Config{DataDir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("restart after a clean stop: %v", err)
	}
	rt.Close(context.Background())
}
