package sqsstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mailflow/mailflow/local/sqsstore"
)

// The in-process API a poller (such as the local Pipes emulation) uses:
// long-poll a batch, process it, delete what succeeded and leave the rest to
// reappear when its visibility timeout ends.
func Example() {
	dir, _ := os.MkdirTemp("", "sqsstore-example")
	defer os.RemoveAll(dir)
	store, err := sqsstore.Open(filepath.Join(dir, "queues.db"), sqsstore.Options{})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	ctx := context.Background()

	if err := store.CreateQueue(ctx, "mail", map[string]string{"VisibilityTimeout": "60"}, nil); err != nil {
		panic(err)
	}
	for _, body := range []string{`{"to":"a@example.com"}`, `{"to":"b@example.com"}`} {
		if _, err := store.Send(ctx, "mail", sqsstore.SendParams{Body: body}); err != nil {
			panic(err)
		}
	}

	wait := 1
	msgs, err := store.Receive(ctx, "mail", sqsstore.ReceiveParams{MaxMessages: 10, WaitTimeSeconds: &wait})
	if err != nil {
		panic(err)
	}
	var done []sqsstore.BatchEntry
	for i, m := range msgs {
		attrs := m.SystemAttributes() // as in a Pipes/Lambda record: "attributes"
		fmt.Println(m.Body, "receive count", attrs["ApproximateReceiveCount"])
		done = append(done, sqsstore.BatchEntry{ID: fmt.Sprint(i), ReceiptHandle: m.ReceiptHandle})
	}
	results, err := store.DeleteBatch(ctx, "mail", done)
	if err != nil {
		panic(err)
	}
	for _, r := range results {
		if r.Err != nil {
			fmt.Println("not deleted:", r.ID, r.Err)
		}
	}
	counts, _ := store.QueueCounts(ctx, "mail")
	fmt.Printf("left: %+v\n", counts)
	fmt.Println("eventSourceARN:", store.QueueARN("mail"))
	// Unordered output:
	// {"to":"a@example.com"} receive count 1
	// {"to":"b@example.com"} receive count 1
	// left: {Visible:0 InFlight:0 Delayed:0}
	// eventSourceARN: arn:aws:sqs:us-east-1:000000000000:mail
}
