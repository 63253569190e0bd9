package outbox_test

import (
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"testing"

	"github.com/mailflow/mailflow/local/outbox"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sendertest"
	"github.com/mailflow/mailflow/workflow"
)

// TestConformance runs the sender suite against a bare outbox, fsync on and
// off. An outbox never throttles, pauses or rejects on its own, so it
// declares no error classes to arm (Harness.Fails); its one failure class,
// Transient, is checked by TestUnwritableDirectoryIsTransient.
func TestConformance(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]outbox.Option{"Sync": nil, "WithoutSync": {outbox.WithoutSync()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sendertest.Run(t, sendertest.Harness{
				NewSender: func(t *testing.T) sender.Sender {
					o, err := outbox.New(filepath.Join(t.TempDir(), "outbox"), opts...)
					if err != nil {
						t.Fatal(err)
					}
					return o
				},
				Subject: func(t *testing.T, s sender.Sender, id string) (string, bool) {
					f, err := os.Open(s.(*outbox.Outbox).Path(id))
					if err != nil {
						return "", false
					}
					defer f.Close()
					m, err := mail.ReadMessage(f)
					if err != nil {
						t.Fatal(err)
					}
					return m.Header.Get("Subject"), true
				},
			})
		})
	}
}

// TestUnwritableDirectoryIsTransient: when the directory is gone (replaced
// by a file here, which even root cannot write into), a send fails with
// Mail.Transient and the next send after the directory is back succeeds.
func TestUnwritableDirectoryIsTransient(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "outbox")
	o, err := outbox.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &sender.Message{From: "sender@example.com", To: []string{"a@example.org"}, Raw: sendertest.Raw("x")}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Send(context.Background(), m); workflow.NameOf(err) != workflow.Transient {
		t.Fatalf("send into a file = %v, want %s", err, workflow.Transient)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Send(context.Background(), m); err != nil {
		t.Fatalf("send after the directory is back: %v", err)
	}
}
