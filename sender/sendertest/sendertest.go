// Package sendertest is the conformance suite every [sender.Sender] adapter
// must pass: a message is accepted and recorded, ids differ per send, every
// failure class of the backend comes back with its state-machine error name,
// and a failure leaves the next send unaffected.
//
// An adapter's conformance test supplies a fresh sender per test, a way to
// read back the subject it recorded for a message id, and a way to make its
// next send fail as the backend fails for each error name in sender.Names
// (sessender uses a fault-injecting proxy; a simulator can arm itself).
//
// Capabilities: an adapter that cannot be made to fail in some class on its
// own (the outbox never throttles, pauses or rejects) leaves that name out
// of Harness.Fails; the suite reports each class it leaves out as skipped
// with the reason, so a -v run shows what an adapter was not asked.
package sendertest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/workflow"
)

// Harness adapts one backend to the suite.
type Harness struct {
	// NewSender returns a sender for one test; it registers its own cleanup.
	NewSender func(t *testing.T) sender.Sender
	// Subject returns the subject the backend recorded for a sent message
	// id, and false when it recorded no such message.
	Subject func(t *testing.T, s sender.Sender, messageID string) (string, bool)
	// Fail arms s so that its next send fails the way the backend fails for
	// the error name (one of Fails), once.
	Fail func(t *testing.T, s sender.Sender, name workflow.ErrorName)
	// Fails lists the error names Fail can arm: all of sender.Names for an
	// adapter in front of a service, fewer (or none, with Fail nil) for one
	// that cannot fail in a class on its own.
	Fails []workflow.ErrorName
}

// Raw builds a small valid MIME message with the subject.
func Raw(subject string) []byte {
	return []byte("From: Sender <sender@example.com>\r\nTo: rcpt@example.org\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhello\r\n")
}

func message(subject string) *sender.Message {
	return &sender.Message{
		From: "sender@example.com", To: []string{"rcpt@example.org"}, Bcc: []string{"Hidden <hidden@example.net>"},
		Raw: Raw(subject), ConfigurationSet: "transactional",
		Tags: []workflow.Tag{{Name: "kind", Value: "receipt"}},
	}
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	if len(h.Fails) > 0 && h.Fail == nil {
		t.Fatal("Harness.Fails lists error names but Fail is nil")
	}
	for _, name := range h.Fails {
		if !slices.Contains(sender.Names, name) {
			t.Fatalf("Harness.Fails: %q is not one of sender.Names", name)
		}
	}

	t.Run("Send", func(t *testing.T) {
		s := h.NewSender(t)
		id1, err := s.Send(ctx, message("first"))
		if err != nil || id1 == "" {
			t.Fatalf("Send = %q, %v", id1, err)
		}
		id2, err := s.Send(ctx, message("second"))
		if err != nil || id2 == "" || id2 == id1 {
			t.Fatalf("second Send = %q, %v (first %q)", id2, err, id1)
		}
		for id, want := range map[string]string{id1: "first", id2: "second"} {
			if got, ok := h.Subject(t, s, id); !ok || got != want {
				t.Errorf("recorded subject of %s = %q, %v; want %q", id, got, ok, want)
			}
		}
	})

	t.Run("ErrorClasses", func(t *testing.T) {
		if h.Fail != nil && len(h.Fails) == 0 {
			t.Fatal("Harness.Fail is set but Harness.Fails names no error class to arm")
		}
		for _, name := range sender.Names {
			if !slices.Contains(h.Fails, name) {
				t.Logf("%s not checked: the adapter cannot fail with it on its own (not in Harness.Fails)", name)
			}
		}
		for _, name := range h.Fails {
			t.Run(strings.TrimPrefix(string(name), "Mail."), func(t *testing.T) {
				s := h.NewSender(t)
				h.Fail(t, s, name)
				id, err := s.Send(ctx, message("fails"))
				if err == nil {
					t.Fatalf("armed %s, Send succeeded with %q", name, id)
				}
				if got := workflow.NameOf(err); got != name {
					t.Fatalf("error %v is named %q, want %q", err, got, name)
				}
				if name != workflow.Transient && !sender.Refused(err) {
					t.Fatalf("the refusal %v does not count as not accepted", err)
				}
				if _, err := s.Send(ctx, message("after")); err != nil {
					t.Fatalf("the send after a %s failure: %v", name, err)
				}
			})
		}
	})

	t.Run("InvalidMessage", func(t *testing.T) {
		s := h.NewSender(t)
		for _, m := range []*sender.Message{
			{From: "sender@example.com", Raw: Raw("x")},
			{From: "not an address", To: []string{"a@example.org"}, Raw: Raw("x")},
			{From: "sender@example.com", To: []string{"a@example.org"}},
		} {
			if _, err := s.Send(ctx, m); workflow.NameOf(err) != workflow.InvalidMessage {
				t.Errorf("Send(%+v) = %v, want %s", m, err, workflow.InvalidMessage)
			}
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		s := h.NewSender(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := s.Send(cctx, message("canceled"))
		if workflow.NameOf(err) != workflow.Transient {
			t.Fatalf("Send with a canceled context = %v, want %s", err, workflow.Transient)
		}
		// Nothing left the process: the mail was certainly not accepted.
		if !sender.Refused(err) {
			t.Fatalf("Send with a canceled context = %v, not marked sender.NotAccepted", err)
		}
	})
}
