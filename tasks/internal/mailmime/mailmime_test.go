package mailmime_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/store/memstore"
	"github.com/mailflow/mailflow/tasks/internal/mailmime"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

var limits = workflow.Limits{AttachmentPrefix: "attachments/", AllowedSenders: []string{"example.com"}}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func put(t testing.TB, s store.Store, key string, b []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

func build(t *testing.T, m *workflow.Message, src store.Store, o mailmime.Options) ([]byte, error) {
	t.Helper()
	if o.Limits.AttachmentPrefix == "" {
		o.Limits = limits
	}
	if o.Date.IsZero() {
		o.Date = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	}
	var buf bytes.Buffer
	n, err := mailmime.Build(context.Background(), &buf, m, src, o)
	if err == nil && n != int64(buf.Len()) {
		t.Fatalf("Build reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes(), err
}

func TestBuildParsesBack(t *testing.T) {
	t.Parallel()
	src := memstore.New()
	pdf := append([]byte("%PDF-1.7\n"), randomBytes(200_000)...)
	png := append([]byte("\x89PNG\r\n\x1a\n"), randomBytes(3_000)...)
	longHTML := "<p>" + strings.Repeat("Grüße aus der Küche — ", 200) + "</p>"
	put(t, src, "attachments/1042/receipt.pdf", pdf)
	put(t, src, "attachments/shared/logo.png", png)
	put(t, src, "attachments/1042/body.html", []byte(longHTML))

	subject := "Ihre Bestellung Nr. 1042 — Übersicht und Rechnung ✓ (bitte aufbewahren, danke!)"
	m := &workflow.Message{
		Version: 1, MailID: "order-1042/receipt",
		From:    "Example Shop <billing@example.com>",
		To:      []string{"Zoë Ünicode <zoe@example.org>", "ann@example.org"},
		Cc:      []string{"Carl <carl@example.net>"},
		Bcc:     []string{"archive@example.com"},
		ReplyTo: []string{"support@example.com"},
		Subject: subject,
		Text:    "Danke für Ihre Bestellung.\nDie Rechnung hängt an.",
		HTMLKey: "attachments/1042/body.html",
		Headers: map[string]string{"X-Order-Id": "1042", "List-Unsubscribe": "<mailto:unsub@example.com?subject=1042>", "X-Note": "Grüße"},
		Attachments: []workflow.Attachment{
			{Key: "attachments/1042/receipt.pdf", Filename: "Rechnung Übersicht 2026.pdf", ContentType: "application/pdf"},
			{Key: "attachments/shared/logo.png", Filename: "logo.png", ContentType: "image/png", Inline: true, ContentID: "logo@example.com"},
		},
	}
	raw, err := build(t, m, src, mailmime.Options{MessageID: "abc123@example.com"})
	if err != nil {
		t.Fatal(err)
	}

	// Every line obeys RFC 5322's 998-character limit and ends in CRLF.
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 || strings.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d is malformed (%d bytes)", i, len(line))
		}
	}

	hdr, leaves, err := testkit.ParseMIME(raw)
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	if got, err := dec.DecodeHeader(hdr.Get("Subject")); err != nil || got != subject {
		t.Errorf("Subject = %q, %v; want %q", got, err, subject)
	}
	addrs := func(key string) []string {
		list, err := hdr.AddressList(key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		var out []string
		for _, a := range list {
			out = append(out, a.Name+"|"+a.Address)
		}
		return out
	}
	for key, want := range map[string]string{
		"From": "Example Shop|billing@example.com", "To": "Zoë Ünicode|zoe@example.org,|ann@example.org",
		"Cc": "Carl|carl@example.net", "Reply-To": "|support@example.com",
	} {
		if got := strings.Join(addrs(key), ","); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	for _, name := range []string{"Bcc", "User-Agent", "X-Mailer"} {
		if _, ok := hdr[name]; ok {
			t.Errorf("the message carries a %s header", name)
		}
	}
	if got := hdr.Get("X-Order-Id"); got != "1042" {
		t.Errorf("X-Order-Id = %q", got)
	}
	if got := hdr.Get("List-Unsubscribe"); got != "<mailto:unsub@example.com?subject=1042>" {
		t.Errorf("List-Unsubscribe = %q", got)
	}
	if got, _ := dec.DecodeHeader(hdr.Get("X-Note")); got != "Grüße" {
		t.Errorf("X-Note = %q", got)
	}
	if got := hdr.Get("Message-Id"); got != "<abc123@example.com>" {
		t.Errorf("Message-ID = %q", got)
	}
	if got := hdr.Get("Mime-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q", got)
	}
	if d, err := hdr.Date(); err != nil || !d.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("Date = %v, %v", d, err)
	}

	byType := map[string]testkit.MIMELeaf{}
	for _, l := range leaves {
		byType[l.MediaType()] = l
	}
	if len(leaves) != 4 {
		t.Fatalf("%d leaf parts, want text, html, image, pdf: %+v", len(leaves), leaves)
	}
	text, html, img, att := byType["text/plain"], byType["text/html"], byType["image/png"], byType["application/pdf"]
	wantPaths := map[string]string{
		"text":  "multipart/mixed>multipart/related>multipart/alternative>text/plain",
		"html":  "multipart/mixed>multipart/related>multipart/alternative>text/html",
		"image": "multipart/mixed>multipart/related>image/png",
		"pdf":   "multipart/mixed>application/pdf",
	}
	for name, l := range map[string]testkit.MIMELeaf{"text": text, "html": html, "image": img, "pdf": att} {
		if got := strings.Join(l.Path, ">"); got != wantPaths[name] {
			t.Errorf("%s part at %s, want %s", name, got, wantPaths[name])
		}
	}
	// Line breaks travel as CRLF, as RFC 5322 requires.
	if string(text.Body) != strings.ReplaceAll(m.Text, "\n", "\r\n") {
		t.Errorf("text body %q", text.Body)
	}
	if string(html.Body) != longHTML {
		t.Errorf("html body differs (%d bytes, want %d)", len(html.Body), len(longHTML))
	}
	if !bytes.Equal(img.Body, png) {
		t.Error("inline image differs from the stored object")
	}
	if got := img.Header.Get("Content-Id"); got != "<logo@example.com>" {
		t.Errorf("inline Content-ID = %q", got)
	}
	if disp, _, _ := mime.ParseMediaType(img.Header.Get("Content-Disposition")); disp != "inline" {
		t.Errorf("inline image disposition %q", disp)
	}
	if !bytes.Equal(att.Body, pdf) {
		t.Error("attachment differs from the stored object")
	}
	disp, params, err := mime.ParseMediaType(att.Header.Get("Content-Disposition"))
	if err != nil || disp != "attachment" {
		t.Errorf("attachment disposition %q, %v", disp, err)
	}
	if name := params["filename"]; name != "Rechnung Übersicht 2026.pdf" {
		t.Errorf("attachment filename %q", name)
	}
}

func TestBuildSimpleBodies(t *testing.T) {
	t.Parallel()
	src := memstore.New()
	for _, c := range []struct {
		text, html, want string
	}{{"only text", "", "text/plain"}, {"", "<b>only html</b>", "text/html"}} {
		m := &workflow.Message{Version: 1, MailID: "m", From: "a@example.com", To: []string{"b@example.org"}, Subject: "s", Text: c.text, HTML: c.html}
		raw, err := build(t, m, src, mailmime.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, leaves, err := testkit.ParseMIME(raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(leaves) != 1 || strings.Join(leaves[0].Path, ">") != c.want || string(leaves[0].Body) != c.text+c.html {
			t.Errorf("%s message: %+v", c.want, leaves)
		}
	}
}

func TestBuildFailures(t *testing.T) {
	t.Parallel()
	src := memstore.New()
	put(t, src, "attachments/a.bin", randomBytes(100_000))
	put(t, src, "attachments/secret.bin", []byte("secret"))
	src.Forbid("attachments/secret.bin")
	put(t, src, "attachments/latin1.txt", []byte("Gr\xfc\xdfe"))
	put(t, src, "attachments/utf8.txt", []byte(strings.Repeat("é", 10_000)))
	base := func() *workflow.Message {
		return &workflow.Message{Version: 1, MailID: "m", From: "a@example.com", To: []string{"b@example.org"}, Subject: "s", Text: "t"}
	}
	cases := []struct {
		name   string
		modify func(m *workflow.Message)
		max    int64
		want   workflow.ErrorName
	}{
		{"missing", func(m *workflow.Message) { m.Attachments = []workflow.Attachment{{Key: "attachments/nope.pdf"}} }, 0, workflow.AttachmentMissing},
		{"missing body", func(m *workflow.Message) { m.Text = ""; m.TextKey = "attachments/nope.txt" }, 0, workflow.AttachmentMissing},
		{"forbidden", func(m *workflow.Message) { m.Attachments = []workflow.Attachment{{Key: "attachments/secret.bin"}} }, 0, workflow.AttachmentForbidden},
		{"outside prefix", func(m *workflow.Message) { m.Attachments = []workflow.Attachment{{Key: "private/a.bin"}} }, 0, workflow.AttachmentForbidden},
		{"traversal", func(m *workflow.Message) {
			m.Attachments = []workflow.Attachment{{Key: "attachments/../private/a.bin"}}
		}, 0, workflow.AttachmentForbidden},
		{"absolute", func(m *workflow.Message) { m.Attachments = []workflow.Attachment{{Key: "/attachments/a.bin"}} }, 0, workflow.AttachmentForbidden},
		{"other bucket", func(m *workflow.Message) {
			m.Attachments = []workflow.Attachment{{Key: "s3://other/attachments/a.bin"}}
		}, 0, workflow.AttachmentForbidden},
		{"body key traversal", func(m *workflow.Message) { m.Text = ""; m.HTMLKey = "attachments/./x" }, 0, workflow.AttachmentForbidden},
		{"too large by estimate", func(m *workflow.Message) { m.Attachments = []workflow.Attachment{{Key: "attachments/a.bin"}} }, 100_000, workflow.TooLarge},
		{"too large while writing", func(m *workflow.Message) { m.Text = ""; m.TextKey = "attachments/utf8.txt" }, 60_000, workflow.TooLarge},
		{"non-UTF-8 body", func(m *workflow.Message) { m.Text = ""; m.TextKey = "attachments/latin1.txt" }, 0, workflow.InvalidMessage},
		{"CRLF in subject", func(m *workflow.Message) { m.Subject = "hi\r\nBcc: victim@example.net" }, 0, workflow.InvalidMessage},
		{"CRLF in header", func(m *workflow.Message) { m.Headers = map[string]string{"X-A": "1\r\nBcc: v@example.net"} }, 0, workflow.InvalidMessage},
		{"CRLF in header name", func(m *workflow.Message) { m.Headers = map[string]string{"X-A\r\nBcc": "v@example.net"} }, 0, workflow.InvalidMessage},
		{"CRLF in filename", func(m *workflow.Message) {
			m.Attachments = []workflow.Attachment{{Key: "attachments/a.bin", Filename: "a.pdf\r\nBcc: v@example.net"}}
		}, 0, workflow.InvalidMessage},
		{"CRLF in address", func(m *workflow.Message) { m.To = []string{"b@example.org\r\nBcc: v@example.net"} }, 0, workflow.InvalidMessage},
		{"sender not allowed", func(m *workflow.Message) { m.From = "evil@example.net" }, 0, workflow.InvalidMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := base()
			c.modify(m)
			raw, err := build(t, m, src, mailmime.Options{MaxBytes: c.max})
			if got := workflow.NameOf(err); got != c.want {
				t.Fatalf("error %v named %q, want %q", err, got, c.want)
			}
			if bytes.Contains(raw, []byte("v@example.net")) {
				t.Fatal("an injected header reached the output")
			}
		})
	}
}

// failingStore fails every read with a backend error.
type failingStore struct{ store.Store }

func (failingStore) Stat(context.Context, string) (store.Info, error) {
	return store.Info{}, errors.New("connection reset")
}

func TestBuildStoreFailureIsTransient(t *testing.T) {
	t.Parallel()
	m := &workflow.Message{Version: 1, MailID: "m", From: "a@example.com", To: []string{"b@example.org"}, Subject: "s", Text: "t",
		Attachments: []workflow.Attachment{{Key: "attachments/a.bin"}}}
	_, err := build(t, m, failingStore{memstore.New()}, mailmime.Options{})
	if workflow.NameOf(err) != workflow.Transient {
		t.Fatalf("error %v, want %s", err, workflow.Transient)
	}
}

func TestEncodedSize(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{0, 1, 56, 57, 58, 1000, 100_001} {
		var buf bytes.Buffer
		enc := newLineBreaker(&buf)
		w := base64Encoder(enc)
		_, _ = w.Write(make([]byte, n))
		_ = w.Close()
		enc.flush()
		if got := mailmime.EncodedSize(n); got < int64(buf.Len()) {
			t.Errorf("EncodedSize(%d) = %d, below the real %d", n, got, buf.Len())
		}
	}
}
