package inspect

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/workflow"
)

// memSource is a Source over a fixed set of executions.
type memSource struct{ execs []*Execution }

func (m memSource) List(context.Context, Filter) (Page, error) { return Page{}, nil }

func (m memSource) Get(_ context.Context, id string) (*Execution, error) {
	for _, x := range m.execs {
		if x.ID == id || x.Name == id {
			return x, nil
		}
	}
	return nil, ErrNotFound
}

func (m memSource) MailExecutions(_ context.Context, mailID string) ([]MailExecution, error) {
	var out []MailExecution
	for i := len(m.execs) - 1; i >= 0; i-- {
		for _, it := range m.execs[i].Items {
			if it.MailID == mailID {
				out = append(out, MailExecution{ExecutionID: m.execs[i].ID, StartedAt: m.execs[i].StartedAt, Item: it})
			}
		}
	}
	return out, nil
}

// A record whose every execution failed as a whole is moved by the source
// queue's redrive policy with no reason of its own; dlq list gives it the
// reason of its last execution.
func TestExplainDeadLettersMovedByTheRedrivePolicy(t *testing.T) {
	t.Parallel()
	client, q := sqsEndpoint(t)
	ctx := context.Background()
	body := `{"version":1,"mailId":"culprit-1","to":["a@example.org"],"subject":"s","text":"t"}`
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.SourceURL), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
	// Five receives without a delete: the redrive policy moves it.
	for range 6 {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.SourceURL)})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			if _, err := client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q.SourceURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dls, err := q.DeadLetters(ctx, 10)
	if err != nil || len(dls) != 1 || dls[0].MailID != "culprit-1" || dls[0].Error != "" {
		t.Fatalf("dead letters %+v, %v: want culprit-1 without a reason", dls, err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	src := memSource{execs: []*Execution{
		{ID: "arn:x:exec-old", Name: "exec-old", Status: asl.StatusSucceeded, StartedAt: t0,
			Items: []Item{{MailID: "culprit-1", Outcome: workflow.OutcomeRetryLater, Error: string(workflow.Transient), Cause: "S3 down"}}},
		{ID: "arn:x:exec-new", Name: "exec-new", Status: asl.StatusFailed, Error: asl.ErrRuntime, Cause: "the execution failed as a whole", StartedAt: t0.Add(time.Minute),
			Items: []Item{{MailID: "culprit-1", Outcome: workflow.OutcomeUnfinished}}},
	}}
	ExplainDeadLetters(ctx, src, dls)
	d := dls[0]
	if d.Error != asl.ErrRuntime || d.Cause != "the execution failed as a whole" || d.ExecutionID != "arn:x:exec-new" || !strings.Contains(d.ReasonFrom, "exec-new") {
		t.Fatalf("explained %+v, want the last execution's error and cause", d)
	}
	// A message with a reason of its own keeps it.
	own := []DeadLetter{{MailID: "culprit-1", Error: string(workflow.Rejected), Cause: "no"}}
	ExplainDeadLetters(ctx, src, own)
	if own[0].Error != string(workflow.Rejected) || own[0].ReasonFrom != "" {
		t.Fatalf("own reason replaced: %+v", own[0])
	}
}
