package sqsstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
)

// deadLettered makes a source queue "src" with maxReceiveCount 1 whose n
// messages have been moved to "dlq".
func deadLettered(t *testing.T, s *Store, clock *clock.Virtual, n int) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "dlq", map[string]string{"MessageRetentionPeriod": "600"}, nil); err != nil {
		t.Fatal(err)
	}
	policy := `{"deadLetterTargetArn":"` + s.QueueARN("dlq") + `","maxReceiveCount":"1"}`
	if err := s.CreateQueue(ctx, "src", map[string]string{"RedrivePolicy": policy, "VisibilityTimeout": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := s.Send(ctx, "src", SendParams{Body: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	for got := 0; got < n; {
		m, err := s.Receive(ctx, "src", ReceiveParams{MaxMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		got += len(m)
	}
	clock.Advance(time.Second)
	if m, _ := s.Receive(ctx, "src", ReceiveParams{MaxMessages: 10}); len(m) != 0 {
		t.Fatal("message delivered past maxReceiveCount")
	}
	if c, _ := s.QueueCounts(ctx, "dlq"); c.Visible != n {
		t.Fatalf("dlq counts %+v, want %d visible", c, n)
	}
}

func waitMoved(t *testing.T, s *Store, clock *clock.Virtual, want int64, status string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := s.ListMoveTasks(context.Background(), s.QueueARN("dlq"), 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) == 1 && tasks[0].ApproximateNumberOfMessagesMoved == want && tasks[0].Status == status {
			return
		}
		clock.Advance(time.Second)
		time.Sleep(2 * time.Millisecond) // bounded by deadline: let the runner take its turn
	}
	t.Fatalf("task never reached %d moved, %s", want, status)
}

func TestMoveTaskResumesAfterRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "q.db")
	clock := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(path, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	deadLettered(t, s, clock, 4)
	ctx := context.Background()
	if _, err := s.StartMoveTask(ctx, MoveTaskParams{SourceArn: s.QueueARN("src")}); ErrorCode(err) != CodeInvalidParameterValue {
		t.Fatalf("task from a queue that is no DLQ: %v", err)
	}
	handle, err := s.StartMoveTask(ctx, MoveTaskParams{SourceArn: s.QueueARN("dlq"), MaxNumberOfMessagesPerSecond: 2})
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := s.ListMoveTasks(ctx, s.QueueARN("dlq"), 10)
	if len(tasks) != 1 || tasks[0].ApproximateNumberOfMessagesToMove != 4 || tasks[0].TaskHandle != handle {
		t.Fatalf("tasks %+v", tasks)
	}
	s.Close()

	s, err = Open(path, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitMoved(t, s, clock, 4, TaskCompleted)
	if c, _ := s.QueueCounts(ctx, "src"); c.Visible != 4 {
		t.Fatalf("src counts after redrive %+v", c)
	}
	if _, err := s.CancelMoveTask(ctx, handle); ErrorCode(err) != CodeUnsupportedOperation {
		t.Fatalf("cancel of a completed task: %v", err)
	}
	if _, err := s.CancelMoveTask(ctx, "unknown"); ErrorCode(err) != CodeResourceNotFound {
		t.Fatalf("cancel of an unknown task: %v", err)
	}
}

func TestDeadLetterRetentionCountsFromOriginalSend(t *testing.T) {
	t.Parallel()
	s, clock := openTest(t)
	deadLettered(t, s, clock, 1)
	clock.Advance(598 * time.Second)
	if c, _ := s.QueueCounts(context.Background(), "dlq"); c.Visible != 1 {
		t.Fatalf("dlq counts %+v before retention ends", c)
	}
	clock.Advance(time.Second) // 600 s after the original send
	if c, _ := s.QueueCounts(context.Background(), "dlq"); c.Visible != 0 {
		t.Fatalf("dlq counts %+v after retention from the original send", c)
	}
}

func TestRedriveAllowPolicy(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "dlq", map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"byQueue","sourceQueueArns":["` + s.QueueARN("allowed") + `"]}`}, nil); err != nil {
		t.Fatal(err)
	}
	policy := map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + s.QueueARN("dlq") + `","maxReceiveCount":5}`}
	if err := s.CreateQueue(ctx, "other", policy, nil); ErrorCode(err) != CodeInvalidParameterValue {
		t.Fatalf("source not allowed by the DLQ: %v", err)
	}
	if err := s.CreateQueue(ctx, "allowed", policy, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetQueueAttributes(ctx, "allowed", []string{"RedrivePolicy"})
	if err != nil || got["RedrivePolicy"] != `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":5}` {
		t.Fatalf("RedrivePolicy %v %v", got, err)
	}
	srcs, err := s.ListDeadLetterSourceQueues(ctx, "dlq")
	if err != nil || len(srcs) != 1 || srcs[0] != "allowed" {
		t.Fatalf("sources %v %v", srcs, err)
	}
	if err := s.SetQueueAttributes(ctx, "allowed", map[string]string{"RedrivePolicy": ""}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetQueueAttributes(ctx, "allowed", []string{"All"}); got["RedrivePolicy"] != "" {
		t.Fatalf("RedrivePolicy not removed: %v", got)
	}
}

func TestMoveTaskFailsWithoutDestination(t *testing.T) {
	t.Parallel()
	s, clock := openTest(t)
	deadLettered(t, s, clock, 1)
	ctx := context.Background()
	// A message sent straight to the DLQ has no source queue to return to.
	if _, err := s.Send(ctx, "dlq", SendParams{Body: "direct"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartMoveTask(ctx, MoveTaskParams{SourceArn: s.QueueARN("dlq"), DestinationArn: s.QueueARN("nope")}); ErrorCode(err) != CodeResourceNotFound {
		t.Fatalf("missing destination: %v", err)
	}
	if _, err := s.StartMoveTask(ctx, MoveTaskParams{SourceArn: s.QueueARN("dlq"), MaxNumberOfMessagesPerSecond: 501}); ErrorCode(err) != CodeInvalidParameterValue {
		t.Fatalf("rate 501: %v", err)
	}
	if _, err := s.StartMoveTask(ctx, MoveTaskParams{SourceArn: s.QueueARN("dlq")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := s.ListMoveTasks(ctx, s.QueueARN("dlq"), 1)
		if err != nil {
			t.Fatal(err)
		}
		if tasks[0].Status == TaskFailed {
			if tasks[0].FailureReason == "" || tasks[0].TaskHandle != "" {
				t.Fatalf("failed task %+v", tasks[0])
			}
			// The failing batch is rolled back whole: nothing was lost.
			if c, _ := s.QueueCounts(ctx, "dlq"); c.Visible != 2 {
				t.Fatalf("dlq after failed task %+v", c)
			}
			return
		}
		time.Sleep(2 * time.Millisecond) // bounded by deadline
	}
	t.Fatal("task did not fail")
}
