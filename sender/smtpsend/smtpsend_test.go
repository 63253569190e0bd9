package smtpsend_test

import (
	"bytes"
	"context"
	"net"
	"net/mail"
	"testing"

	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sendertest"
	"github.com/mailflow/mailflow/sender/smtpsend"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// TestConformance runs the sender suite against a real SMTP server
// (mailpit), reading every delivery back through mailpit's API: the relay
// on its own, which fails only as its server does, so it declares no error
// classes to arm (TestRejectionsAndOutages covers its Rejected and Transient
// mapping); and behind the SES simulator, as `mailflow dev --smtp` runs it.
func TestConformance(t *testing.T) {
	t.Parallel()
	mp := testkit.StartMailpit(t)
	subject := func(t *testing.T, _ sender.Sender, id string) (string, bool) {
		for _, m := range mp.Messages(t) {
			if m.MessageID == id {
				return m.Subject, true
			}
		}
		return "", false
	}
	relay := func(t *testing.T) *smtpsend.Sender {
		s, err := smtpsend.New(smtpsend.Config{Addr: mp.SMTPAddr})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("Relay", func(t *testing.T) {
		sendertest.Run(t, sendertest.Harness{
			NewSender: func(t *testing.T) sender.Sender { return relay(t) },
			Subject:   subject,
		})
	})
	t.Run("BehindSimulator", func(t *testing.T) {
		sendertest.Run(t, sendertest.Harness{
			NewSender: func(t *testing.T) sender.Sender {
				sim, err := sessim.New(relay(t), sessim.Config{})
				if err != nil {
					t.Fatal(err)
				}
				return sim
			},
			Subject: subject,
			Fail:    func(t *testing.T, s sender.Sender, name workflow.ErrorName) { s.(*sessim.Simulator).Inject(name) },
			Fails:   sender.Names,
		})
	})
}

func TestBccReachesTheEnvelope(t *testing.T) {
	t.Parallel()
	mp := testkit.StartMailpit(t)
	s, err := smtpsend.New(smtpsend.Config{Addr: mp.SMTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Send(context.Background(), &sender.Message{
		From: "sender@example.com", To: []string{"rcpt@example.org"}, Bcc: []string{"Hidden <hidden@example.net>"},
		Raw: sendertest.Raw("bcc check"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mp.Messages(t) {
		if m.MessageID != id {
			continue
		}
		// mailpit lists envelope recipients missing from the headers as Bcc.
		if len(m.Bcc) != 1 || m.Bcc[0].Address != "hidden@example.net" {
			t.Fatalf("Bcc recipients %+v", m.Bcc)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(mp.Raw(t, m.ID)))
		if err != nil || msg.Header.Get("Subject") != "bcc check" {
			t.Fatalf("delivered message: %v", err)
		}
		return
	}
	t.Fatalf("mailpit has no message %s", id)
}

func TestRejectionsAndOutages(t *testing.T) {
	t.Parallel()
	mp := testkit.StartMailpit(t, "--smtp-allowed-recipients", `@example\.org$`)
	s, err := smtpsend.New(smtpsend.Config{Addr: mp.SMTPAddr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), &sender.Message{From: "sender@example.com", To: []string{"x@blocked.example"}, Raw: sendertest.Raw("x")})
	if workflow.NameOf(err) != workflow.Rejected {
		t.Fatalf("a recipient the server refuses: %v, want %s", err, workflow.Rejected)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	down, _ := smtpsend.New(smtpsend.Config{Addr: addr})
	_, err = down.Send(context.Background(), &sender.Message{From: "sender@example.com", To: []string{"a@example.org"}, Raw: sendertest.Raw("x")})
	if workflow.NameOf(err) != workflow.Transient {
		t.Fatalf("server down: %v, want %s", err, workflow.Transient)
	}
	if _, err := smtpsend.New(smtpsend.Config{Addr: "no-port"}); err == nil {
		t.Fatal("accepted an address without a port")
	}
}
