// Package sqstest is the conformance suite for SQS endpoints: one set of
// tests, driven through the aws-sdk-go-v2 SQS client, that every
// implementation of the queue must pass. The client speaks the JSON
// protocol; with [QueryProtocol] as its transport the same tests run
// through the query protocol (form requests, XML answers).
//
// Who uses it: local/sqsapi runs it against the local SQLite-backed
// endpoint in both protocols, on the bare handler and behind the local
// gateway router (sqsapi's TestConformance); the same suite can run against
// real SQS with a harness whose Advance sleeps.
//
// What it covers: redelivery after the visibility timeout, a harmless second
// delete, stale receipt handles, the batch cap of 10, an empty long poll that
// is not an error and a long poll woken by a send, no assumed ordering, delay,
// redrive to the dead-letter queue at exactly maxReceiveCount, a restart of
// the endpoint with messages in flight, message move tasks back from the
// dead-letter queue (and their one-task-per-queue rule and cancellation),
// MD5 digests of bodies and attributes, and AWS's error shapes.
//
// Decisions: each test builds its own harness (for the local endpoint: its
// own database file and clock) and its own uniquely named queues. Time is
// crossed with Harness.Advance, never with sleeps; the only real waits are
// bounded (at most a few seconds) guards against a hang.
package sqstest

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// Harness is one endpoint under test, fresh for each test.
type Harness interface {
	// Client returns a client for the endpoint. It stays valid across
	// Restart.
	Client() *sqs.Client
	// Advance lets d pass on the endpoint's clock: instantly for a virtual
	// clock, by sleeping against a real service.
	Advance(t *testing.T, d time.Duration)
	// AwaitWaiting returns once a long poll has started waiting on the
	// endpoint, or after a short bounded delay if that cannot be observed.
	AwaitWaiting(t *testing.T)
}

// Restarter is a Harness that can stop its endpoint and start it again on the
// same durable state, as a process restart would.
type Restarter interface {
	Restart(t *testing.T)
}

// Run runs every conformance test, each with a harness from newHarness.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"RedeliveryAfterVisibilityTimeout", testRedelivery},
		{"SecondDeleteIsHarmless", testSecondDelete},
		{"StaleReceiptHandle", testStaleHandle},
		{"BatchCapOfTen", testBatchCap},
		{"EmptyLongPoll", testEmptyLongPoll},
		{"LongPollWokenBySend", testLongPollWake},
		{"NoAssumedOrdering", testNoOrdering},
		{"ConcurrentReceiversGetDistinctMessages", testConcurrentReceivers},
		{"DelaySeconds", testDelay},
		{"RedriveAtMaxReceiveCount", testRedrive},
		{"RestartWithMessagesInFlight", testRestart},
		{"MoveTaskBackFromDLQ", testMoveTask},
		{"MoveTaskOnePerSourceAndCancel", testMoveTaskCancel},
		{"Digests", testDigests},
		{"Errors", testErrors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func uniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "sqstest-" + prefix + "-" + hex.EncodeToString(b[:])
}

func createQueue(t *testing.T, h Harness, prefix string, attrs map[string]string) string {
	t.Helper()
	out, err := h.Client().CreateQueue(ctxT(t), &sqs.CreateQueueInput{QueueName: aws.String(uniqueName(prefix)), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	return *out.QueueUrl
}

func queueArn(t *testing.T, h Harness, url string) string {
	t.Helper()
	return queueAttrs(t, h, url)["QueueArn"]
}

func queueAttrs(t *testing.T, h Harness, url string) map[string]string {
	t.Helper()
	out, err := h.Client().GetQueueAttributes(ctxT(t), &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	return out.Attributes
}

func wantCounts(t *testing.T, h Harness, url string, visible, inFlight int) {
	t.Helper()
	a := queueAttrs(t, h, url)
	if a["ApproximateNumberOfMessages"] != strconv.Itoa(visible) || a["ApproximateNumberOfMessagesNotVisible"] != strconv.Itoa(inFlight) {
		t.Fatalf("counts visible=%s in-flight=%s, want %d and %d", a["ApproximateNumberOfMessages"],
			a["ApproximateNumberOfMessagesNotVisible"], visible, inFlight)
	}
}

func send(t *testing.T, h Harness, url, body string) string {
	t.Helper()
	out, err := h.Client().SendMessage(ctxT(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return *out.MessageId
}

func receive(t *testing.T, h Harness, url string, max int32) []types.Message {
	t.Helper()
	out, err := h.Client().ReceiveMessage(ctxT(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: max,
		WaitTimeSeconds: 0, MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func receiveOne(t *testing.T, h Harness, url string) types.Message {
	t.Helper()
	msgs := receive(t, h, url, 1)
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func receiveNone(t *testing.T, h Harness, url, why string) {
	t.Helper()
	if msgs := receive(t, h, url, 10); len(msgs) != 0 {
		t.Fatalf("%s: received %d messages (first body %q), want none", why, len(msgs), aws.ToString(msgs[0].Body))
	}
}

func deleteMsg(t *testing.T, h Harness, url, handle string) {
	t.Helper()
	if _, err := h.Client().DeleteMessage(ctxT(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: &handle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
}

func receiveCount(t *testing.T, m types.Message) int {
	t.Helper()
	n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if err != nil {
		t.Fatalf("ApproximateReceiveCount %q: %v", m.Attributes["ApproximateReceiveCount"], err)
	}
	return n
}

func wantAPIError(t *testing.T, err error, codes ...string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v, want an API error with code %v", err, codes)
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return
		}
	}
	t.Fatalf("error code %q (%v), want one of %v", ae.ErrorCode(), err, codes)
}

func testRedelivery(t *testing.T, h Harness) {
	url := createQueue(t, h, "redeliver", map[string]string{"VisibilityTimeout": "30"})
	id := send(t, h, url, "again")
	first := receiveOne(t, h, url)
	if *first.MessageId != id || *first.Body != "again" || receiveCount(t, first) != 1 {
		t.Fatalf("first delivery %+v", first)
	}
	receiveNone(t, h, url, "while in flight")
	wantCounts(t, h, url, 0, 1)
	h.Advance(t, 29*time.Second)
	receiveNone(t, h, url, "one second before the visibility timeout ends")
	h.Advance(t, time.Second)
	second := receiveOne(t, h, url)
	if *second.MessageId != id || receiveCount(t, second) != 2 {
		t.Fatalf("redelivery id=%s count=%d, want %s and 2", *second.MessageId, receiveCount(t, second), id)
	}
	if *second.ReceiptHandle == *first.ReceiptHandle {
		t.Fatal("redelivery reused the receipt handle")
	}
	if second.Attributes["ApproximateFirstReceiveTimestamp"] != first.Attributes["ApproximateFirstReceiveTimestamp"] {
		t.Fatal("ApproximateFirstReceiveTimestamp changed on redelivery")
	}
	deleteMsg(t, h, url, *second.ReceiptHandle)
	h.Advance(t, time.Minute)
	receiveNone(t, h, url, "after delete")
}

func testSecondDelete(t *testing.T, h Harness) {
	url := createQueue(t, h, "twice", nil)
	send(t, h, url, "once")
	m := receiveOne(t, h, url)
	deleteMsg(t, h, url, *m.ReceiptHandle)
	deleteMsg(t, h, url, *m.ReceiptHandle) // must not fail
	out, err := h.Client().DeleteMessageBatch(ctxT(t), &sqs.DeleteMessageBatchInput{QueueUrl: &url,
		Entries: []types.DeleteMessageBatchRequestEntry{{Id: aws.String("a"), ReceiptHandle: m.ReceiptHandle}}})
	if err != nil || len(out.Successful) != 1 || len(out.Failed) != 0 {
		t.Fatalf("batch delete of a deleted message: %+v %v", out, err)
	}
	h.Advance(t, time.Minute)
	receiveNone(t, h, url, "after two deletes")
	wantCounts(t, h, url, 0, 0)
}

func testStaleHandle(t *testing.T, h Harness) {
	url := createQueue(t, h, "stale", map[string]string{"VisibilityTimeout": "10"})
	send(t, h, url, "stale")
	old := receiveOne(t, h, url)
	h.Advance(t, 10*time.Second)
	current := receiveOne(t, h, url)
	// AWS: a delete with a handle that is not the most recent one succeeds
	// but need not delete the message. It must not delete the new delivery.
	deleteMsg(t, h, url, *old.ReceiptHandle)
	wantCounts(t, h, url, 0, 1)
	if _, err := h.Client().ChangeMessageVisibility(ctxT(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: &url,
		ReceiptHandle: old.ReceiptHandle, VisibilityTimeout: 0}); err == nil {
		t.Fatal("ChangeMessageVisibility with a stale handle succeeded")
	}
	if _, err := h.Client().ChangeMessageVisibility(ctxT(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: &url,
		ReceiptHandle: current.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatalf("ChangeMessageVisibility with the current handle: %v", err)
	}
	third := receiveOne(t, h, url)
	if receiveCount(t, third) != 3 {
		t.Fatalf("receive count %d, want 3", receiveCount(t, third))
	}
	deleteMsg(t, h, url, *third.ReceiptHandle)
	wantCounts(t, h, url, 0, 0)

	_, err := h.Client().DeleteMessage(ctxT(t), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: aws.String("not-a-receipt-handle")})
	var invalid *types.ReceiptHandleIsInvalid
	if !errors.As(err, &invalid) {
		t.Fatalf("malformed handle: %v, want ReceiptHandleIsInvalid", err)
	}
}

func testBatchCap(t *testing.T, h Harness) {
	url := createQueue(t, h, "batch", nil)
	entries := func(n int) []types.SendMessageBatchRequestEntry {
		var out []types.SendMessageBatchRequestEntry
		for i := range n {
			out = append(out, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprintf("m%d", i)), MessageBody: aws.String(fmt.Sprintf("body %d", i))})
		}
		return out
	}
	_, err := h.Client().SendMessageBatch(ctxT(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries(11)})
	var tooMany *types.TooManyEntriesInBatchRequest
	if !errors.As(err, &tooMany) {
		t.Fatalf("batch of 11: %v, want TooManyEntriesInBatchRequest", err)
	}
	dup := entries(2)
	dup[1].Id = dup[0].Id
	_, err = h.Client().SendMessageBatch(ctxT(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: dup})
	var notDistinct *types.BatchEntryIdsNotDistinct
	if !errors.As(err, &notDistinct) {
		t.Fatalf("duplicate ids: %v, want BatchEntryIdsNotDistinct", err)
	}
	bad := entries(1)
	bad[0].Id = aws.String("bad id!")
	_, err = h.Client().SendMessageBatch(ctxT(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: bad})
	var badID *types.InvalidBatchEntryId
	if !errors.As(err, &badID) {
		t.Fatalf("invalid id: %v, want InvalidBatchEntryId", err)
	}
	out, err := h.Client().SendMessageBatch(ctxT(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries(10)})
	if err != nil || len(out.Successful) != 10 || len(out.Failed) != 0 {
		t.Fatalf("batch of 10: %+v %v", out, err)
	}
	send(t, h, url, "eleventh")
	_, err = h.Client().ReceiveMessage(ctxT(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 11})
	wantAPIError(t, err, "InvalidParameterValue")
	msgs := receive(t, h, url, 10)
	if len(msgs) < 1 || len(msgs) > 10 {
		t.Fatalf("received %d, want 1..10", len(msgs))
	}
	var del []types.DeleteMessageBatchRequestEntry
	for i, m := range msgs {
		del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
	}
	dout, err := h.Client().DeleteMessageBatch(ctxT(t), &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: del})
	if err != nil || len(dout.Successful) != len(msgs) {
		t.Fatalf("DeleteMessageBatch: %+v %v", dout, err)
	}
	_, err = h.Client().DeleteMessageBatch(ctxT(t), &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: []types.DeleteMessageBatchRequestEntry{}})
	var empty *types.EmptyBatchRequest
	if !errors.As(err, &empty) {
		t.Fatalf("empty batch: %v, want EmptyBatchRequest", err)
	}
	wantCounts(t, h, url, 11-len(msgs), 0)
}

// longPoll starts a ReceiveMessage with the wait time and returns its result
// channel.
func longPoll(t *testing.T, h Harness, url string, wait int32) <-chan *sqs.ReceiveMessageOutput {
	done := make(chan *sqs.ReceiveMessageOutput, 1)
	errc := make(chan error, 1)
	ctx := ctxT(t)
	go func() {
		out, err := h.Client().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: wait, MaxNumberOfMessages: 10})
		if err != nil {
			errc <- err
			close(done)
			return
		}
		done <- out
	}()
	t.Cleanup(func() {
		select {
		case err := <-errc:
			t.Errorf("long poll: %v", err)
		default:
		}
	})
	return done
}

func testEmptyLongPoll(t *testing.T, h Harness) {
	url := createQueue(t, h, "emptypoll", nil)
	done := longPoll(t, h, url, 1)
	h.AwaitWaiting(t)
	guard := time.After(10 * time.Second)
	for {
		select {
		case out, ok := <-done:
			if !ok {
				t.Fatal("empty long poll failed")
			}
			if len(out.Messages) != 0 {
				t.Fatalf("empty long poll returned %d messages", len(out.Messages))
			}
			return
		case <-guard:
			t.Fatal("empty long poll did not return after its wait time")
		default:
			h.Advance(t, 100*time.Millisecond)
			time.Sleep(time.Millisecond) // let the poll observe the clock; bounded by guard
		}
	}
}

func testLongPollWake(t *testing.T, h Harness) {
	url := createQueue(t, h, "wake", nil)
	done := longPoll(t, h, url, 20)
	h.AwaitWaiting(t)
	start := time.Now()
	id := send(t, h, url, "wake up")
	select {
	case out, ok := <-done:
		if !ok {
			t.Fatal("long poll failed")
		}
		if len(out.Messages) != 1 || *out.Messages[0].MessageId != id {
			t.Fatalf("long poll returned %+v", out.Messages)
		}
		// The poll waits 20 s; an answer well before that came from the send.
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("long poll took %v to see a sent message", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long poll was not woken by a send")
	}
}

func testNoOrdering(t *testing.T, h Harness) {
	url := createQueue(t, h, "order", nil)
	want := map[string]bool{}
	for i := range 25 {
		body := fmt.Sprintf("message %02d", i)
		want[body] = true
		send(t, h, url, body)
	}
	got := map[string]bool{}
	for range 50 {
		msgs := receive(t, h, url, 10)
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if got[*m.Body] {
				t.Fatalf("message %q delivered twice while in flight", *m.Body)
			}
			got[*m.Body] = true
			deleteMsg(t, h, url, *m.ReceiptHandle)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("received %d distinct messages, want %d", len(got), len(want))
	}
	for b := range want {
		if !got[b] {
			t.Fatalf("message %q never received", b)
		}
	}
}

func testConcurrentReceivers(t *testing.T, h Harness) {
	url := createQueue(t, h, "concurrent", map[string]string{"VisibilityTimeout": "300"})
	const n = 60
	for i := 0; i < n; i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := i; j < i+10; j++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(fmt.Sprintf("m%d", j))})
		}
		if _, err := h.Client().SendMessageBatch(ctxT(t), &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := ctxT(t)
	results := make(chan []string, 4)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var got []string
			for range n {
				out, err := h.Client().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
				if err != nil {
					errs <- err
					return
				}
				if len(out.Messages) == 0 {
					break
				}
				for _, m := range out.Messages {
					got = append(got, *m.Body)
				}
			}
			results <- got
		}()
	}
	seen := map[string]int{}
	for range 4 {
		select {
		case err := <-errs:
			t.Fatalf("ReceiveMessage: %v", err)
		case got := <-results:
			for _, b := range got {
				seen[b]++
			}
		}
	}
	for b, c := range seen {
		if c != 1 {
			t.Fatalf("message %s delivered %d times to concurrent receivers within its visibility timeout", b, c)
		}
	}
	if len(seen) != n {
		t.Fatalf("concurrent receivers got %d distinct messages, want %d", len(seen), n)
	}
}

func testDelay(t *testing.T, h Harness) {
	url := createQueue(t, h, "delay", map[string]string{"DelaySeconds": "5"})
	send(t, h, url, "queue delay")
	_, err := h.Client().SendMessage(ctxT(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("message delay"), DelaySeconds: 20})
	if err != nil {
		t.Fatal(err)
	}
	if a := queueAttrs(t, h, url); a["ApproximateNumberOfMessagesDelayed"] != "2" {
		t.Fatalf("delayed = %s, want 2", a["ApproximateNumberOfMessagesDelayed"])
	}
	receiveNone(t, h, url, "before any delay ends")
	h.Advance(t, 5*time.Second)
	if m := receiveOne(t, h, url); *m.Body != "queue delay" {
		t.Fatalf("got %q", *m.Body)
	}
	receiveNone(t, h, url, "before the message delay ends")
	h.Advance(t, 15*time.Second)
	if m := receiveOne(t, h, url); *m.Body != "message delay" {
		t.Fatalf("got %q", *m.Body)
	}
}

func redrivePolicy(dlqArn string, max int) string {
	return fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, dlqArn, max)
}

func testRedrive(t *testing.T, h Harness) {
	dlq := createQueue(t, h, "dlq", nil)
	dlqArn := queueArn(t, h, dlq)
	src := createQueue(t, h, "src", map[string]string{"VisibilityTimeout": "10", "RedrivePolicy": redrivePolicy(dlqArn, 3)})
	if p := queueAttrs(t, h, src)["RedrivePolicy"]; p == "" {
		t.Fatal("RedrivePolicy not returned")
	}
	id := send(t, h, src, "poison")
	for i := 1; i <= 3; i++ {
		m := receiveOne(t, h, src)
		if receiveCount(t, m) != i {
			t.Fatalf("receive %d: count %d", i, receiveCount(t, m))
		}
		receiveNone(t, h, src, "in flight")
		h.Advance(t, 10*time.Second)
	}
	// Received maxReceiveCount (3) times: the next receive moves it.
	receiveNone(t, h, src, "after maxReceiveCount receives")
	wantCounts(t, h, src, 0, 0)
	m := receiveOne(t, h, dlq)
	if *m.MessageId != id || *m.Body != "poison" {
		t.Fatalf("dead-letter message %s %q, want %s %q", *m.MessageId, *m.Body, id, "poison")
	}
}

func testRestart(t *testing.T, h Harness) {
	r, ok := h.(Restarter)
	if !ok {
		t.Skip("the harness cannot restart its endpoint")
	}
	url := createQueue(t, h, "restart", map[string]string{"VisibilityTimeout": "30"})
	for i := range 3 {
		send(t, h, url, fmt.Sprintf("m%d", i))
	}
	inFlight := receive(t, h, url, 2)
	if len(inFlight) != 2 {
		// Fewer than asked is legal; take the rest one at a time.
		inFlight = append(inFlight, receive(t, h, url, int32(2-len(inFlight)))...)
	}
	if len(inFlight) != 2 {
		t.Fatalf("received %d, want 2", len(inFlight))
	}
	r.Restart(t)
	wantCounts(t, h, url, 1, 2)
	visible := receiveOne(t, h, url)
	deleteMsg(t, h, url, *visible.ReceiptHandle)
	receiveNone(t, h, url, "in-flight messages after restart")
	h.Advance(t, 30*time.Second)
	back := receive(t, h, url, 10)
	if len(back) != 2 {
		t.Fatalf("after the visibility timeout, received %d, want 2", len(back))
	}
	for _, m := range back {
		if receiveCount(t, m) != 2 {
			t.Fatalf("receive count %d after restart, want 2", receiveCount(t, m))
		}
		deleteMsg(t, h, url, *m.ReceiptHandle)
	}
	// A handle from before the restart is stale now, and harmless.
	deleteMsg(t, h, url, *inFlight[0].ReceiptHandle)
	wantCounts(t, h, url, 0, 0)
}

// deadLetter puts n messages into a dead-letter queue through a source queue
// with maxReceiveCount 1 and returns the source URL, DLQ URL and DLQ ARN.
func deadLetter(t *testing.T, h Harness, n int) (string, string, string) {
	dlq := createQueue(t, h, "dlq", nil)
	dlqArn := queueArn(t, h, dlq)
	src := createQueue(t, h, "src", map[string]string{"VisibilityTimeout": "5", "RedrivePolicy": redrivePolicy(dlqArn, 1)})
	for i := range n {
		send(t, h, src, fmt.Sprintf("dead %d", i))
	}
	for got := 0; got < n; {
		got += len(receive(t, h, src, 10))
	}
	h.Advance(t, 5*time.Second)
	receiveNone(t, h, src, "moving to the DLQ")
	wantCounts(t, h, dlq, n, 0)
	return src, dlq, dlqArn
}

func waitTask(t *testing.T, h Harness, dlqArn, status string) types.ListMessageMoveTasksResultEntry {
	t.Helper()
	for range 60 {
		out, err := h.Client().ListMessageMoveTasks(ctxT(t), &sqs.ListMessageMoveTasksInput{SourceArn: &dlqArn})
		if err != nil {
			t.Fatalf("ListMessageMoveTasks: %v", err)
		}
		if len(out.Results) > 0 && aws.ToString(out.Results[0].Status) == status {
			return out.Results[0]
		}
		h.Advance(t, time.Second)
	}
	t.Fatalf("move task never reached %s", status)
	return types.ListMessageMoveTasksResultEntry{}
}

func testMoveTask(t *testing.T, h Harness) {
	src, dlq, dlqArn := deadLetter(t, h, 3)
	old := map[string]bool{}
	for _, m := range receive(t, h, dlq, 10) {
		old[*m.MessageId] = true
	}
	h.Advance(t, 30*time.Second) // DLQ default visibility timeout
	out, err := h.Client().StartMessageMoveTask(ctxT(t), &sqs.StartMessageMoveTaskInput{SourceArn: &dlqArn})
	if err != nil || aws.ToString(out.TaskHandle) == "" {
		t.Fatalf("StartMessageMoveTask: %+v %v", out, err)
	}
	task := waitTask(t, h, dlqArn, "COMPLETED")
	if task.ApproximateNumberOfMessagesMoved != 3 {
		t.Fatalf("moved %d, want 3", task.ApproximateNumberOfMessagesMoved)
	}
	wantCounts(t, h, dlq, 0, 0)
	bodies := map[string]bool{}
	for _, m := range receive(t, h, src, 10) {
		bodies[*m.Body] = true
		if receiveCount(t, m) != 1 {
			t.Fatalf("redriven message receive count %d, want 1 (a new message)", receiveCount(t, m))
		}
		if old[*m.MessageId] {
			t.Fatalf("redriven message kept its id %s; redrive makes new messages", *m.MessageId)
		}
	}
	if len(bodies) != 3 {
		t.Fatalf("source got back %d messages, want 3", len(bodies))
	}
}

func testMoveTaskCancel(t *testing.T, h Harness) {
	_, dlq, dlqArn := deadLetter(t, h, 3)
	other := createQueue(t, h, "dest", nil)
	out, err := h.Client().StartMessageMoveTask(ctxT(t), &sqs.StartMessageMoveTaskInput{SourceArn: &dlqArn,
		DestinationArn: aws.String(queueArn(t, h, other)), MaxNumberOfMessagesPerSecond: aws.Int32(1)})
	if err != nil {
		t.Fatalf("StartMessageMoveTask: %v", err)
	}
	_, err = h.Client().StartMessageMoveTask(ctxT(t), &sqs.StartMessageMoveTaskInput{SourceArn: &dlqArn})
	if err == nil {
		t.Fatal("a second task on the same source started")
	}
	cout, err := h.Client().CancelMessageMoveTask(ctxT(t), &sqs.CancelMessageMoveTaskInput{TaskHandle: out.TaskHandle})
	if err != nil {
		t.Fatalf("CancelMessageMoveTask: %v", err)
	}
	moved := cout.ApproximateNumberOfMessagesMoved
	if moved < 0 || moved > 3 {
		t.Fatalf("moved %d", moved)
	}
	task := waitTask(t, h, dlqArn, "CANCELLED")
	if task.DestinationArn == nil || *task.DestinationArn != queueArn(t, h, other) || aws.ToInt32(task.MaxNumberOfMessagesPerSecond) != 1 {
		t.Fatalf("task entry %+v", task)
	}
	h.Advance(t, 10*time.Second)
	a, b := queueAttrs(t, h, dlq), queueAttrs(t, h, other)
	nd, _ := strconv.Atoi(a["ApproximateNumberOfMessages"])
	no, _ := strconv.Atoi(b["ApproximateNumberOfMessages"])
	if nd+no != 3 || int64(no) != task.ApproximateNumberOfMessagesMoved {
		t.Fatalf("after cancel: %d in DLQ, %d moved (task says %d)", nd, no, task.ApproximateNumberOfMessagesMoved)
	}
}

// attributesMD5 is SQS's digest of message attributes, written out here
// independently of any implementation under test.
func attributesMD5(attrs map[string]types.MessageAttributeValue) string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	put := func(b []byte) {
		_ = binary.Write(h, binary.BigEndian, uint32(len(b)))
		h.Write(b)
	}
	for _, n := range names {
		v := attrs[n]
		put([]byte(n))
		put([]byte(aws.ToString(v.DataType)))
		if v.BinaryValue != nil {
			h.Write([]byte{2})
			put(v.BinaryValue)
		} else {
			h.Write([]byte{1})
			put([]byte(aws.ToString(v.StringValue)))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func testDigests(t *testing.T, h Harness) {
	url := createQueue(t, h, "md5", nil)
	attrs := map[string]types.MessageAttributeValue{
		"kind":    {DataType: aws.String("String"), StringValue: aws.String("welcome")},
		"n":       {DataType: aws.String("Number"), StringValue: aws.String("42")},
		"blob":    {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 255}},
		"x.label": {DataType: aws.String("String.custom"), StringValue: aws.String("ünïcødé")},
	}
	body := "héllo wörld\r\n\t🙂"
	out, err := h.Client().SendMessage(ctxT(t), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body, MessageAttributes: attrs,
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")}}})
	if err != nil {
		t.Fatalf("SendMessage: %v", err) // the SDK verifies MD5OfMessageBody
	}
	if got, want := aws.ToString(out.MD5OfMessageAttributes), attributesMD5(attrs); got != want {
		t.Fatalf("MD5OfMessageAttributes %s, want %s", got, want)
	}
	wantSys := attributesMD5(map[string]types.MessageAttributeValue{"AWSTraceHeader": {DataType: aws.String("String"),
		StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")}})
	if got := aws.ToString(out.MD5OfMessageSystemAttributes); got != wantSys {
		t.Fatalf("MD5OfMessageSystemAttributes %s, want %s", got, wantSys)
	}
	m := receiveOne(t, h, url)
	if *m.Body != body {
		t.Fatalf("body %q, want %q", *m.Body, body)
	}
	if got, want := aws.ToString(m.MD5OfMessageAttributes), attributesMD5(m.MessageAttributes); got != want || got != attributesMD5(attrs) {
		t.Fatalf("received MD5OfMessageAttributes %s, want %s", got, want)
	}
	if m.Attributes["AWSTraceHeader"] == "" || m.Attributes["SenderId"] == "" || m.Attributes["SentTimestamp"] == "" {
		t.Fatalf("system attributes %v", m.Attributes)
	}
	if string(m.MessageAttributes["blob"].BinaryValue) != string([]byte{0, 1, 2, 255}) {
		t.Fatal("binary attribute changed")
	}
	// Only the selected attributes come back, and the digest covers them.
	h.Advance(t, 30*time.Second)
	sel, err := h.Client().ReceiveMessage(ctxT(t), &sqs.ReceiveMessageInput{QueueUrl: &url, MessageAttributeNames: []string{"x.*", "n"}})
	if err != nil || len(sel.Messages) != 1 {
		t.Fatalf("receive with attribute names: %v %v", sel, err)
	}
	got := sel.Messages[0]
	if len(got.MessageAttributes) != 2 || aws.ToString(got.MD5OfMessageAttributes) != attributesMD5(got.MessageAttributes) {
		t.Fatalf("selected attributes %v digest %s", got.MessageAttributes, aws.ToString(got.MD5OfMessageAttributes))
	}
}

func testErrors(t *testing.T, h Harness) {
	ctx := ctxT(t)
	_, err := h.Client().GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(uniqueName("missing"))})
	var noQueue *types.QueueDoesNotExist
	if !errors.As(err, &noQueue) {
		t.Fatalf("GetQueueUrl of a missing queue: %v, want QueueDoesNotExist", err)
	}
	wantAPIError(t, err, "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
	url := createQueue(t, h, "errors", nil)
	_, err = h.Client().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bad name!")})
	wantAPIError(t, err, "InvalidParameterValue")
	_, err = h.Client().SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"VisibilityTimeout": "50000"}})
	wantAPIError(t, err, "InvalidAttributeValue", "InvalidParameterValue")
	_, err = h.Client().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(string(make([]byte, 300*1024)))})
	wantAPIError(t, err, "InvalidParameterValue", "InvalidMessageContents", "MessageTooLong")
	big := make([]byte, 262145)
	for i := range big {
		big[i] = 'x'
	}
	_, err = h.Client().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(string(big))})
	wantAPIError(t, err, "InvalidParameterValue", "MessageTooLong")
	_, err = h.Client().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 21})
	wantAPIError(t, err, "InvalidParameterValue")
	if _, err := h.Client().DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &url}); err != nil {
		t.Fatalf("DeleteQueue: %v", err)
	}
	_, err = h.Client().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x")})
	if !errors.As(err, &noQueue) {
		t.Fatalf("send to a deleted queue: %v", err)
	}
}
