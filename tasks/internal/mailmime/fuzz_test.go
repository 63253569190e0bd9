package mailmime_test

import (
	"bytes"
	"context"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/store/memstore"
	"github.com/mailflow/mailflow/tasks/internal/mailmime"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// FuzzBuild builds the MIME message of every body the contract accepts:
// no panic, and a message that parses with exactly one From, one Subject
// and no header the message did not ask for (no header injection through
// any field).
func FuzzBuild(f *testing.F) {
	f.Add([]byte(`{"version":1,"mailId":"m-1","from":"A <a@example.com>","to":["b@example.org"],"subject":"Hi","text":"t","html":"<p>h</p>","headers":{"X-Order":"1"},"attachments":[{"key":"attachments/a.txt","filename":"a.txt","contentType":"text/plain"}]}`))
	f.Add([]byte(`{"version":1,"mailId":"m-2","from":"\"Ann, Example\" <a@example.com>","to":["Bé <b@example.org>"],"cc":["c@example.org"],"replyTo":["r@example.org"],"subject":"Grüße =?utf-8?q?x?=","text":"t\r\nBcc: x@evil.org"}`))
	f.Add([]byte(`{"version":1,"mailId":"m-4","from":"a@example.com","to":["Bü <b@bücher.example>"],"subject":"s","text":"--x\r\nContent-Type: text/html\r\n\r\nx","headers":{"X-A":"é\t1"},"attachments":[{"key":"attachments/a.txt","contentType":"text/plain; boundary=x"}]}`))
	f.Add([]byte(`{"version":1,"mailId":"m-3","from":"a@example.com","to":["b@example.org"],"subject":"s","html":"x","attachments":[{"key":"attachments/logo.png","filename":"lo\"go.png","contentType":"image/png","inline":true,"contentId":"logo@x"}]}`))
	src := memstore.New()
	for _, k := range []string{"attachments/a.txt", "attachments/logo.png"} {
		if err := src.Put(context.Background(), k, strings.NewReader("content of "+k), int64(len("content of "+k))); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := workflow.Parse(body, limits)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if _, err := mailmime.Build(context.Background(), &buf, &m, src, mailmime.Options{Limits: limits, Date: time.Unix(0, 0), MaxBytes: 1 << 20}); err != nil {
			if workflow.NameOf(err) == "" {
				t.Fatalf("unnamed error %v for %s", err, body)
			}
			return
		}
		msg, err := mail.ReadMessage(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("built an unparsable message for %s: %v\n%s", body, err, buf.Bytes())
		}
		for _, h := range []string{"From", "Subject", "To", "Bcc"} {
			want := 1
			switch h {
			case "To":
				if len(m.To) == 0 {
					want = 0
				}
			case "Bcc":
				want = 0
			}
			if got := len(msg.Header[h]); got != want {
				t.Fatalf("%d %s headers, want %d, for %s:\n%s", got, h, want, body, buf.Bytes())
			}
		}
		allowed := map[string]bool{"From": true, "To": true, "Cc": true, "Reply-To": true, "Subject": true, "Date": true,
			"Message-Id": true, "Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true}
		for k := range m.Headers {
			allowed[textproto.CanonicalMIMEHeaderKey(k)] = true
		}
		for k := range msg.Header {
			if !allowed[k] {
				t.Fatalf("header %q not asked for, from %s:\n%s", k, body, buf.Bytes())
			}
		}
		// No producer byte becomes structure: one leaf per body and
		// attachment, and a header block of ASCII only.
		_, leaves, err := testkit.ParseMIME(buf.Bytes())
		if err != nil {
			t.Fatalf("built an unparsable MIME tree for %s: %v", body, err)
		}
		want := len(m.Attachments)
		if m.Text != "" || m.TextKey != "" {
			want++
		}
		if m.HTML != "" || m.HTMLKey != "" {
			want++
		}
		if len(leaves) != want {
			t.Fatalf("%d leaf parts, want %d, for %s:\n%s", len(leaves), want, body, buf.Bytes())
		}
		head, _, _ := bytes.Cut(buf.Bytes(), []byte("\r\n\r\n"))
		for i, c := range head {
			if c >= 0x80 {
				t.Fatalf("header byte %d is not ASCII, for %s:\n%s", i, body, head)
			}
		}
	})
}
