package local_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/workflow"
)

// receiver is a producer's webhook endpoint: it verifies every request's
// signature with the client helper and keeps the verified events.
type receiver struct {
	mu       sync.Mutex
	secret   []byte
	events   []workflow.OutcomeEvent
	bodies   [][]byte
	headers  []string
	rejected int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sig := r.Header.Get(client.WebhookSignatureHeader)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := client.VerifyWebhook(rc.secret, sig, body, time.Now(), 5*time.Minute); err != nil {
		rc.rejected++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	e, err := workflow.ParseOutcomeEvent(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.events = append(rc.events, e)
	rc.bodies = append(rc.bodies, body)
	rc.headers = append(rc.headers, sig)
}

func (rc *receiver) has(mailID string, t workflow.OutcomeEventType) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, e := range rc.events {
		if e.MailID == mailID && e.Type == t {
			return true
		}
	}
	return false
}

// TestDeliveryFeedbackEndToEnd: the mailbox simulator's addresses through
// the whole local pipeline. success@ and ooto@ are delivered, bounce@
// bounces and is suppressed, complaint@ is complained about and
// suppressed, and the next mail to bounce@ fails with Mail.Suppressed
// without reaching SES. A webhook receiver gets a correctly signed event
// for each state change; a wrong secret fails verification.
func TestDeliveryFeedbackEndToEnd(t *testing.T) {
	rc := &receiver{secret: []byte("a webhook secret of 32 bytes....")}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	rt, c, done := start(t, local.Config{Webhooks: local.WebhookConfig{URLs: []string{srv.URL}, Secret: string(rc.secret)}})
	ctx := context.Background()

	mails := map[string]string{
		"fb-success":   "success@simulator.amazonses.com",
		"fb-ooto":      "ooto@simulator.amazonses.com",
		"fb-bounce":    "bounce@simulator.amazonses.com",
		"fb-complaint": "complaint@simulator.amazonses.com",
	}
	for id, to := range mails {
		if _, err := c.Send(ctx, client.Mail{MailID: id, To: []string{to}, Subject: "Hello", Text: "Hi."}); err != nil {
			t.Fatal(err)
		}
	}
	for _, it := range waitItems(t, done, len(mails)) {
		if it.Outcome != workflow.OutcomeSent {
			t.Fatalf("item %+v", it)
		}
	}
	want := map[string]workflow.OutcomeEventType{
		"fb-success": workflow.EventDelivered, "fb-ooto": workflow.EventDelivered,
		"fb-bounce": workflow.EventBounced, "fb-complaint": workflow.EventComplained,
	}
	deliveries := rt.Feedback().Deliveries()
	deadline := time.Now().Add(30 * time.Second)
	for id, state := range want {
		for {
			m, ok, err := deliveries.Get(ctx, id, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if r, found := m.Recipient(mails[id]); ok && found && r.State == state {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: delivery record %+v, want %s", id, m, state)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The consumer records an event, then suppresses its address.
	var listed []suppression.Entry
	for {
		var err error
		listed, err = rt.Feedback().Suppressions().Lookup(ctx, []string{mails["fb-bounce"], mails["fb-complaint"], mails["fb-success"]})
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(listed) != 2 || listed[0].MailID != "fb-bounce" || listed[1].MailID != "fb-complaint" {
		t.Fatalf("suppression list %+v", listed)
	}

	outbox := func() int {
		files, _ := filepath.Glob(filepath.Join(rt.OutboxDir(), "*.eml"))
		return len(files)
	}
	before := outbox()
	if _, err := c.Send(ctx, client.Mail{MailID: "fb-bounce-again", To: []string{mails["fb-bounce"]}, Subject: "Hello", Text: "Hi."}); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-done:
		it := f.items[0]
		if it.Outcome != workflow.OutcomeDeadLettered || it.Error != string(workflow.Suppressed) {
			t.Fatalf("the mail to a suppressed address: %+v", it)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no outcome for the mail to a suppressed address")
	}
	if n := outbox(); n != before {
		t.Fatalf("the mail to a suppressed address reached SES: %d mails in the outbox, %d before", n, before)
	}

	// Every state change reached the receiver, signed.
	changes := map[string][]workflow.OutcomeEventType{
		"fb-success":      {workflow.EventAccepted, workflow.EventSent, workflow.EventDelivered},
		"fb-ooto":         {workflow.EventAccepted, workflow.EventSent, workflow.EventDelivered},
		"fb-bounce":       {workflow.EventAccepted, workflow.EventSent, workflow.EventBounced},
		"fb-complaint":    {workflow.EventAccepted, workflow.EventSent, workflow.EventDelivered, workflow.EventComplained},
		"fb-bounce-again": {workflow.EventDeadLettered},
	}
	deadline = time.Now().Add(30 * time.Second)
	for id, types := range changes {
		for _, typ := range types {
			for !rc.has(id, typ) {
				if time.Now().After(deadline) {
					t.Fatalf("the receiver got no %s event for %s", typ, id)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.rejected != 0 {
		t.Fatalf("%d requests failed verification", rc.rejected)
	}
	// The client helper refuses a wrong secret and a changed body.
	if err := client.VerifyWebhook([]byte("another secret of 32 bytes......"), rc.headers[0], rc.bodies[0], time.Now(), 5*time.Minute); err == nil {
		t.Fatal("a wrong secret verified")
	}
	tampered := append([]byte{}, rc.bodies[0]...)
	tampered[len(tampered)-2] ^= 1
	if err := client.VerifyWebhook(rc.secret, rc.headers[0], tampered, time.Now(), 5*time.Minute); err == nil {
		t.Fatal("a changed body verified")
	}
}
