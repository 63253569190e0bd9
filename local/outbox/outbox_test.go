package outbox_test

import (
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/local/outbox"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sendertest"
)

func TestDeliveryFile(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := outbox.New(filepath.Join(file, "sub")); err == nil {
		t.Fatal("accepted a directory under a file")
	}
	if _, err := outbox.New(""); err == nil {
		t.Fatal("accepted an empty directory")
	}
}

// TestWithoutSync: skipping the fsync changes nothing a reader sees: whole
// files under their final names, no temporary files left.
func TestWithoutSync(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o, err := outbox.New(dir, outbox.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, subject := range []string{"one", "two"} {
		id, err := o.Send(context.Background(), &sender.Message{From: "s@example.com", To: []string{"a@example.org"}, Raw: sendertest.Raw(subject)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("%d entries in the outbox, want 2", len(entries))
	}
	for i, id := range ids {
		b, err := os.ReadFile(o.Path(id))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"one", "two"}[i]; !strings.Contains(string(b), "Subject: "+want) {
			t.Errorf("file %d lacks its subject %q", i, want)
		}
	}
}
