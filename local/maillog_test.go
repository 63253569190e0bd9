package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/execstore"
)

// syncLog is a log destination the runtime's goroutines share.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// mailKeys are the attributes only a line about one mail has.
var mailKeys = []string{"messageId", "sesMessageId", "event", "address", "task"}

// TestEveryMailLogLineHasItsMailID runs the runtime with its JSON log at
// debug level through a sent mail (bounced, its address suppressed, its
// events failing to reach a webhook) and a failed one (to the suppressed
// address) and one that fails validation, and checks that every line about
// one mail names its mailId.
func TestEveryMailLogLineHasItsMailID(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadHook := "http://" + l.Addr().String() + "/hook"
	l.Close()
	log := &syncLog{}
	done := make(chan []execstore.Item, 10)
	rt, err := local.Start(context.Background(), local.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", BatchWindow: 10 * time.Millisecond,
		Log:         slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Webhooks:    local.WebhookConfig{URLs: []string{deadHook}, Secret: "0123456789abcdef0123", RetryFor: time.Second},
		OnExecution: func(_ execstore.Execution, items []execstore.Item) { done <- items }})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	c := sqs.New(sqs.Options{Region: rt.Config().Region, BaseEndpoint: aws.String(rt.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	queue := rt.QueueURL(rt.Config().SourceQueue)
	for _, tc := range []struct{ body, outcome string }{
		{`{"version":1,"mailId":"log-sent","from":"a@example.com","to":["bounce@simulator.amazonses.com"],"subject":"s","text":"t"}`, "sent"},
		{`{"version":1,"mailId":"log-failed","from":"a@example.com","to":["bounce@simulator.amazonses.com"],"subject":"s","text":"t"}`, "dead-lettered"},
		// Refused by validation: its lines still name the mailId it claims.
		{`{"version":1,"mailId":"log-invalid","from":"a@example.com","to":"not a list","subject":"s","text":"t"}`, "dead-lettered"},
	} {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &queue, MessageBody: aws.String(tc.body)}); err != nil {
			t.Fatal(err)
		}
		select {
		case items := <-done:
			if len(items) != 1 || string(items[0].Outcome) != tc.outcome {
				t.Fatalf("items %+v, want one %s", items, tc.outcome)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the mail was not processed")
		}
		// The bounce suppresses the address before the next mail.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(logText(log), `"msg":"address suppressed"`) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logText(log), "webhook delivery given up") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	about := map[string]int{}
	for _, line := range log.lines(t) {
		concerns := false
		for _, k := range mailKeys {
			if _, ok := line[k]; ok {
				concerns = true
			}
		}
		if !concerns {
			continue
		}
		id, _ := line["mailId"].(string)
		if id != "log-sent" && id != "log-failed" && id != "log-invalid" {
			t.Errorf("a line about one mail has no mailId: %v", line)
		}
		about[line["msg"].(string)]++
	}
	for _, want := range []string{"done", "address suppressed", "webhook delivery failed; retrying", "webhook delivery given up"} {
		if about[want] == 0 {
			t.Errorf("no %q line was logged: the scenario did not run (%v)", want, about)
		}
	}
}

func logText(l *syncLog) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
