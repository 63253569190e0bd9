package smtpsend_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sendertest"
	"github.com/mailflow/mailflow/sender/smtpsend"
	"github.com/mailflow/mailflow/testkit"
)

// TestRelayOutcomesThroughMailpit runs the SES simulator in relay mode, as
// `mailflow dev --smtp` does, in front of a real SMTP server (mailpit,
// refusing every recipient outside example.org with a 5xx): SES accepts
// the mail, the accepted recipient is delivered with the Message-ID SES
// gives the mail, and the refused one bounces permanently with the
// server's reply as its diagnostic. (mailpit cannot defer a recipient with
// a 4xx; local/sessim's tests cover that against a scripted server.)
func TestRelayOutcomesThroughMailpit(t *testing.T) {
	t.Parallel()
	mp := testkit.StartMailpit(t, "--smtp-allowed-recipients", `@example\.org$`)
	relay, err := smtpsend.New(smtpsend.Config{Addr: mp.SMTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []sesevent.Event
	sim, err := sessim.New(relay, sessim.Config{Relay: true, Events: func(e sesevent.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	id, err := sim.Send(context.Background(), &sender.Message{
		From: "sender@example.com", To: []string{"ada@example.org", "x@blocked.example"}, Raw: sendertest.Raw("relayed"),
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(events)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events, want Send, Delivery, Bounce", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if events[0].EventType != sesevent.TypeSend || events[1].EventType != sesevent.TypeDelivery || events[1].Delivery.Recipients[0] != "ada@example.org" {
		t.Fatalf("events %+v", events)
	}
	b := events[2].Bounce
	if b == nil || b.BounceType != sesevent.BouncePermanent || b.BouncedRecipients[0].EmailAddress != "x@blocked.example" ||
		!strings.HasPrefix(b.BouncedRecipients[0].DiagnosticCode, "smtp; 550 ") || b.BouncedRecipients[0].Status != "5.1.0" {
		t.Fatalf("refused recipient: %+v", events[2])
	}
	msgs := mp.Messages(t)
	if len(msgs) != 1 || msgs[0].MessageID != id+"@email.amazonses.com" {
		t.Fatalf("mailpit holds %+v, want one message with Message-ID <%s@email.amazonses.com>", msgs, id)
	}
}
