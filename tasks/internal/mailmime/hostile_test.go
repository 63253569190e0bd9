package mailmime_test

import (
	"mime"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/store/memstore"
	"github.com/mailflow/mailflow/tasks/internal/mailmime"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// smuggled is an attachment whose bytes are MIME parts of their own: as a
// multipart/mixed part with this boundary, they would become a Bcc-free
// extra text part and an executable, past every check of the contract.
const smuggled = "--evil\r\nContent-Type: text/html\r\n\r\n<p>pay here</p>\r\n" +
	"--evil\r\nContent-Type: application/x-msdownload\r\nContent-Disposition: attachment; filename=\"invoice.exe\"\r\n\r\nMZ\r\n--evil--\r\n"

func hostileMessage(a workflow.Attachment) *workflow.Message {
	return &workflow.Message{Version: 1, MailID: "m", From: "a@example.com", To: []string{"b@example.org"},
		Subject: "s", Text: "t", Attachments: []workflow.Attachment{a}}
}

// TestBuildRefusesContainerAttachments: an attachment typed multipart/* or
// message/* is refused before anything is written, in any letter case.
func TestBuildRefusesContainerAttachments(t *testing.T) {
	t.Parallel()
	src := memstore.New()
	put(t, src, "attachments/x", []byte(smuggled))
	for _, ct := range []string{`multipart/mixed; boundary="evil"`, "Multipart/Related; boundary=evil", "message/rfc822", "MESSAGE/partial"} {
		raw, err := build(t, hostileMessage(workflow.Attachment{Key: "attachments/x", ContentType: ct}), src, mailmime.Options{})
		if workflow.NameOf(err) != workflow.InvalidMessage || !strings.Contains(err.Error(), "contentType") {
			t.Errorf("content type %q: %v, want %s naming contentType\n%s", ct, err, workflow.InvalidMessage, raw)
		}
	}
}

// TestBuildKeepsProducerBytesOutOfTheStructure: bodies and attachments that
// look like MIME parts, or that name the boundary they guess, stay the
// content of their one part.
func TestBuildKeepsProducerBytesOutOfTheStructure(t *testing.T) {
	t.Parallel()
	src := memstore.New()
	put(t, src, "attachments/x.txt", []byte(smuggled))
	m := hostileMessage(workflow.Attachment{Key: "attachments/x.txt", ContentType: "text/plain; boundary=evil", Filename: "x.txt"})
	m.Text = smuggled
	m.HTML = "--evil--\r\n" + smuggled
	raw, err := build(t, m, src, mailmime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, leaves, err := testkit.ParseMIME(raw)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, l := range leaves {
		types = append(types, strings.Join(l.Path, ">"))
	}
	want := []string{"multipart/mixed>multipart/alternative>text/plain", "multipart/mixed>multipart/alternative>text/html", "multipart/mixed>text/plain"}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Fatalf("parts %q, want %q", types, want)
	}
	if got := string(leaves[2].Body); got != smuggled {
		t.Fatalf("attachment body %q, want the stored bytes", got)
	}
	if _, params, _ := mime.ParseMediaType(leaves[2].Header.Get("Content-Type")); params["boundary"] != "evil" || params["name"] != "x.txt" {
		t.Fatalf("attachment parameters %v", params)
	}
}

// TestBuildWritesAddressesInALabels: an IDN domain goes into the headers in
// A-labels, the display name as an encoded word, so every header is ASCII.
func TestBuildWritesAddressesInALabels(t *testing.T) {
	t.Parallel()
	m := hostileMessage(workflow.Attachment{})
	m.Attachments = nil
	m.To = []string{"Bücher <info@Bücher.example>"}
	raw, err := build(t, m, memstore.New(), mailmime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hdr, _, err := testkit.ParseMIME(raw)
	if err != nil {
		t.Fatal(err)
	}
	list, err := hdr.AddressList("To")
	if err != nil || len(list) != 1 || list[0].Address != "info@xn--bcher-kva.example" || list[0].Name != "Bücher" {
		t.Fatalf("To = %v, %v", list, err)
	}
	for i, c := range raw[:strings.Index(string(raw), "\r\n\r\n")] {
		if c >= 0x80 {
			t.Fatalf("header byte %d is not ASCII:\n%s", i, raw)
		}
	}
}

// TestBuildNamesAFallbackFileSafely: without a file name the key's last
// segment names the file, its bidirectional formatting characters (which
// the store lets through, unlike control characters) replaced.
func TestBuildNamesAFallbackFileSafely(t *testing.T) {
	t.Parallel()
	src := memstore.New()
	put(t, src, "attachments/ab\u202ec\u2066.txt", []byte("x"))
	raw, err := build(t, hostileMessage(workflow.Attachment{Key: "attachments/ab\u202ec\u2066.txt"}), src, mailmime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, leaves, err := testkit.ParseMIME(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(leaves[len(leaves)-1].Header.Get("Content-Disposition"))
	if err != nil || params["filename"] != "ab_c_.txt" {
		t.Fatalf("filename %q, %v", params["filename"], err)
	}
}

// TestBuildFoldsLongHeaderValues: an extra header value at the contract's
// bound, without a space to fold at, still gives lines of at most 998.
func TestBuildFoldsLongHeaderValues(t *testing.T) {
	t.Parallel()
	m := hostileMessage(workflow.Attachment{})
	m.Attachments = nil
	m.Headers = map[string]string{"X-Long": strings.Repeat("a", workflow.MaxHeaderValue), "X-Long-Utf8": strings.Repeat("é", workflow.MaxHeaderValue/2)}
	raw, err := build(t, m, memstore.New(), mailmime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes", i, len(line))
		}
	}
	hdr, _, err := testkit.ParseMIME(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(hdr.Get("X-Long")), ""); got != m.Headers["X-Long"] {
		t.Fatalf("X-Long came back as %d bytes", len(got))
	}
}
