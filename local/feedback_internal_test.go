package local

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/local/outbox"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sendertest"
	"github.com/mailflow/mailflow/workflow"
)

// The simulator's records reach the recorder through the events queue as
// EventBridge envelopes, and Close stops the drain before the store.
func TestSESEventsThroughTheEventsQueue(t *testing.T) {
	t.Parallel()
	store, err := sqsstore.Open(filepath.Join(t.TempDir(), "q.db"), sqsstore.Options{Region: "eu-west-1", AccountID: "111122223333"})
	if err != nil {
		t.Fatal(err)
	}
	r := &Runtime{queues: store, cfg: Config{
		EventsQueue: DefaultEventsQueue, EventsDeadLetterQueue: DefaultEventsDeadLetterQueue,
		Account: "111122223333", Region: "eu-west-1", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}
	r.closers = append(r.closers, store)
	ctx := context.Background()
	if err := r.createEventsQueues(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []sesevent.Envelope
	errMalformed := errors.New("malformed")
	record := func(_ context.Context, body []byte) error {
		env, err := sesevent.ParseEnvelope(body)
		if err != nil {
			return errors.Join(errMalformed, err)
		}
		mu.Lock()
		got = append(got, env)
		mu.Unlock()
		return nil
	}
	classify := func(err error) (string, bool) { return "malformed", errors.Is(err, errMalformed) }
	if err := r.startFeedback(ctx, record, nil, classify); err != nil {
		t.Fatal(err)
	}
	box, err := outbox.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sim, err := sessim.New(box, r.cfg.SES)
	if err != nil {
		t.Fatal(err)
	}
	m := &sender.Message{From: "sender@example.com", To: []string{"bounce@simulator.amazonses.com"}, Raw: sendertest.Raw("x"),
		ConfigurationSet: "mailflow", Tags: []workflow.Tag{{Name: sesevent.MailIDTag, Value: "order-1"}}}
	if _, err := sim.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d envelopes recorded, want 2", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	sim.Close()
	r.closeStores()
	types := map[string]sesevent.Envelope{}
	for _, e := range got {
		types[e.DetailType] = e
	}
	b, ok := types[sesevent.DetailBounced]
	if _, sent := types[sesevent.DetailSent]; !sent || !ok {
		t.Fatalf("detail-types %v", types)
	}
	if b.Account != "111122223333" || b.Region != "eu-west-1" || b.Resources[0] != "arn:aws:ses:eu-west-1:111122223333:configuration-set/mailflow" {
		t.Fatalf("envelope %+v", b)
	}
	if id, ok := sesevent.MailID(b.Detail); !ok || id != "order-1" {
		t.Fatalf("mail id %q %v", id, ok)
	}
}
