package inspect

import (
	"context"
	"encoding/json"
	"errors"
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

// stateMachineCopy puts a record in the DLQ as the DeadLetter state does:
// its body, tagged with the source message id, the execution and the
// failure.
func stateMachineCopy(t *testing.T, c *sqs.Client, q *Queues, sourceMessageID, executionID, body string, name workflow.ErrorName, cause string) {
	t.Helper()
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	failure, _ := json.Marshal(map[string]string{"Error": string(name), "Cause": cause})
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.DLQURL), MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			workflow.DLQAttrMessageID: str(sourceMessageID), workflow.DLQAttrExecutionID: str(executionID),
			workflow.DLQAttrError: str(string(name)), workflow.DLQAttrFailure: str(string(failure)),
		}}); err != nil {
		t.Fatal(err)
	}
}

func mailBody(id string) string {
	return `{"version":1,"mailId":"` + id + `","from":"shop@example.com","to":["ann@example.org"],"subject":"s","text":"t"}`
}

// sourceBodies receives what the source queue holds, by mail id.
func sourceBodies(t *testing.T, c *sqs.Client, q *Queues) map[string]string {
	t.Helper()
	got := map[string]string{}
	for {
		res, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.SourceURL), MaxNumberOfMessages: 10, VisibilityTimeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return got
		}
		for _, m := range res.Messages {
			got[workflow.PeekMailID(aws.ToString(m.Body))] = aws.ToString(m.Body)
		}
	}
}

// TestReplayAtErrorLevel replays an execution logged at ERROR, whose
// input (the records and their bodies) is not logged. Its items are those
// a source names without bodies (message id, mail id, outcome), and the
// copies the execution tagged in the dead-letter queue:
//   - a dead-lettered record is re-enqueued with the body of its copy,
//     which is then removed;
//   - a retry-later record with no copy is reported on-source-queue (SQS
//     delivers it again), not replayed;
//   - a sent one is skipped, and so is a copy whose mail's lock is SENT;
//   - a dead-lettered record whose copy is gone cannot be replayed, and
//     NotReplayed counts it;
//   - a copy's error classifies an item that has none (permanent: kept);
//   - a copy no item names is replayed as one more item.
func TestReplayAtErrorLevel(t *testing.T) {
	t.Parallel()
	client, q := sqsEndpoint(t)
	ctx := context.Background()
	now := time.Now().UTC()
	x, err := levelSource(t, "testdata/express-error-level.jsonl").Get(ctx, "exec-e")
	if err != nil {
		t.Fatal(err)
	}
	if x.LogLevel != LevelError || !x.InputMissing || len(x.Items) != 0 {
		t.Fatalf("fixture: level %s, input missing %v, items %+v", x.LogLevel, x.InputMissing, x.Items)
	}
	if note := ReplayInputNote(x); !strings.Contains(note, "not logged (log level ERROR)") {
		t.Errorf("input note %q", note)
	}
	// The items as a source without the input knows them: no bodies.
	x.Items = []Item{
		{Index: 0, MessageID: "m-0", MailID: "dl-1", Outcome: workflow.OutcomeDeadLettered, Error: string(workflow.Throttled)},
		{Index: 1, MessageID: "m-1", MailID: "later-1", Outcome: workflow.OutcomeRetryLater, Error: string(workflow.LockBusy)},
		{Index: 2, MessageID: "m-2", MailID: "sent-1", Outcome: workflow.OutcomeSent},
		{Index: 3, MessageID: "m-3", MailID: "gone-1", Outcome: workflow.OutcomeDeadLettered, Error: string(workflow.Throttled)},
		{Index: 4, MessageID: "m-4", MailID: "perm-1", Outcome: workflow.OutcomeDeadLettered},
	}
	stateMachineCopy(t, client, q, "m-0", x.ID, mailBody("dl-1"), workflow.Throttled, "rate exceeded")
	stateMachineCopy(t, client, q, "m-4", x.ID, mailBody("perm-1"), workflow.InvalidMessage, `{"errorMessage":"invalid message: subject: required","errorType":"Mail.InvalidMessage"}`)
	stateMachineCopy(t, client, q, "m-8", x.ID, mailBody("resent-1"), workflow.Throttled, "rate exceeded")
	stateMachineCopy(t, client, q, "m-9", x.ID, mailBody("extra-1"), workflow.Throttled, "rate exceeded")
	stateMachineCopy(t, client, q, "m-x", "arn:aws:states:eu-west-1:123456789012:express:mailflow-prod:other:1", mailBody("other-1"), workflow.Throttled, "rate exceeded")
	locks := mapLocks{"resent-1": {MailID: "resent-1", Status: lock.Sent, SESMessageID: "ses-0007", SentAt: now, ExpiresAt: now.Add(time.Hour)}}

	res, err := Replay(ctx, x, ReplayOptions{FailedOnly: true}, q, locks, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		mail, class, action, knownFrom string
		note                           []string
	}{
		{"dl-1", ClassTransient, ActionEnqueued, "", []string{"the body is that of its dead-letter copy ", "its copy in the dead-letter queue was removed"}},
		{"later-1", ClassOnSourceQueue, ActionSkipped, "", []string{"not replayed", "left the record on the source queue", "no copy of it is in the dead-letter queue"}},
		{"sent-1", ClassAlreadySent, ActionSkipped, "", []string{"not failed (sent)"}},
		{"gone-1", ClassBodyUnknown, ActionSkipped, "", []string{"cannot replay it", "no copy of it is in the dead-letter queue", "past the queue's retention"}},
		{"perm-1", ClassPermanent, ActionSkipped, "", []string{"will fail again: Mail.InvalidMessage: invalid message: subject: required"}},
		{"resent-1", ClassAlreadySent, ActionSkipped, KnownFromDeadLetterQueue, []string{"already sent ses-0007"}},
		{"extra-1", ClassTransient, ActionEnqueued, KnownFromDeadLetterQueue, []string{"dead-letter copy", "its copy in the dead-letter queue was removed"}},
	}
	if len(res) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(res), len(want), res)
	}
	for i, w := range want {
		r := res[i]
		if r.MailID != w.mail || r.Class != w.class || r.Action != w.action || r.KnownFrom != w.knownFrom {
			t.Errorf("#%d: %s %s %s %q, want %s %s %s %q", i, r.MailID, r.Class, r.Action, r.KnownFrom, w.mail, w.class, w.action, w.knownFrom)
		}
		for _, n := range w.note {
			if !strings.Contains(r.Note, n) {
				t.Errorf("#%d %s: note %q lacks %q", i, r.MailID, r.Note, n)
			}
		}
	}
	if res[0].BodyFrom == "" || res[0].DeadLettersRemoved != 1 || res[6].MessageID != "m-9" || res[6].Index != 6 {
		t.Errorf("replayed from copies: %+v, %+v", res[0], res[6])
	}
	if n := NotReplayed(res); n != 1 {
		t.Errorf("NotReplayed = %d, want 1 (gone-1)", n)
	}
	// The bodies enqueued are the copies' bodies, byte for byte; the
	// copies replayed are gone, the others stay.
	got := sourceBodies(t, client, q)
	if len(got) != 2 || got["dl-1"] != mailBody("dl-1") || got["extra-1"] != mailBody("extra-1") {
		t.Fatalf("source queue after the replay: %v", got)
	}
	if left := dlqMailIDs(t, q); left != "perm-1,resent-1,other-1" {
		t.Fatalf("dead-letter queue after the replay: %s", left)
	}
	sum := SummarizeReplay(res)
	if len(sum) != 5 || sum[0] != (ReplayCount{Class: ClassTransient, Items: 2, Enqueued: 2}) ||
		sum[3] != (ReplayCount{Class: ClassOnSourceQueue, Items: 1, Skipped: 1}) || sum[4] != (ReplayCount{Class: ClassBodyUnknown, Items: 1, Skipped: 1}) {
		t.Fatalf("summary %+v", sum)
	}

	// A failed execution at ERROR knows its iteration by index only: no
	// message id, no body, unfinished (the batch went back to the queue).
	f, err := levelSource(t, "testdata/express-error-level.jsonl").Get(ctx, "exec-f")
	if err != nil {
		t.Fatal(err)
	}
	res, err = Replay(ctx, f, ReplayOptions{}, q, locks, now, nil)
	if err != nil || len(res) != 1 || res[0].Class != ClassOnSourceQueue || res[0].Action != ActionSkipped || NotReplayed(res) != 0 {
		t.Fatalf("exec-f: %+v %v", res, err)
	}
}

// TestReplayMatchesACopyByMailID: an item a source names by mail id only
// takes the body of the copy its execution tagged for that mail, and that
// copy is not replayed a second time as an item of its own.
func TestReplayMatchesACopyByMailID(t *testing.T) {
	t.Parallel()
	client, q := sqsEndpoint(t)
	ctx := context.Background()
	x := &Execution{ID: "arn:aws:states:eu-west-1:1:express:mailflow:exec-k:1", Name: "exec-k", InputMissing: true, Items: []Item{
		{Index: 0, MailID: "only-mail-1", Outcome: workflow.OutcomeDeadLettered, Error: string(workflow.Throttled)},
	}}
	stateMachineCopy(t, client, q, "m-0", x.ID, mailBody("only-mail-1"), workflow.Throttled, "rate exceeded")
	res, err := Replay(ctx, x, ReplayOptions{}, q, nil, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Action != ActionEnqueued || res[0].DeadLettersRemoved != 1 {
		t.Fatalf("results %+v", res)
	}
	if got := sourceBodies(t, client, q); len(got) != 1 || got["only-mail-1"] != mailBody("only-mail-1") {
		t.Fatalf("source queue %v", got)
	}
}

// failingSource is the SQS client with SendMessage to one queue failing,
// recording the calls that change a queue in order.
type failingSource struct {
	SQSAPI
	failURL string
	calls   []string
}

func (f *failingSource) SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.calls = append(f.calls, "send "+aws.ToString(in.QueueUrl))
	if aws.ToString(in.QueueUrl) == f.failURL {
		return nil, errors.New("service unavailable")
	}
	return f.SQSAPI.SendMessage(ctx, in, opts...)
}

func (f *failingSource) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	f.calls = append(f.calls, "delete "+aws.ToString(in.QueueUrl))
	return f.SQSAPI.DeleteMessage(ctx, in, opts...)
}

// TestReplayFromACopyDeletesItOnlyAfterTheEnqueue: when the enqueue of a
// body read from its dead-letter copy fails, the copy stays; when it
// succeeds, the copy is deleted after it.
func TestReplayFromACopyDeletesItOnlyAfterTheEnqueue(t *testing.T) {
	t.Parallel()
	client, q := sqsEndpoint(t)
	ctx := context.Background()
	x := &Execution{ID: "arn:aws:states:eu-west-1:1:express:mailflow:exec-d:1", Name: "exec-d", InputMissing: true, LogLevel: LevelError, Items: []Item{
		{Index: 0, MessageID: "m-0", MailID: "keep-1", Outcome: workflow.OutcomeDeadLettered, Error: string(workflow.Throttled)},
	}}
	stateMachineCopy(t, client, q, "m-0", x.ID, mailBody("keep-1"), workflow.Throttled, "rate exceeded")
	api := &failingSource{SQSAPI: client, failURL: q.SourceURL}
	fq := *q
	fq.API = api
	res, err := Replay(ctx, x, ReplayOptions{}, &fq, nil, time.Now(), nil)
	if err == nil || !strings.Contains(err.Error(), "service unavailable") || len(res) != 1 || res[0].Action != ActionFailed {
		t.Fatalf("replay with the source queue failing: %+v %v", res, err)
	}
	if left := dlqMailIDs(t, q); left != "keep-1" {
		t.Fatalf("dead-letter queue after the failed enqueue: %q, want the copy kept", left)
	}
	api.failURL, api.calls = "", nil
	if res, err = Replay(ctx, x, ReplayOptions{}, &fq, nil, time.Now(), nil); err != nil || res[0].Action != ActionEnqueued || res[0].DeadLettersRemoved != 1 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if got := strings.Join(api.calls, ", "); got != "send "+q.SourceURL+", delete "+q.DLQURL {
		t.Fatalf("calls %s, want the send to the source queue, then the delete from the dead-letter queue", got)
	}
	if left := dlqMailIDs(t, q); left != "" {
		t.Fatalf("dead-letter queue after the replay: %q", left)
	}
}
