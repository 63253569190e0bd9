package sqsstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
)

// TestPeekPagesWithoutReceiving peeks a queue of 1,000 messages, one of
// them in flight, page by page: every message comes once, in send order,
// and no receive count, visibility or count of the queue changes.
func TestPeekPagesWithoutReceiving(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "dlq", nil, nil); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 1000 {
		r, err := s.Send(ctx, "dlq", SendParams{Body: fmt.Sprintf("m%d", i),
			Attributes: map[string]MessageAttributeValue{"n": {DataType: "Number", StringValue: fmt.Sprint(i)}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.MessageID)
	}
	got, err := s.Receive(ctx, "dlq", ReceiveParams{MaxMessages: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("receive: %v %v", got, err)
	}
	before, err := s.QueueCounts(ctx, "dlq")
	if err != nil {
		t.Fatal(err)
	}
	var seen []Message
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		page, more, err := s.Peek(ctx, "dlq", after, 128)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, page...)
		if !more {
			break
		}
		after = page[len(page)-1].MessageID
	}
	if len(seen) != 1000 {
		t.Fatalf("peeked %d messages, want 1000", len(seen))
	}
	for i, m := range seen {
		wantCount := 0
		if m.MessageID == got[0].MessageID {
			wantCount = 1
		}
		if m.MessageID != ids[i] || m.Body != fmt.Sprintf("m%d", i) || m.Attributes["n"].StringValue != fmt.Sprint(i) ||
			m.ReceiptHandle != "" || m.ApproximateReceiveCount != wantCount {
			t.Fatalf("message %d: %+v (want id %s, receive count %d)", i, m, ids[i], wantCount)
		}
	}
	// A second peek sees the same receive counts: peeking counts nothing.
	again, _, err := s.Peek(ctx, "dlq", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range again {
		if m.ApproximateReceiveCount != seen[i].ApproximateReceiveCount {
			t.Fatalf("message %d receive count %d after peeking, was %d", i, m.ApproximateReceiveCount, seen[i].ApproximateReceiveCount)
		}
	}
	after2, err := s.QueueCounts(ctx, "dlq")
	if err != nil {
		t.Fatal(err)
	}
	if before != after2 || after2.Visible != 999 || after2.InFlight != 1 {
		t.Fatalf("counts %+v after peeking, %+v before", after2, before)
	}
}

func TestPeekRejects(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		queue, after string
		limit        int
	}{{"q", "", 0}, {"q", "", 1001}, {"q", "no-such-id", 10}, {"missing", "", 10}} {
		if _, _, err := s.Peek(ctx, c.queue, c.after, c.limit); err == nil {
			t.Errorf("Peek(%q, %q, %d) succeeded", c.queue, c.after, c.limit)
		}
	}
}

// TestDeleteByID deletes a visible and an in-flight message by id, and
// reports a second delete as nothing found.
func TestDeleteByID(t *testing.T) {
	t.Parallel()
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Send(ctx, "q", SendParams{Body: "a"})
	b, _ := s.Send(ctx, "q", SendParams{Body: "b"})
	c, _ := s.Send(ctx, "q", SendParams{Body: "c"})
	if got, err := s.Receive(ctx, "q", ReceiveParams{MaxMessages: 1}); err != nil || got[0].MessageID != a.MessageID {
		t.Fatalf("receive: %v %v", got, err)
	}
	for _, id := range []string{a.MessageID, b.MessageID} {
		if ok, err := s.DeleteByID(ctx, "q", id); !ok || err != nil {
			t.Fatalf("DeleteByID(%s) = %v, %v", id, ok, err)
		}
	}
	if ok, err := s.DeleteByID(ctx, "q", a.MessageID); ok || err != nil {
		t.Fatalf("second DeleteByID = %v, %v; want false, nil", ok, err)
	}
	left, _, err := s.Peek(ctx, "q", "", 10)
	if err != nil || len(left) != 1 || left[0].MessageID != c.MessageID {
		t.Fatalf("left %+v, %v; want only %s", left, err, c.MessageID)
	}
	if _, err := s.DeleteByID(ctx, "q", ""); err == nil {
		t.Fatal("DeleteByID with no id succeeded")
	}
}

// TestPassiveLeavesMoveTasks leaves a move task running in the file: a
// passive store opened on it does not run the task, a store that owns the
// file does.
func TestPassiveLeavesMoveTasks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "q.db")
	vc := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(path, Options{Clock: vc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, q := range []string{"src", "dst"} {
		if err := s.CreateQueue(ctx, q, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	policy := `{"deadLetterTargetArn":"` + s.QueueARN("src") + `","maxReceiveCount":1}`
	if err := s.CreateQueue(ctx, "main", map[string]string{"RedrivePolicy": policy}, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Send(ctx, "src", SendParams{Body: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	// One message a second on a clock that does not move: the task stays
	// running when the store closes.
	if _, err := s.StartMoveTask(ctx, MoveTaskParams{SourceArn: s.QueueARN("src"), DestinationArn: s.QueueARN("dst"),
		MaxNumberOfMessagesPerSecond: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	running := func(opts Options) int {
		st, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.tasks)
	}
	if n := running(Options{Clock: vc, Passive: true}); n != 0 {
		t.Fatalf("passive store runs %d move tasks, want 0", n)
	}
	if n := running(Options{Clock: vc}); n != 1 {
		t.Fatalf("owning store runs %d move tasks, want 1", n)
	}
}
