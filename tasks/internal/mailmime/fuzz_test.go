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
	"github.com/mailflow/mailflow/workflow"
)

// FuzzBuild builds the MIME message of every body the contract accepts:
// no panic, and a message that parses with exactly one From, one Subject
// and no header the message did not ask for (no header injection through
// any field).
func FuzzBuild(f *testing.F) {
	f.Add([]byte(`{"version":1,"mailId":"m-1","from":"A <a@example.com>","to":["b@example.org"],"subject":"Hi","text":"t","html":"<p>h</p>","headers":{"X-Order":"1"},"attachments":[{"key":"attachments/a.txt","filename":"a.txt","contentType":"text/plain"}]}`))
	f.Add([]byte(`{"version":1,"mailId":"m-2","from":"\"Ann, Example\" <a@example.com>","to":["Bé <b@example.org>"],"cc":["c@example.org"],"replyTo":["r@example.org"],"subject":"Grüße =?utf-8?q?x?=","text":"t\r\nBcc: x@evil.org"}`))
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
	})
}
