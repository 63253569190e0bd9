package pipes_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/workflow"
)

// memQueue is a minimal in-process source: received messages stay hidden
// until deleted or handed back with release.
type memQueue struct {
	mu       sync.Mutex
	visible  []pipes.Message
	inflight map[string]pipes.Message
	deleted  []string
	notify   chan struct{}
	receives int
}

func newQueue(n int, body func(i int) string) *memQueue {
	q := &memQueue{inflight: map[string]pipes.Message{}, notify: make(chan struct{}, 1)}
	for i := range n {
		id := fmt.Sprintf("m-%03d", i)
		q.visible = append(q.visible, pipes.Message{
			MessageID: id, ReceiptHandle: "rh-" + id, Body: body(i), MD5OfBody: "md5",
			Attributes: map[string]string{workflow.AttrApproximateReceiveCount: "1", workflow.AttrSentTimestamp: "1700000000000"},
		})
	}
	return q
}

func (q *memQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]pipes.Message, error) {
	if max < 1 || max > 10 {
		return nil, fmt.Errorf("max %d", max)
	}
	deadline := time.After(wait)
	for {
		q.mu.Lock()
		q.receives++
		if len(q.visible) > 0 {
			n := min(max, len(q.visible))
			out := slices.Clone(q.visible[:n])
			q.visible = q.visible[n:]
			for _, m := range out {
				q.inflight[m.ReceiptHandle] = m
			}
			q.mu.Unlock()
			return out, nil
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return nil, nil
		case <-q.notify:
		}
	}
}

func (q *memQueue) Delete(ctx context.Context, handles []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, h := range handles {
		if m, ok := q.inflight[h]; ok {
			q.deleted = append(q.deleted, m.MessageID)
			delete(q.inflight, h)
		}
	}
	return nil
}

func (q *memQueue) deletedIDs() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := slices.Clone(q.deleted)
	slices.Sort(out)
	return out
}

// runUntil runs the pipe until done reports true for the batches seen.
func runUntil(t *testing.T, q *memQueue, tgt pipes.Target, cfg pipes.Config, done func([]pipes.BatchReport) bool) []pipes.BatchReport {
	t.Helper()
	var mu sync.Mutex
	var reports []pipes.BatchReport
	finished := make(chan struct{})
	var once sync.Once
	cfg.OnBatch = func(r pipes.BatchReport) {
		mu.Lock()
		reports = append(reports, r)
		ok := done(reports)
		mu.Unlock()
		if ok {
			once.Do(func() { close(finished) })
		}
	}
	if cfg.SourceARN == "" {
		cfg.SourceARN = "arn:aws:sqs:us-east-1:000000000000:mail"
	}
	p, err := pipes.New(q, tgt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { p.Run(ctx); close(stopped) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the pipe did not process the expected batches")
	}
	cancel()
	<-stopped
	mu.Lock()
	defer mu.Unlock()
	return reports
}

func totalRecords(n int) func([]pipes.BatchReport) bool {
	return func(rs []pipes.BatchReport) bool {
		sum := 0
		for _, r := range rs {
			sum += r.Records
		}
		return sum >= n
	}
}

func succeedAll(ctx context.Context, input []byte) (pipes.Outcome, error) {
	return pipes.Outcome{Status: asl.StatusSucceeded, Output: []byte(`{"batchItemFailures":[]}`)}, nil
}

func TestRecordsHaveThePipesShape(t *testing.T) {
	t.Parallel()
	q := newQueue(3, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) })
	var got []map[string]any
	tgt := pipes.TargetFunc(func(ctx context.Context, input []byte) (pipes.Outcome, error) {
		if err := json.Unmarshal(input, &got); err != nil {
			t.Errorf("input is not a JSON array: %v", err)
		}
		return succeedAll(ctx, input)
	})
	runUntil(t, q, tgt, pipes.Config{BatchSize: 10, BatchWindow: 50 * time.Millisecond, Region: "eu-west-1"}, totalRecords(3))
	if len(got) != 3 {
		t.Fatalf("one batch of 3 records expected, got %d", len(got))
	}
	r := got[0]
	for _, k := range []string{"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"} {
		if _, ok := r[k]; !ok {
			t.Errorf("record lacks %s", k)
		}
	}
	if len(r) != 9 {
		t.Errorf("record has extra fields: %v", r)
	}
	if r["eventSource"] != "aws:sqs" || r["awsRegion"] != "eu-west-1" || r["body"] != `{"n":0}` {
		t.Errorf("record = %v", r)
	}
	if got := q.deletedIDs(); len(got) != 3 {
		t.Fatalf("deleted %v", got)
	}
}

func TestBatchSizeAndWindow(t *testing.T) {
	t.Parallel()
	q := newQueue(25, func(int) string { return "{}" })
	reports := runUntil(t, q, pipes.TargetFunc(succeedAll), pipes.Config{BatchSize: 12, BatchWindow: 20 * time.Millisecond}, totalRecords(25))
	for _, r := range reports {
		if r.Records > 12 {
			t.Fatalf("batch of %d exceeds BatchSize 12", r.Records)
		}
	}
	if reports[0].Records != 12 {
		t.Fatalf("first batch has %d records; the window should have let it fill to 12", reports[0].Records)
	}
}

func TestPartialFailureRules(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		outcome pipes.Outcome
		deleted []string // of m-000, m-001, m-002
	}{
		"empty list":       {pipes.Outcome{Status: "SUCCEEDED", Output: []byte(`{"batchItemFailures":[]}`)}, []string{"m-000", "m-001", "m-002"}},
		"null list":        {pipes.Outcome{Status: "SUCCEEDED", Output: []byte(`{"batchItemFailures":null}`)}, []string{"m-000", "m-001", "m-002"}},
		"empty object":     {pipes.Outcome{Status: "SUCCEEDED", Output: []byte(`{}`)}, []string{"m-000", "m-001", "m-002"}},
		"null output":      {pipes.Outcome{Status: "SUCCEEDED", Output: []byte(`null`)}, []string{"m-000", "m-001", "m-002"}},
		"one failed":       {pipes.Outcome{Status: "SUCCEEDED", Output: []byte(`{"batchItemFailures":[{"itemIdentifier":"m-001"}]}`)}, []string{"m-000", "m-002"}},
		"unknown id":       {pipes.Outcome{Status: "SUCCEEDED", Output: []byte(`{"batchItemFailures":[{"itemIdentifier":"nope"}]}`)}, nil},
		"empty id":         {pipes.Outcome{Status: "SUCCEEDED", Output: []byte(`{"batchItemFailures":[{"itemIdentifier":""}]}`)}, nil},
		"wrong key":        {pipes.Outcome{Status: "SUCCEEDED", Output: []byte(`{"batchItemFailures":[{"itemId":"m-001"}]}`)}, nil},
		"not JSON":         {pipes.Outcome{Status: "SUCCEEDED", Output: []byte(`{"batchItem`)}, nil},
		"array output":     {pipes.Outcome{Status: "SUCCEEDED", Output: []byte(`[]`)}, nil},
		"execution failed": {pipes.Outcome{Status: "FAILED", Error: "States.Runtime"}, nil},
		"timed out":        {pipes.Outcome{Status: "TIMED_OUT"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			q := newQueue(3, func(int) string { return "{}" })
			tgt := pipes.TargetFunc(func(context.Context, []byte) (pipes.Outcome, error) { return tc.outcome, nil })
			reports := runUntil(t, q, tgt, pipes.Config{BatchSize: 3, BatchWindow: time.Second}, totalRecords(3))
			if got := q.deletedIDs(); !slices.Equal(got, tc.deleted) {
				t.Fatalf("deleted %v, want %v (report %+v)", got, tc.deleted, reports)
			}
			if len(tc.deleted) == 0 && reports[0].Reason == "" {
				t.Fatal("a whole-batch failure must say why")
			}
		})
	}
}

func TestInvokeErrorFailsTheBatch(t *testing.T) {
	t.Parallel()
	q := newQueue(2, func(int) string { return "{}" })
	tgt := pipes.TargetFunc(func(context.Context, []byte) (pipes.Outcome, error) {
		return pipes.Outcome{}, errors.New("engine down")
	})
	reports := runUntil(t, q, tgt, pipes.Config{BatchSize: 2, BatchWindow: time.Second}, totalRecords(2))
	if len(q.deletedIDs()) != 0 || !strings.Contains(reports[0].Reason, "engine down") {
		t.Fatalf("report %+v, deleted %v", reports[0], q.deletedIDs())
	}
}

func TestPayloadLimitSplitsBatches(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 100*1024)
	q := newQueue(5, func(int) string { return big })
	var sizes []int
	var mu sync.Mutex
	tgt := pipes.TargetFunc(func(ctx context.Context, input []byte) (pipes.Outcome, error) {
		mu.Lock()
		sizes = append(sizes, len(input))
		mu.Unlock()
		return succeedAll(ctx, input)
	})
	reports := runUntil(t, q, tgt, pipes.Config{BatchSize: 5, BatchWindow: time.Second}, totalRecords(5))
	for _, s := range sizes {
		if s > pipes.DefaultPayloadLimit {
			t.Fatalf("target input of %d bytes exceeds the payload limit", s)
		}
	}
	if len(reports) < 3 || len(q.deletedIDs()) != 5 {
		t.Fatalf("5 records of 100 KiB need 3 invocations; got %d, deleted %d", len(reports), len(q.deletedIDs()))
	}
}

func TestShutdownFinishesInFlightBatch(t *testing.T) {
	t.Parallel()
	q := newQueue(1, func(int) string { return "{}" })
	started := make(chan struct{})
	release := make(chan struct{})
	tgt := pipes.TargetFunc(func(ctx context.Context, input []byte) (pipes.Outcome, error) {
		close(started)
		<-release
		if ctx.Err() != nil {
			t.Error("the in-flight execution saw the shutdown")
		}
		return succeedAll(ctx, input)
	})
	p, err := pipes.New(q, tgt, pipes.Config{SourceARN: "arn:aws:sqs:us-east-1:000000000000:q"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { p.Run(ctx); close(stopped) }()
	<-started
	cancel()
	select {
	case <-stopped:
		t.Fatal("Run returned while a batch was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	if got := q.deletedIDs(); len(got) != 1 {
		t.Fatalf("in-flight message not settled: deleted %v", got)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	q := newQueue(0, nil)
	for _, cfg := range []pipes.Config{
		{BatchSize: 10001, SourceARN: "a"},
		{BatchWindow: 301 * time.Second, SourceARN: "a"},
		{Concurrency: -1, SourceARN: "a"},
		{},
	} {
		if _, err := pipes.New(q, pipes.TargetFunc(succeedAll), cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}
