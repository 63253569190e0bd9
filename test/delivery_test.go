package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

func sampleMail(t *testing.T, id string) (client.Mail, map[string][]byte) {
	t.Helper()
	pdf := make([]byte, 300*1024+7)
	rand.Read(pdf)
	png := make([]byte, 4096)
	rand.Read(png)
	m := client.Mail{
		MailID: id, From: `"Shop Bil__ng" <billing@example.com>`, To: []string{"Ann Müller <ann@example.org>"}, Bcc: []string{"audit@example.net"},
		Subject: "Ihre Rechnung — Nr. 1042 ✓", Text: "Grüße,\nIhr Shop", HTML: `<p>Grüße</p><img src="cid:logo@shop">`,
		Headers: map[string]string{"X-Test-Id": id},
		Attachments: []client.Attachment{
			{Filename: "rechnung-1042.pdf", ContentType: "application/pdf", Content: pdf},
			{Filename: "logo.png", ContentType: "image/png", Inline: true, ContentID: "logo@shop", Content: png},
		},
	}
	return m, map[string][]byte{"rechnung-1042.pdf": pdf, "logo.png": png}
}

func checkDelivered(t *testing.T, raw []byte, m client.Mail, files map[string][]byte) {
	t.Helper()
	p := parseMail(t, raw)
	subject, err := mimeDecoder.DecodeHeader(p.header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("subject %q (%v), want %q", subject, err, m.Subject)
	}
	if p.header.Get("X-Test-Id") != m.MailID {
		t.Errorf("X-Test-Id %q", p.header.Get("X-Test-Id"))
	}
	if !strings.Contains(p.text, "Grüße") || !strings.Contains(p.html, `cid:logo@shop`) {
		t.Errorf("bodies: text %q html %q", p.text, p.html)
	}
	for name, want := range files {
		if got, ok := p.attachments[name]; !ok || !bytes.Equal(got, want) {
			t.Errorf("attachment %s: %d bytes, want %d identical bytes", name, len(got), len(want))
		}
	}
	if p.contentIDs["logo.png"] != "logo@shop" {
		t.Errorf("inline image Content-ID %q", p.contentIDs["logo.png"])
	}
}

// TestDeliveryToOutbox enqueues a mail with attachments through the SQS and
// S3 endpoints and reads the .eml back with an independent MIME parser.
func TestDeliveryToOutbox(t *testing.T) {
	t.Parallel()
	d := startDev(t, t.TempDir())
	m, files := sampleMail(t, "e2e-outbox-1")
	if _, err := d.client(t).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the mail in the outbox", func() bool { return len(d.outbox(t)) == 1 })
	raw, err := os.ReadFile(d.outbox(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, raw, m, files)
	if parseMail(t, raw).header.Get("Bcc") != "" {
		t.Error("the Bcc recipient is in the message header")
	}
	if !bytes.Contains(raw, []byte("X-Mailflow-Envelope-To: audit@example.net")) {
		t.Error("the Bcc recipient is not in the envelope")
	}
}

// TestDeliveryThroughSMTP relays the same mail to a real SMTP server.
func TestDeliveryThroughSMTP(t *testing.T) {
	t.Parallel()
	mp := testkit.StartMailpit(t)
	d := startDev(t, t.TempDir(), "--smtp", mp.SMTPAddr)
	m, files := sampleMail(t, "e2e-smtp-1")
	if _, err := d.client(t).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var found []testkit.MailpitMessage
	eventually(t, 60*time.Second, "the mail in mailpit", func() bool { found = mp.Messages(t); return len(found) == 1 })
	checkDelivered(t, mp.Raw(t, found[0].ID), m, files)
	if len(found[0].Bcc) != 1 || found[0].Bcc[0].Address != "audit@example.net" {
		t.Errorf("envelope Bcc %+v", found[0].Bcc)
	}
	if len(d.outbox(t)) != 0 {
		t.Error("mail went to the outbox as well")
	}
}

// TestConcurrentDuplicatesDeliverOnce enqueues one mail three times at once.
func TestConcurrentDuplicatesDeliverOnce(t *testing.T) {
	t.Parallel()
	d := startDev(t, t.TempDir(), "--visibility-timeout", "2s", "--allow-short-visibility")
	body := `{"version":1,"mailId":"e2e-dup-1","to":["ann@example.org"],"subject":"Once","text":"only once","headers":{"X-Test-Id":"e2e-dup-1"}}`
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { d.sendRaw(t, body) })
	}
	wg.Wait()
	eventually(t, 90*time.Second, "the queue to drain", func() bool { return d.queueDepth(t, "mailflow-source") == 0 })
	if n := len(d.outbox(t)); n != 1 {
		t.Fatalf("%d deliveries of one mail enqueued three times, want 1\n%s", n, d.output())
	}
	if !strings.Contains(d.output(), "already-sent") && !strings.Contains(d.output(), "retry-later") {
		t.Errorf("the duplicates left no trace in the batch summaries:\n%s", d.output())
	}
}

// TestManyMailsPaced: with pacing on (the default), no call reaches SES
// beyond its rate: every mail is delivered and SES throttles none.
func TestManyMailsPaced(t *testing.T) {
	t.Parallel()
	d := startDev(t, t.TempDir(), "--ses-rate", "5", "--visibility-timeout", "3s", "--allow-short-visibility")
	const n = 30
	for i := range n {
		d.sendRaw(t, fmt.Sprintf(`{"version":1,"mailId":"e2e-paced-%d","to":["ann@example.org"],"subject":"n %d","text":"x"}`, i, i))
	}
	eventually(t, 3*time.Minute, "every mail delivered", func() bool { return len(d.outbox(t)) >= n })
	eventually(t, 60*time.Second, "the queue to drain", func() bool { return d.queueDepth(t, "mailflow-source") == 0 })
	if got := len(d.outbox(t)); got != n {
		t.Fatalf("%d deliveries, want %d", got, n)
	}
	// Throttled attempts may remain (the pacer refuses a send whose token
	// is too far off); none of them may be SES's own answer.
	paced, ses := 0, 0
	store, err := execstore.Open(filepath.Join(d.data, "executions.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	page, err := store.List(context.Background(), execstore.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Executions {
		events, err := store.Events(context.Background(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			var details struct {
				Error workflow.ErrorName
				Cause string
			}
			json.Unmarshal(ev.Details, &details)
			switch {
			case ev.Type != "TaskFailed" || details.Error != workflow.Throttled:
			case strings.Contains(details.Cause, sessim.TextThrottled):
				ses++
			default:
				paced++
			}
		}
	}
	if ses != 0 {
		t.Fatalf("SES throttled %d paced sends (the pacer refused %d)", ses, paced)
	}
	t.Logf("%d mails at 5/s: SES throttled none; the pacer refused %d attempts", n, paced)
}

func TestManyMailsUnderThrottling(t *testing.T) {
	t.Parallel()
	// Unpaced, so SES itself throttles and the state machine retries
	// (the pacer would keep every call within the rate).
	d := startDev(t, t.TempDir(), "--ses-rate", "5", "--pacing", "off", "--visibility-timeout", "3s", "--allow-short-visibility")
	const n = 30
	for i := range n {
		d.sendRaw(t, fmt.Sprintf(`{"version":1,"mailId":"e2e-rate-%d","to":["ann@example.org"],"subject":"n %d","text":"x"}`, i, i))
	}
	eventually(t, 3*time.Minute, "every mail delivered", func() bool { return len(d.outbox(t)) >= n })
	eventually(t, 60*time.Second, "the queue to drain", func() bool { return d.queueDepth(t, "mailflow-source") == 0 })
	if got := len(d.outbox(t)); got != n {
		t.Fatalf("%d deliveries, want %d", got, n)
	}
	if retries := countEvents(t, d.data, "TaskFailed", "Mail.Throttled"); retries == 0 {
		t.Fatal("no throttled attempt in the execution history at 5 sends per second")
	} else {
		t.Logf("%d mails at 5/s: %d throttled attempts retried", n, retries)
	}
}
