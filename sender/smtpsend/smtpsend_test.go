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

// TestConformanceThroughMailpit runs the sender suite on the SES simulator
// relaying to a real SMTP server, as `mailflow dev --smtp` does, and reads
// every delivery back through mailpit's API.
func TestConformanceThroughMailpit(t *testing.T) {
	mp := testkit.StartMailpit(t)
	sendertest.Run(t, sendertest.Harness{
		NewSender: func(t *testing.T) sender.Sender {
			s, err := smtpsend.New(smtpsend.Config{Addr: mp.SMTPAddr})
			if err != nil {
				t.Fatal(err)
			}
			sim, err := sessim.New(s, sessim.Config{})
			if err != nil {
				t.Fatal(err)
			}
			return sim
		},
		Subject: func(t *testing.T, _ sender.Sender, id string) (string, bool) {
			for _, m := range mp.Messages(t) {
				if m.MessageID == id {
					return m.Subject, true
				}
			}
			return "", false
		},
		Fail: func(t *testing.T, s sender.Sender, name workflow.ErrorName) { s.(*sessim.Simulator).Inject(name) },
	})
}

func TestBccReachesTheEnvelope(t *testing.T) {
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
