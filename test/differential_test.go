package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// stub scripts one mail's tasks, identically for both interpreters:
// AcquireLock answers Acquire ("acquired" by default, "already-sent", or an
// error name); FetchAttachments fails with Fetch when set; Send fails with
// Send[n-1] on attempt n and succeeds after; the release tasks fail with
// Release and the dead-letter send with DeadLetter when set.
type stub struct {
	Acquire    string   `json:"acquire,omitempty"`
	Fetch      string   `json:"fetch,omitempty"`
	Inline     bool     `json:"inline,omitempty"` // the built message travels inline (the Send task's small function)
	Send       []string `json:"send,omitempty"`
	Release    string   `json:"release,omitempty"`
	DeadLetter string   `json:"deadLetter,omitempty"`
}

type scenario struct {
	Name  string          `json:"name"`
	Input []record        `json:"input"`
	Stubs map[string]stub `json:"stubs"`
	// ReserveFails names the error the batch's reservation fails with
	// (after its retries): every send then takes its own tokens.
	ReserveFails string   `json:"reserveFails,omitempty"`
	Expect       []string `json:"-"` // message ids reported for redelivery
}

type record struct {
	MessageID  string            `json:"messageId"`
	Receipt    string            `json:"receiptHandle"`
	Body       string            `json:"body"`
	Attributes map[string]string `json:"attributes"`
}

func batch(mailIDs ...string) []record {
	out := make([]record, len(mailIDs))
	for i, id := range mailIDs {
		out[i] = record{MessageID: "msg-" + id, Receipt: "rh-" + id, Body: `{"mailId":"` + id + `"}`,
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
	}
	return out
}

// lastReceive marks records as received for the fifth time, the queue's
// maxReceiveCount.
func lastReceive(recs []record) []record {
	for i := range recs {
		recs[i].Attributes["ApproximateReceiveCount"] = "5"
	}
	return recs
}

func throttled(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = string(workflow.Throttled)
	}
	return out
}

var scenarios = []scenario{
	{Name: "all succeed", Input: batch("a", "b", "c"), Expect: nil},
	{Name: "duplicate already sent", Input: batch("a", "b"), Stubs: map[string]stub{"b": {Acquire: "already-sent"}}},
	{Name: "throttled then sent", Input: batch("a"), Stubs: map[string]stub{"a": {Send: throttled(3)}}},
	{Name: "reservation fails, sends take their own tokens", Input: batch("a", "b"), ReserveFails: "Lambda.ServiceException",
		Stubs: map[string]stub{"b": {Inline: true, Send: throttled(1)}}},
	{Name: "reservation times out", Input: batch("a"), ReserveFails: "States.Timeout"},
	{Name: "inline messages through the small function", Input: batch("a", "b", "c", "d"), Stubs: map[string]stub{
		"a": {Inline: true}, "b": {Inline: true, Send: throttled(2)}, "c": {Inline: true, Send: []string{string(workflow.Rejected)}},
		"d": {Inline: true, Send: []string{string(workflow.SendingPaused)}}},
		Expect: []string{"msg-d"}},
	{Name: "lambda flake then sent", Input: batch("a"), Stubs: map[string]stub{"a": {Send: []string{"Lambda.ServiceException", "Lambda.TooManyRequestsException"}}}},
	{Name: "permanent failures dead-lettered", Input: batch("a", "b", "c", "d"), Stubs: map[string]stub{
		"a": {Acquire: string(workflow.InvalidMessage)}, "b": {Fetch: string(workflow.AttachmentMissing)},
		"c": {Send: []string{string(workflow.Rejected)}}, "d": {Acquire: string(workflow.IdempotencyConflict)}}},
	{Name: "transient failures back to the queue", Input: batch("a", "b", "c", "d", "e"), Stubs: map[string]stub{
		"a": {Acquire: string(workflow.LockBusy)}, "b": {Send: []string{string(workflow.QuotaExhausted)}},
		"c": {Send: throttled(7)}, "d": {Send: []string{string(workflow.Transient), string(workflow.Transient), string(workflow.Transient)}},
		"e": {Send: []string{string(workflow.SendingPaused)}}},
		Expect: []string{"msg-a", "msg-b", "msg-c", "msg-d", "msg-e"}},
	{Name: "dead-letter send fails", Input: batch("a"), Stubs: map[string]stub{"a": {Fetch: string(workflow.TooLarge), DeadLetter: "SQS.SqsException"}},
		Expect: []string{"msg-a"}},
	{Name: "release fails on the way", Input: batch("a", "b"), Stubs: map[string]stub{
		"a": {Send: []string{string(workflow.Rejected)}, Release: string(workflow.Transient)}, "b": {Send: []string{string(workflow.SendingPaused)}, Release: string(workflow.Transient)}},
		Expect: []string{"msg-b"}},
	{Name: "last receive dead-letters instead of retrying", Input: lastReceive(batch("a", "b", "c")), Stubs: map[string]stub{
		"a": {Acquire: string(workflow.LockBusy)}, "b": {Send: []string{string(workflow.QuotaExhausted)}}, "c": {Send: throttled(7)}}},
	{Name: "mixed batch", Input: batch("ok1", "dup", "thr", "bad", "busy", "ok2", "flaky", "gone"), Stubs: map[string]stub{
		"dup": {Acquire: "already-sent"}, "thr": {Send: throttled(2)}, "bad": {Acquire: string(workflow.InvalidMessage)},
		"busy": {Acquire: string(workflow.LockBusy)}, "flaky": {Send: []string{"Lambda.ServiceException"}}, "gone": {Fetch: string(workflow.AttachmentForbidden)}},
		Expect: []string{"msg-busy"}},
}

func failures(ids []string) any {
	list := make([]any, len(ids))
	for i, id := range ids {
		list[i] = map[string]any{"itemIdentifier": id}
	}
	return map[string]any{"batchItemFailures": list}
}

// runInASL runs a scenario in mailflow's interpreter with the same stubs.
func runInASL(t *testing.T, def *asl.Definition, sc scenario) any {
	t.Helper()
	var mu sync.Mutex
	attempts := map[string]int{}
	attempt := func(fn, mailID string) int {
		mu.Lock()
		defer mu.Unlock()
		attempts[fn+"/"+mailID]++
		return attempts[fn+"/"+mailID]
	}
	lambda := func(fn string, behave func(s stub, n int, mailID string, p map[string]any) (any, error)) asl.LambdaHandler {
		return asl.LambdaHandlerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
			var p map[string]any
			if err := json.Unmarshal(payload, &p); err != nil {
				return nil, err
			}
			var body struct{ MailID string }
			json.Unmarshal([]byte(p["body"].(string)), &body)
			out, err := behave(sc.Stubs[body.MailID], attempt(fn, body.MailID), body.MailID, p)
			if err != nil {
				return nil, err
			}
			return json.Marshal(out)
		})
	}
	fail := func(name string) error { return asl.NewError(name, "scripted "+name) }
	release := func(s stub, _ int, _ string, _ map[string]any) (any, error) {
		if s.Release != "" {
			return nil, fail(s.Release)
		}
		return map[string]any{"released": true, "reason": "released"}, nil
	}
	reg := asl.NewRegistry()
	reg.RegisterLambda("acquire", lambda("acquire", func(s stub, _ int, mailID string, p map[string]any) (any, error) {
		a := s.Acquire
		if a == "" {
			a = "acquired"
		}
		if a != "acquired" && a != "already-sent" {
			return nil, fail(a)
		}
		return map[string]any{"outcome": a, "mailId": mailID, "owner": p["owner"]}, nil
	}))
	reg.RegisterLambda("fetch", lambda("fetch", func(s stub, _ int, _ string, _ map[string]any) (any, error) {
		if s.Fetch != "" {
			return nil, fail(s.Fetch)
		}
		if s.Inline {
			return map[string]any{"inline": "U3ViamVjdDogeA0KDQp4", "size": 15, "sha256": "abc"}, nil
		}
		return map[string]any{"key": "staging/x.eml", "size": 100, "sha256": "abc"}, nil
	}))
	send := func(s stub, n int, mailID string, _ map[string]any) (any, error) {
		if n <= len(s.Send) {
			return nil, fail(s.Send[n-1])
		}
		return map[string]any{"sesMessageId": "ses-" + mailID, "outcome": "sent"}, nil
	}
	reg.RegisterLambda("send", lambda("send", send))
	reg.RegisterLambda("send-inline", lambda("send-inline", send))
	reg.RegisterLambda("release", lambda("release", release))
	reg.RegisterLambda("reserve", asl.LambdaHandlerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		var p struct{ Records []record }
		if err := json.Unmarshal(payload, &p); err != nil {
			return nil, err
		}
		if sc.ReserveFails != "" {
			return nil, fail(sc.ReserveFails)
		}
		grants := make([]int64, len(p.Records))
		for i := range grants {
			grants[i] = 1_796_000_000_000_000 + int64(i)*100_000
		}
		return json.Marshal(map[string]any{"grants": grants})
	}))
	reg.Register("arn:aws:states:::sqs:sendMessage", asl.TaskHandlerFunc(func(ctx context.Context, req *asl.TaskRequest) (any, error) {
		params := req.Input.(map[string]any)
		if params["QueueUrl"] == eventsQueueURL {
			// RecordDeadLettered: the events queue takes it.
			return map[string]any{"MessageId": "ev-1", "MD5OfMessageBody": "x"}, nil
		}
		var body struct{ MailID string }
		json.Unmarshal([]byte(params["MessageBody"].(string)), &body)
		if s := sc.Stubs[body.MailID]; s.DeadLetter != "" {
			return nil, fail(s.DeadLetter)
		}
		return map[string]any{"MessageId": "dlq-1", "MD5OfMessageBody": "x"}, nil
	}))
	input, _ := json.Marshal(sc.Input)
	res, err := asl.Execute(context.Background(), def, json.RawMessage(input), asl.Options{
		Registry: reg, StateMachineType: "EXPRESS",
		Clock: noPauseClock{},
	})
	if err != nil {
		t.Fatalf("%s: %v", sc.Name, err)
	}
	if res.Status != asl.StatusSucceeded {
		return map[string]any{"error": res.Error + ": " + res.Cause}
	}
	return res.Output
}

const eventsQueueURL = "https://sqs.us-east-1.amazonaws.com/000000000000/mailflow-events"

// TestDefinitionAgreesWithReferenceInterpreter runs workflow/mail.asl.json in
// mailflow's interpreter and in aws-local-stepfunctions, tasks replaced by
// the same scripted stubs, and requires the same, expected output for every
// scenario.
func TestDefinitionAgreesWithReferenceInterpreter(t *testing.T) {
	t.Parallel()
	fn := func(name string) string { return "arn:aws:lambda:us-east-1:000000000000:function:" + name }
	text, err := workflow.Render(workflow.Settings{Substitutions: map[string]string{
		workflow.PlaceholderReserveSends: fn("reserve"),
		workflow.PlaceholderAcquireLock:  fn("acquire"), workflow.PlaceholderFetchAttachments: fn("fetch"),
		workflow.PlaceholderSend: fn("send"), workflow.PlaceholderSendInline: fn("send-inline"), workflow.PlaceholderReleaseLock: fn("release"),
		workflow.PlaceholderDeadLetterQueue: "https://sqs.us-east-1.amazonaws.com/000000000000/mailflow-dlq",
		workflow.PlaceholderEventsQueue:     eventsQueueURL,
	}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	defFile, scFile := filepath.Join(dir, "mail.asl.json"), filepath.Join(dir, "scenarios.json")
	scText, _ := json.Marshal(scenarios)
	os.WriteFile(defFile, text, 0o644)
	os.WriteFile(scFile, scText, 0o644)
	raw, err := testkit.Node(t, "testdata/als-differential.cjs", defFile, scFile)
	if err != nil {
		t.Fatalf("aws-local-stepfunctions: %v\n%s", err, raw)
	}
	var reference map[string]struct {
		Output any    `json:"output"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(raw, &reference); err != nil {
		t.Fatalf("reference output: %v\n%s", err, raw)
	}

	def, err := asl.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			want := normalize(failures(sc.Expect))
			ref := reference[sc.Name]
			if ref.Error != "" {
				t.Fatalf("aws-local-stepfunctions failed: %s", ref.Error)
			}
			ours := normalize(runInASL(t, def, sc))
			if !reflect.DeepEqual(ours, normalize(ref.Output)) {
				t.Errorf("interpreters disagree:\n  asl:                     %v\n  aws-local-stepfunctions: %v", ours, normalize(ref.Output))
			}
			if !reflect.DeepEqual(ours, want) {
				t.Errorf("output %v, want %v", ours, want)
			}
		})
	}
}

// normalize round-trips a value through JSON so that both sides compare as
// plain maps and slices.
func normalize(v any) any {
	b, err := asl.EncodeJSON(v)
	if err != nil {
		b, _ = json.Marshal(v)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Sprint(v)
	}
	return out
}

// noPauseClock is the wall clock with Wait and Retry pauses skipped.
type noPauseClock struct{}

func (noPauseClock) Now() time.Time { return time.Now() }

func (noPauseClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

func (noPauseClock) Sleep(context.Context, time.Duration) error { return nil }
