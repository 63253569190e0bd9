package inspect

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/workflow"
)

// mapLocks is a lock table read from a map.
type mapLocks map[string]lock.Record

func (m mapLocks) Get(_ context.Context, mailID string) (lock.Record, bool, error) {
	r, ok := m[mailID]
	return r, ok, nil
}

// copyToDLQ puts a copy of a source record in the DLQ the way the state
// machine does: tagged with the source message id and the error.
func copyToDLQ(t *testing.T, c *sqs.Client, q *Queues, sourceMessageID, mailID string, name workflow.ErrorName) {
	t.Helper()
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.DLQURL),
		MessageBody: aws.String(`{"mailId":"` + mailID + `"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			workflow.DLQAttrMessageID: str(sourceMessageID), workflow.DLQAttrError: str(string(name)),
		}}); err != nil {
		t.Fatal(err)
	}
}

func dlqMailIDs(t *testing.T, q *Queues) string {
	t.Helper()
	dls, err := q.DeadLetters(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range dls {
		ids = append(ids, d.MailID)
	}
	return strings.Join(ids, ",")
}

// TestReplayClassifiesEachRecord: a permanent failure is reported as
// failing again and left in the dead-letter queue, an already-sent mail is
// skipped, an outcome-unknown one waits for --force, and a transient
// failure is re-enqueued with its dead-letter copy removed; --force then
// replays the permanent one and removes its copy, so no record is both
// pending and dead-lettered.
func TestReplayClassifiesEachRecord(t *testing.T) {
	t.Parallel()
	client, q := sqsEndpoint(t)
	ctx := context.Background()
	now := time.Now().UTC()
	body := func(id string) string { return `{"version":1,"mailId":"` + id + `"}` }
	x := &Execution{ID: "exec-r", Name: "exec-r", Items: []Item{
		{Index: 0, MessageID: "m-0", MailID: "suppressed-1", Outcome: workflow.OutcomeDeadLettered,
			Error: string(workflow.Suppressed), Cause: "ann@example.org is on the suppression list", Body: body("suppressed-1")},
		{Index: 1, MessageID: "m-1", MailID: "sent-1", Outcome: workflow.OutcomeRetryLater, Error: string(workflow.LockBusy), Body: body("sent-1")},
		{Index: 2, MessageID: "m-2", MailID: "throttled-1", Outcome: workflow.OutcomeDeadLettered, Error: string(workflow.Throttled), Body: body("throttled-1")},
		{Index: 3, MessageID: "m-3", MailID: "unknown-1", Outcome: workflow.OutcomeDeadLettered, Error: string(workflow.OutcomeUnknown), Body: body("unknown-1")},
	}}
	locks := mapLocks{"sent-1": {MailID: "sent-1", Status: lock.Sent, SESMessageID: "ses-0042", SentAt: now, ExpiresAt: now.Add(time.Hour)}}
	copyToDLQ(t, client, q, "m-0", "suppressed-1", workflow.Suppressed)
	copyToDLQ(t, client, q, "m-2", "throttled-1", workflow.Throttled)
	copyToDLQ(t, client, q, "m-3", "unknown-1", workflow.OutcomeUnknown)
	copyToDLQ(t, client, q, "m-other", "other-1", workflow.InvalidMessage)

	var seen []string
	res, err := Replay(ctx, x, ReplayOptions{FailedOnly: true}, q, locks, now, func(r ReplayResult) { seen = append(seen, r.MailID) })
	if err == nil || !strings.Contains(err.Error(), ErrOutcomeUnknown.Error()) {
		t.Fatalf("replay of an outcome-unknown mail without --force: %v", err)
	}
	want := []struct{ class, action, note string }{
		{ClassPermanent, ActionSkipped, "will fail again: Mail.Suppressed: ann@example.org is on the suppression list"},
		{ClassAlreadySent, ActionSkipped, "already sent ses-0042"},
		{ClassTransient, ActionEnqueued, "its copy in the dead-letter queue was removed"},
		{ClassOutcomeUnknown, ActionSkipped, "replay with --force"},
	}
	if len(res) != len(want) || strings.Join(seen, ",") != "suppressed-1,sent-1,throttled-1,unknown-1" {
		t.Fatalf("results %+v, progress saw %v", res, seen)
	}
	for i, w := range want {
		if r := res[i]; r.Class != w.class || r.Action != w.action || !strings.Contains(r.Note, w.note) {
			t.Errorf("#%d: %s %s %q, want %s %s %q", i, r.Class, r.Action, r.Note, w.class, w.action, w.note)
		}
	}
	if res[2].DeadLettersRemoved != 1 {
		t.Errorf("transient replay removed %d dead-letter copies, want 1", res[2].DeadLettersRemoved)
	}
	// The skipped ones keep their copy; the replayed one has none left.
	if got := dlqMailIDs(t, q); got != "suppressed-1,unknown-1,other-1" {
		t.Fatalf("dead-letter queue after the replay: %s", got)
	}
	sum := SummarizeReplay(res)
	if len(sum) != 4 || sum[0] != (ReplayCount{Class: ClassTransient, Items: 1, Enqueued: 1}) ||
		sum[1] != (ReplayCount{Class: ClassPermanent, Items: 1, Skipped: 1}) || sum[2].Skipped != 1 || sum[3].Skipped != 1 {
		t.Fatalf("summary %+v", sum)
	}

	// Forced, the permanent failure and the outcome-unknown one are sent
	// again; the already-sent one still is not.
	x.Items = []Item{x.Items[0], x.Items[1], x.Items[3]}
	res, err = Replay(ctx, x, ReplayOptions{FailedOnly: true, Force: true}, q, locks, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != ActionEnqueued || !res[0].Forced || !strings.Contains(res[0].Note, "forced: it failed with Mail.Suppressed") ||
		res[1].Action != ActionSkipped || res[2].Action != ActionEnqueued || !res[2].Forced {
		t.Fatalf("forced replay %+v", res)
	}
	if got := dlqMailIDs(t, q); got != "other-1" {
		t.Fatalf("dead-letter queue after the forced replay: %s", got)
	}
	if sum := SummarizeReplay(res); sum[0] != (ReplayCount{Class: ClassPermanent, Items: 1, Enqueued: 1, Forced: 1}) {
		t.Fatalf("summary %+v", sum)
	}
	got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.SourceURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range got.Messages {
		ids = append(ids, workflow.PeekMailID(aws.ToString(m.Body)))
	}
	if strings.Join(ids, ",") != "throttled-1,suppressed-1,unknown-1" {
		t.Fatalf("enqueued %v", ids)
	}
}

// TestReplayRefusesAMaskedBody: a body whose addresses a log's data
// protection policy masked is not the mail; replay skips it, even forced,
// and keeps its dead-letter copy.
func TestReplayRefusesAMaskedBody(t *testing.T) {
	t.Parallel()
	client, q := sqsEndpoint(t)
	ctx := context.Background()
	now := time.Now().UTC()
	x := &Execution{ID: "exec-m", Name: "exec-m", Items: []Item{
		{Index: 0, MessageID: "m-0", MailID: "masked-1", Outcome: workflow.OutcomeDeadLettered, Error: string(workflow.Throttled),
			Body: `{"version":1,"mailId":"masked-1","from":"***************","to":["ann@example.org","**************"],"subject":"s","text":"t"}`},
	}}
	copyToDLQ(t, client, q, "m-0", "masked-1", workflow.Throttled)
	res, err := Replay(ctx, x, ReplayOptions{FailedOnly: true, Force: true}, q, mapLocks{}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Class != ClassBodyUnknown || res[0].Action != ActionSkipped || !strings.Contains(res[0].Note, "masked in the log") {
		t.Fatalf("results %+v", res)
	}
	if got := dlqMailIDs(t, q); got != "masked-1" {
		t.Fatalf("dead-letter queue after the replay: %q, want the copy kept", got)
	}
}

func TestMaskedAddresses(t *testing.T) {
	for body, want := range map[string]bool{
		`{"to":["ann@example.org"],"from":"a@example.com"}`: false,
		`{"to":["*****"]}`:                             true,
		`{"cc":["ann@example.org","***"]}`:             true,
		`{"from":"********"}`:                          true,
		`{"replyTo":["***"]}`:                          true,
		`{"to":["ann@example.org"],"subject":"*****"}`: false,
		`{"to":[""]}`:                                  false,
		`not json`:                                     false,
	} {
		if got := MaskedAddresses(body); got != want {
			t.Errorf("MaskedAddresses(%s) = %v, want %v", body, got, want)
		}
	}
}
