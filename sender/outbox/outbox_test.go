package outbox_test

import (
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/outbox"
	"github.com/mailflow/mailflow/sender/sendertest"
)

func TestDeliveryFile(t *testing.T) {
	dir := t.TempDir()
	o, err := outbox.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := o.Send(context.Background(), &sender.Message{
		From: "sender@example.com", To: []string{"a@example.org"}, Bcc: []string{"Hidden <h@example.net>"},
		Raw: sendertest.Raw("hello"), ConfigurationSet: "transactional",
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(o.Path(id))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("Subject"); got != "hello" {
		t.Fatalf("Subject = %q", got)
	}
	env := msg.Header["X-Mailflow-Envelope-To"]
	if !slices.Contains(env, "a@example.org") || !slices.Contains(env, "Hidden <h@example.net>") {
		t.Fatalf("envelope recipients %v", env)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Fatal("a Bcc header leaked into the message")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".incoming") || filepath.Ext(e.Name()) != ".eml" {
			t.Fatalf("unexpected file %s", e.Name())
		}
	}
}

func TestRefusesBadDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := outbox.New(filepath.Join(file, "sub")); err == nil {
		t.Fatal("accepted a directory under a file")
	}
	if _, err := outbox.New(""); err == nil {
		t.Fatal("accepted an empty directory")
	}
}
