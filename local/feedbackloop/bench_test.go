package feedbackloop_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mailflow/mailflow/local/feedbackloop"
	"github.com/mailflow/mailflow/local/sqsstore"
)

// BenchmarkDrain measures how fast the loop records and deletes messages
// with a recorder that does nothing: the loop's and the queue store's own
// cost per event.
func BenchmarkDrain(b *testing.B) {
	s := queues(b, 30, 5)
	entries := make([]sqsstore.SendBatchEntry, 10)
	for i := range entries {
		entries[i] = sqsstore.SendBatchEntry{ID: fmt.Sprint(i), SendParams: sqsstore.SendParams{Body: `{"detail-type":"Email Delivered"}`}}
	}
	for sent := 0; sent < b.N; sent += 10 {
		if _, err := s.SendBatch(context.Background(), events, entries); err != nil {
			b.Fatal(err)
		}
	}
	total := int64((b.N + 9) / 10 * 10)
	l, err := feedbackloop.New(feedbackloop.Config{Queues: s, Queue: events, DeadLetterQueue: dlq,
		Record: func(context.Context, []byte) error { return nil }, Classify: classify})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.ResetTimer()
	go func() { defer close(done); l.Run(ctx) }()
	for l.Counts().Processed < total {
		select {
		case <-done:
			b.Fatal("loop stopped")
		case <-time.After(time.Millisecond):
		}
	}
	b.StopTimer()
	cancel()
	<-done
}
