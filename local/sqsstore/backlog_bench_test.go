package sqsstore

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkReceiveFromBacklog receives and deletes batches of 10 from a
// queue holding a backlog, with and without a redrive policy. The cost of a
// receive must not grow with the backlog: the redrive check looks only at
// messages received before.
func BenchmarkReceiveFromBacklog(b *testing.B) {
	for _, backlog := range []int{1000, 10000} {
		for _, redrive := range []bool{false, true} {
			b.Run("backlog="+strconv.Itoa(backlog)+"/redrive="+strconv.FormatBool(redrive), func(b *testing.B) {
				ctx := context.Background()
				s, err := Open(filepath.Join(b.TempDir(), "q.db"), Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				attrs := map[string]string{"VisibilityTimeout": "60"}
				if redrive {
					if err := s.CreateQueue(ctx, "dlq", nil, nil); err != nil {
						b.Fatal(err)
					}
					attrs["RedrivePolicy"] = `{"deadLetterTargetArn":"` + s.QueueARN("dlq") + `","maxReceiveCount":5}`
				}
				if err := s.CreateQueue(ctx, "q", attrs, nil); err != nil {
					b.Fatal(err)
				}
				send := func(n int) {
					for i := 0; i < n; i += 10 {
						entries := make([]SendBatchEntry, 10)
						for j := range entries {
							entries[j] = SendBatchEntry{ID: strconv.Itoa(j), SendParams: SendParams{Body: "message " + strconv.Itoa(i+j)}}
						}
						if _, err := s.SendBatch(ctx, "q", entries); err != nil {
							b.Fatal(err)
						}
					}
				}
				send(backlog)
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					send(10) // keep the backlog where it is
					b.StartTimer()
					msgs, err := s.Receive(ctx, "q", ReceiveParams{MaxMessages: 10})
					if err != nil || len(msgs) != 10 {
						b.Fatalf("received %d: %v", len(msgs), err)
					}
					entries := make([]BatchEntry, len(msgs))
					for i, m := range msgs {
						entries[i] = BatchEntry{ID: strconv.Itoa(i), ReceiptHandle: m.ReceiptHandle}
					}
					if _, err := s.DeleteBatch(ctx, "q", entries); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
