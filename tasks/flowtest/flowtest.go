// Package flowtest chains the four task handlers as the state machine
// chains them and checks that one mail is sent once. The contract tests
// run it over in-memory adapters, test/awstasks over the AWS adapters and
// their emulators: one chain, two sets of adapters.
package flowtest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/store"
	acquirelock "github.com/mailflow/mailflow/tasks/acquire-lock"
	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
	releaselock "github.com/mailflow/mailflow/tasks/release-lock"
	"github.com/mailflow/mailflow/tasks/send"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

// invoke runs a handler through aws-lambda-go's JSON handling, as Lambda
// and the local runtime do.
func invoke(t *testing.T, h any, payload any) (json.RawMessage, error) {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return lambda.NewHandler(h).Invoke(context.Background(), b)
}

// Services are the adapters the chain runs on.
type Services struct {
	Locks      lock.Table
	Store      store.Store
	Sender     sender.Sender
	SenderHits interface{ Hits() int }                // sends that reached the sender
	Sent       func(t *testing.T) []tasktest.SentMail // what the sender delivered
}

// Run chains the four handlers over svc as the definition does, with
// payloads built the way its Parameters build them, and sends one mail
// once: a redelivery of the same record answers already-sent.
func Run(t *testing.T, svc Services) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	locks, st, snd, sesProxy := svc.Locks, svc.Store, svc.Sender, svc.SenderHits
	clock := tasktest.NewClock()
	lease, retention := 6*time.Minute, 24*time.Hour
	acq, err := acquirelock.New(acquirelock.Config{Limits: tasktest.Limits, Lease: lease, Retention: retention}, acquirelock.Deps{Locks: locks, Clock: clock, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	fetch, err := fetchattachments.New(fetchattachments.Config{Limits: tasktest.Limits, StagingPrefix: tasktest.StagingPrefix, TempDir: t.TempDir()}, fetchattachments.Deps{Store: st, Clock: clock, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sendH, err := send.New(send.Config{Limits: tasktest.Limits, StagingPrefix: tasktest.StagingPrefix, Lease: lease, Retention: retention}, send.Deps{Locks: locks, Store: st, Sender: snd, Clock: clock, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := releaselock.New(releaselock.Deps{Locks: locks, Clock: clock, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}

	record := workflow.Record{MessageID: "sqs-1", Body: tasktest.Body(t, "flow-1", func(m map[string]any) { m["subject"] = "flow subject" })}
	run := func(execution string) (outcome workflow.Outcome) {
		owner := execution + "/" + record.MessageID // States.Format('{}/{}', $$.Execution.Id, $.messageId)
		raw, err := invoke(t, acq.Handle, map[string]any{"messageId": record.MessageID, "body": record.Body, "owner": owner})
		if err != nil {
			t.Fatalf("AcquireLock: %v", err)
		}
		var lockOut struct{ Outcome, MailID, Owner string }
		_ = json.Unmarshal(raw, &lockOut)
		if lockOut.Outcome == acquirelock.AlreadySent {
			return workflow.OutcomeAlreadySent
		}
		raw, err = invoke(t, fetch.Handle, map[string]any{"messageId": record.MessageID, "body": record.Body, "mailId": lockOut.MailID, "owner": lockOut.Owner})
		if err != nil {
			t.Fatalf("FetchAttachments: %v", err)
		}
		var staged map[string]any
		_ = json.Unmarshal(raw, &staged)
		raw, err = invoke(t, sendH.Handle, map[string]any{"messageId": record.MessageID, "body": record.Body, "mailId": lockOut.MailID, "owner": lockOut.Owner, "staged": staged})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		var sent struct{ SESMessageID string }
		if err := json.Unmarshal(raw, &sent); err != nil || sent.SESMessageID == "" {
			t.Fatalf("Send answered %s", raw)
		}
		return workflow.OutcomeSent
	}
	if got := run("arn:aws:states:us-east-1:1:express:mail:exec-1"); got != workflow.OutcomeSent {
		t.Fatalf("first execution: %s", got)
	}
	if got := run("arn:aws:states:us-east-1:1:express:mail:exec-2"); got != workflow.OutcomeAlreadySent {
		t.Fatalf("redelivery: %s", got)
	}
	n := 0
	for _, m := range svc.Sent(t) {
		if m.Subject == "flow subject" {
			n++
		}
	}
	if n != 1 || sesProxy.Hits() != 1 {
		t.Fatalf("SES received the mail %d times (%d requests)", n, sesProxy.Hits())
	}

	// A mail failing before the send: it never took the lock (AcquireLock
	// reads it, Send's attempt takes it), so the release finds none, and
	// the record stays free.
	bad := workflow.Record{MessageID: "sqs-2", Body: tasktest.Body(t, "flow-2", func(m map[string]any) {
		m["attachments"] = []map[string]any{{"key": "attachments/missing.pdf"}}
	})}
	owner := "exec-3/sqs-2"
	if _, err := invoke(t, acq.Handle, map[string]any{"messageId": bad.MessageID, "body": bad.Body, "owner": owner}); err != nil {
		t.Fatal(err)
	}
	_, err = invoke(t, fetch.Handle, map[string]any{"messageId": bad.MessageID, "body": bad.Body, "mailId": "flow-2", "owner": owner})
	if workflow.NameOf(err) != workflow.AttachmentMissing {
		t.Fatalf("FetchAttachments of a missing attachment: %v", err)
	}
	raw, err := invoke(t, rel.Handle, map[string]any{"messageId": bad.MessageID, "body": bad.Body, "owner": owner})
	if err != nil || string(raw) != `{"released":false,"reason":"not-found"}` {
		t.Fatalf("ReleaseLock = %s, %v", raw, err)
	}
}
