package sqsstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
)

func TestAttributesMD5KnownVectors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		attrs map[string]MessageAttributeValue
		want  string
	}{
		{map[string]MessageAttributeValue{"timestamp": {DataType: "Number", StringValue: "1493147359900"}},
			"235c5c510d26fb653d073faed50ae77c"},
		{map[string]MessageAttributeValue{
			"ordinal":  {DataType: "Number", StringValue: "1"},
			"category": {DataType: "String", StringValue: "test"}},
			"d21ae90c49061e927f57df5f5d72be1f"},
		{nil, ""},
	}
	for _, c := range cases {
		if got := AttributesMD5(c.attrs); got != c.want {
			t.Errorf("AttributesMD5(%v) = %q, want %q", c.attrs, got, c.want)
		}
	}
	if got := BodyMD5("hello"); got != "5d41402abc4b2a76b9719d911017c592" {
		t.Errorf("BodyMD5 = %s", got)
	}
}

func openTest(t *testing.T) (*Store, *clock.Virtual) {
	t.Helper()
	clock := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(filepath.Join(t.TempDir(), "q.db"), Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clock
}

func TestValidation(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		err  error
		want Code
	}{
		{"fifo name", s.CreateQueue(ctx, "q.fifo", nil, nil), CodeInvalidParameterValue},
		{"bad name", s.CreateQueue(ctx, "a b", nil, nil), CodeInvalidParameterValue},
		{"long name", s.CreateQueue(ctx, string(make([]byte, 81)), nil, nil), CodeInvalidParameterValue},
		{"unknown attribute", s.CreateQueue(ctx, "q", map[string]string{"Nope": "1"}, nil), CodeInvalidAttributeName},
		{"visibility range", s.CreateQueue(ctx, "q", map[string]string{"VisibilityTimeout": "43201"}, nil), CodeInvalidAttributeValue},
		{"dlq missing", s.CreateQueue(ctx, "q", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:nope","maxReceiveCount":3}`}, nil), CodeInvalidParameterValue},
	} {
		if got := ErrorCode(c.err); got != c.want {
			t.Errorf("%s: code %q (%v), want %q", c.name, got, c.err, c.want)
		}
	}
	if err := s.CreateQueue(ctx, "q", map[string]string{"VisibilityTimeout": "10"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateQueue(ctx, "q", map[string]string{"VisibilityTimeout": "10"}, nil); err != nil {
		t.Fatalf("idempotent create: %v", err)
	}
	if err := s.CreateQueue(ctx, "q", map[string]string{"VisibilityTimeout": "11"}, nil); ErrorCode(err) != CodeQueueNameExists {
		t.Fatalf("create with other attributes: %v", err)
	}
	long := make([]byte, 262145)
	for i := range long {
		long[i] = 'a'
	}
	if _, err := s.Send(ctx, "q", SendParams{Body: string(long)}); ErrorCode(err) != CodeInvalidParameterValue {
		t.Fatalf("oversize body: %v", err)
	}
	if _, err := s.Send(ctx, "q", SendParams{Body: "a\x00b"}); ErrorCode(err) != CodeInvalidMessageContents {
		t.Fatalf("invalid character: %v", err)
	}
	if _, err := s.Send(ctx, "q", SendParams{Body: "x", Attributes: map[string]MessageAttributeValue{"AWS.x": {DataType: "String", StringValue: "v"}}}); ErrorCode(err) != CodeInvalidParameterValue {
		t.Fatalf("reserved attribute name: %v", err)
	}
	if _, err := s.Send(ctx, "q", SendParams{Body: "x", Attributes: map[string]MessageAttributeValue{"n": {DataType: "Number", StringValue: "abc"}}}); ErrorCode(err) != CodeInvalidParameterValue {
		t.Fatalf("bad number: %v", err)
	}
	if err := s.Delete(ctx, "q", "garbage"); ErrorCode(err) != CodeReceiptHandleIsInvalid {
		t.Fatalf("malformed handle: %v", err)
	}
	if _, err := s.Receive(ctx, "q", ReceiveParams{MaxMessages: 11}); ErrorCode(err) != CodeInvalidParameterValue {
		t.Fatalf("max 11: %v", err)
	}
	if !errors.Is(s.QueueExists(ctx, "none"), &Error{Code: CodeQueueDoesNotExist}) {
		t.Fatal("errors.Is on code")
	}
}

func TestDelayRetentionAndPurge(t *testing.T) {
	t.Parallel()
	s, clock := openTest(t)
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "q", map[string]string{"MessageRetentionPeriod": "60"}, nil); err != nil {
		t.Fatal(err)
	}
	d := 5
	if _, err := s.Send(ctx, "q", SendParams{Body: "later", DelaySeconds: &d}); err != nil {
		t.Fatal(err)
	}
	c, _ := s.QueueCounts(ctx, "q")
	if c != (Counts{Delayed: 1}) {
		t.Fatalf("counts %+v", c)
	}
	if m, _ := s.Receive(ctx, "q", ReceiveParams{}); len(m) != 0 {
		t.Fatal("delayed message delivered early")
	}
	clock.Advance(5 * time.Second)
	m, err := s.Receive(ctx, "q", ReceiveParams{})
	if err != nil || len(m) != 1 {
		t.Fatalf("after delay: %v %v", m, err)
	}
	clock.Advance(60 * time.Second)
	if c, _ := s.QueueCounts(ctx, "q"); c != (Counts{}) {
		t.Fatalf("expired message still counted: %+v", c)
	}
	if _, err := s.Send(ctx, "q", SendParams{Body: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeQueue(ctx, "q"); ErrorCode(err) != CodePurgeQueueInProgress {
		t.Fatalf("second purge: %v", err)
	}
	clock.Advance(time.Minute)
	if err := s.PurgeQueue(ctx, "q"); err != nil {
		t.Fatal(err)
	}
}

func TestBatchLimits(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 100_000)
	var entries []SendBatchEntry
	for i := range 10 {
		entries = append(entries, SendBatchEntry{ID: fmt.Sprint("e", i), SendParams: SendParams{Body: body}})
	}
	res, err := s.SendBatch(ctx, "q", entries)
	if err != nil || len(res) != 10 {
		t.Fatalf("ten 100 kB messages (1,000,000 bytes): %v %v", res, err)
	}
	entries[0].Body = strings.Repeat("x", 200_000)
	if _, err := s.SendBatch(ctx, "q", entries); ErrorCode(err) != CodeBatchRequestTooLong {
		t.Fatalf("batch over 1 MiB: %v", err)
	}
	entries = entries[:2]
	entries[0].Body = strings.Repeat("x", 262_145)
	res, err = s.SendBatch(ctx, "q", entries)
	if err != nil || res[0].Err == nil || res[0].Err.Code != CodeInvalidParameterValue || res[1].Err != nil {
		t.Fatalf("one entry over the queue's maximum fails alone: %+v %v", res, err)
	}
}

func TestChangeVisibilityRules(t *testing.T) {
	t.Parallel()
	s, clock := openTest(t)
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, "q", SendParams{Body: "x"}); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Receive(ctx, "q", ReceiveParams{})
	h := m[0].ReceiptHandle
	if err := s.ChangeVisibility(ctx, "q", h, 43201); ErrorCode(err) != CodeInvalidParameterValue {
		t.Fatalf("over 12h: %v", err)
	}
	clock.Advance(11 * time.Hour)
	if err := s.ChangeVisibility(ctx, "q", h, 2*3600); ErrorCode(err) != CodeMessageNotInflight {
		t.Fatalf("expired visibility: %v", err)
	}
	long := 43200
	m, _ = s.Receive(ctx, "q", ReceiveParams{VisibilityTimeout: &long})
	if len(m) != 1 {
		t.Fatal("message not redelivered")
	}
	if err := s.ChangeVisibility(ctx, "q", h, 10); ErrorCode(err) != CodeInvalidParameterValue {
		t.Fatalf("stale handle: %v", err)
	}
	clock.Advance(11 * time.Hour)
	if err := s.ChangeVisibility(ctx, "q", m[0].ReceiptHandle, 2*3600); ErrorCode(err) != CodeInvalidParameterValue {
		t.Fatalf("total beyond 12h: %v", err)
	}
	if err := s.ChangeVisibility(ctx, "q", m[0].ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	if m2, _ := s.Receive(ctx, "q", ReceiveParams{}); len(m2) != 1 || m2[0].ApproximateReceiveCount != 3 {
		t.Fatalf("after visibility 0: %+v", m2)
	}
}
