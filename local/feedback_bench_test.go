package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/feedbackloop"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/workflow"
)

// BenchmarkRecordEvents measures delivery feedback locally: SES Delivery
// events, each for its own mail, enqueued on the events queue and
// recorded by the runtime's consumer (delivery record, lock check,
// outcome event log). "drain-only" runs the same bodies through the same
// queue store with a consumer that does nothing, the baseline in the same
// run: the ratio of the two is what recording adds. Each reports
// events/s.
func BenchmarkRecordEvents(b *testing.B) {
	rt, err := local.Start(context.Background(), local.Config{DataDir: b.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close(context.Background()) })
	ctx := context.Background()
	queues := rt.Queues()
	bodies := func(b *testing.B, run string) []string {
		out := make([]string, b.N)
		for i := range out {
			id := fmt.Sprintf("bench-%s-%d", run, i)
			e := sesevent.Event{EventType: sesevent.TypeDelivery, Mail: sesevent.Mail{
				Timestamp: "2026-12-07T10:00:00.000Z", MessageID: "0102-" + id, Source: "noreply@example.com",
				Destination: []string{"ann@example.org"},
				Tags:        map[string][]string{sesevent.MailIDTag: {sesevent.MailIDTagValue(id)}, "ses:configuration-set": {local.ConfigurationSet}},
			}, Delivery: &sesevent.Delivery{Timestamp: "2026-12-07T10:00:01.000Z", Recipients: []string{"ann@example.org"}, SMTPResponse: "250 ok"}}
			env, err := sesevent.NewEnvelope(e, "ev-"+id, local.DefaultAccount, local.DefaultRegion, "", time.Now())
			if err != nil {
				b.Fatal(err)
			}
			raw, _ := json.Marshal(env)
			out[i] = string(raw)
		}
		return out
	}
	enqueue := func(b *testing.B, queue string, bodies []string) {
		for start := 0; start < len(bodies); start += 10 {
			var entries []sqsstore.SendBatchEntry
			for i, body := range bodies[start:min(start+10, len(bodies))] {
				entries = append(entries, sqsstore.SendBatchEntry{ID: fmt.Sprint(i), SendParams: sqsstore.SendParams{Body: body}})
			}
			if _, err := queues.SendBatch(ctx, queue, entries); err != nil {
				b.Fatal(err)
			}
		}
	}
	report := func(b *testing.B, start time.Time) {
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	}

	b.Run("drain-only", func(b *testing.B) {
		queue := fmt.Sprintf("bench-bare-%d", b.N)
		if err := queues.CreateQueue(ctx, queue, nil, nil); err != nil {
			b.Fatal(err)
		}
		loop, err := feedbackloop.New(feedbackloop.Config{Queues: queues, Queue: queue, DeadLetterQueue: local.DefaultEventsDeadLetterQueue,
			Record: func(context.Context, []byte) error { return nil }, Classify: func(error) (string, bool) { return "", false }})
		if err != nil {
			b.Fatal(err)
		}
		all := bodies(b, "bare")
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		b.ResetTimer()
		start := time.Now()
		go loop.Run(lctx)
		enqueue(b, queue, all)
		for loop.Counts().Processed < int64(b.N) {
			time.Sleep(10 * time.Millisecond) // as the other side waits
		}
		b.StopTimer()
		report(b, start)
	})

	run := 0
	b.Run("recorded", func(b *testing.B) {
		run++
		all := bodies(b, fmt.Sprintf("rec%d", run))
		queue := rt.Config().EventsQueue
		b.ResetTimer()
		start := time.Now()
		enqueue(b, queue, all)
		// The consumer deletes a message once it is recorded.
		for depth(b, rt, queue) > 0 {
			time.Sleep(10 * time.Millisecond) // counting the queue costs the store: not too often
		}
		b.StopTimer()
		report(b, start)
		if c, err := rt.Feedback().Counts(ctx); err != nil || c.Recipients[workflow.EventDelivered] < b.N {
			b.Fatalf("%d deliveries recorded, want at least %d (%v)", c.Recipients[workflow.EventDelivered], b.N, err)
		}
	})
}

// depth counts the queue's messages, visible or in flight.
func depth(b *testing.B, rt *local.Runtime, queue string) int {
	attrs, err := rt.Queues().GetQueueAttributes(context.Background(), queue,
		[]string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, v := range attrs {
		var k int
		fmt.Sscan(v, &k)
		n += k
	}
	return n
}
