package taskkit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/workflow"
)

// A typical mail's identifiers as the pipeline gives them: an SQS message
// id, the Express execution EventBridge Pipes starts (name and id both
// UUIDs), a producer's mail id, a Lambda request id, an SES message id.
const (
	typicalMessageID = "5fea7756-0ea4-451a-a703-a558b933e274"
	typicalExecution = "arn:aws:states:eu-west-1:123456789012:express:mailflow-prod:0f8e2c1a-7b3d-4e5f-9a6b-1c2d3e4f5a6b:d4c3b2a1-9f8e-4d7c-8b6a-5f4e3d2c1b0a"
	typicalMailID    = "order-20261127-000123"
	typicalRequestID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
	typicalSESID     = "0102019a6f0c1d2e-3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d-000000"
)

// resultLine is one task's result line in Lambda for the typical mail,
// logged as the task's handler logs it.
type resultLine struct {
	task   string
	err    error
	attrs  []any
	mailID string // given to Logger ("" for AcquireLock, which adds it once parsed)
}

var typicalLines = map[string]resultLine{
	"AcquireLock ok":   {task: "AcquireLock", attrs: []any{slog.String("outcome", "acquired")}},
	"AcquireLock fail": {task: "AcquireLock", attrs: []any{slog.String("outcome", "")}, err: workflow.Errorf(workflow.LockBusy, "held by another execution until 2026-11-27T02:05:00Z")},
	"FetchAttachments ok": {task: "FetchAttachments", mailID: typicalMailID,
		attrs: []any{slog.String("key", ""), slog.Bool("inline", true), slog.Int64("size", 18234)}},
	"FetchAttachments fail": {task: "FetchAttachments", mailID: typicalMailID,
		attrs: []any{slog.String("key", ""), slog.Bool("inline", false), slog.Int64("size", 0)},
		err:   workflow.Errorf(workflow.AttachmentMissing, "attachments/2026/11/receipt-000123.pdf: no such object")},
	"Send ok":   {task: "Send", mailID: typicalMailID, attrs: []any{slog.String("sesMessageId", typicalSESID)}},
	"Send fail": {task: "Send", mailID: typicalMailID, attrs: []any{slog.String("sesMessageId", "")}, err: workflow.Errorf(workflow.Throttled, "TooManyRequestsException: Maximum sending rate exceeded.")},
	"ReleaseLock ok": {task: "ReleaseLock", mailID: typicalMailID,
		attrs: []any{slog.Bool("released", false), slog.String("reason", "already-sent")}},
	"ReleaseLock fail": {task: "ReleaseLock", mailID: typicalMailID,
		attrs: []any{slog.Bool("released", false), slog.String("reason", "")}, err: workflow.Errorf(workflow.Transient, "lock table: RequestLimitExceeded: throughput exceeds the current capacity")},
}

// logTypical writes the line as in Lambda (a request id in ctx) and
// returns it without its newline.
func logTypical(t *testing.T, l resultLine) string {
	t.Helper()
	var buf bytes.Buffer
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: typicalRequestID})
	log := taskkit.Logger(ctx, slog.New(slog.NewJSONHandler(&buf, nil)), l.task, typicalMessageID, typicalExecution+"/"+typicalMessageID, l.mailID)
	if l.mailID == "" {
		log = log.With(slog.String("mailId", typicalMailID))
	}
	taskkit.LogResult(log, l.err, l.attrs...)
	return strings.TrimSuffix(buf.String(), "\n")
}

// TestTaskLogLineBytes bounds the bytes of each task's result line for a
// typical mail, what CloudWatch Logs ingests per invocation. Measured,
// before ("time", the whole executionId ARN, empty attributes, the error
// name repeated in the cause) and now:
//
//	AcquireLock       ok 396 -> 289  failed 491 -> 357
//	FetchAttachments  ok 416 -> 300  failed 537 -> 373
//	Send              ok 446 -> 339  failed 496 -> 355
//	ReleaseLock       ok 416 -> 292  failed 531 -> 379
func TestTaskLogLineBytes(t *testing.T) {
	t.Parallel()
	// The measured bytes and 10 more, so that a longer line fails.
	bound := map[string]int{
		"AcquireLock ok": 299, "AcquireLock fail": 367,
		"FetchAttachments ok": 310, "FetchAttachments fail": 383,
		"Send ok": 349, "Send fail": 365,
		"ReleaseLock ok": 302, "ReleaseLock fail": 389,
	}
	for name, l := range typicalLines {
		line := logTypical(t, l)
		t.Logf("%-22s %4d bytes %s", name, len(line), line)
		if len(line) > bound[name] {
			t.Errorf("%s: %d bytes, more than %d: %s", name, len(line), bound[name], line)
		}
	}
}

// TestTaskLogLineInLambda: the line names its execution after the state
// machine, has no "time" and no empty attribute, and keeps what a reader
// needs.
func TestTaskLogLineInLambda(t *testing.T) {
	t.Parallel()
	var m map[string]any
	if err := json.Unmarshal([]byte(logTypical(t, typicalLines["Send fail"])), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"level": "WARN", "msg": "failed", "task": "Send", "messageId": typicalMessageID,
		taskkit.KeyExecution: strings.TrimPrefix(typicalExecution, "arn:aws:states:eu-west-1:123456789012:express:mailflow-prod:"),
		"mailId":             typicalMailID, "requestId": typicalRequestID,
		"error": string(workflow.Throttled), "cause": "TooManyRequestsException: Maximum sending rate exceeded.",
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("line %v\nwant %v", m, want)
	}
	m = nil
	if err := json.Unmarshal([]byte(logTypical(t, typicalLines["FetchAttachments ok"])), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["key"]; ok || m["inline"] != true || m["size"] != float64(18234) {
		t.Errorf("empty key logged or set attributes lost: %v", m)
	}
}

// TestTaskLogLineLocally: outside Lambda the line keeps its time (nothing
// else stamps a local log), and an owner that is not an Express execution
// ARN is logged whole.
func TestTaskLogLineLocally(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := taskkit.Logger(context.Background(), slog.New(slog.NewJSONHandler(&buf, nil)), "Send", "m-1", "local-exec/m-1", "mail-1")
	taskkit.LogResult(log, nil, slog.String("sesMessageId", "s-1"), "count", 0, slog.Int("zero", 0))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	// A key-value pair is kept as given, zero or not.
	if m["time"] == nil || m[taskkit.KeyExecutionID] != "local-exec" || m[taskkit.KeyExecution] != nil || m["requestId"] != nil || m["count"] != float64(0) || m["zero"] != nil {
		t.Errorf("line %v", m)
	}
}

func TestTaskLogShortExecution(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		arn, short string
		ok         bool
	}{
		{typicalExecution, typicalExecution[len("arn:aws:states:eu-west-1:123456789012:express:mailflow-prod:"):], true},
		{"arn:aws-cn:states:cn-north-1:1:express:sm:e:1", "e:1", true},
		// A Standard execution, a state machine, foreign strings.
		{"arn:aws:states:eu-west-1:1:execution:sm:e", "", false},
		{"arn:aws:states:eu-west-1:1:stateMachine:sm", "", false},
		{"arn:aws:states:eu-west-1:1:express:sm:", "", false},
		{"e/m", "", false},
		{"", "", false},
	} {
		if short, ok := taskkit.ShortExecution(c.arn); short != c.short || ok != c.ok {
			t.Errorf("ShortExecution(%q) = %q, %v", c.arn, short, ok)
		}
	}
}
