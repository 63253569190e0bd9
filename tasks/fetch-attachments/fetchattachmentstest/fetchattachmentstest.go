// Package fetchattachmentstest holds the fetch-attachments handler's
// scenarios, run by the handler's own tests over the in-memory store and by
// test/awstasks over S3 (gofakes3): one set of assertions, two stores.
package fetchattachmentstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"os"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/store"
	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

func put(t *testing.T, s store.Store, key string, b []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

// Run runs the scenarios on st; proxy's faults fail st's next calls, and
// forbid makes a key answer AccessDenied.
func Run(t *testing.T, st store.Store, proxy testkit.Faults, forbid func(key string)) {
	ctx := context.Background()
	pdf := make([]byte, 300_000)
	_, _ = rand.Read(pdf)
	put(t, st, "attachments/o1/receipt.pdf", pdf)
	put(t, st, "attachments/o1/body.html", []byte("<p>Grüße</p>"))
	put(t, st, "attachments/o1/forbidden.pdf", []byte("secret"))
	forbid("attachments/o1/forbidden.pdf")

	newHandler := func(t *testing.T, max int64) *fetchattachments.Handler {
		h, err := fetchattachments.New(fetchattachments.Config{Limits: tasktest.Limits, StagingPrefix: tasktest.StagingPrefix, MaxBytes: max, TempDir: t.TempDir()},
			fetchattachments.Deps{Store: st, Clock: tasktest.NewClock(), Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	withAttachment := func(key string) func(map[string]any) {
		return func(m map[string]any) {
			m["attachments"] = []map[string]any{{"key": key, "filename": "Rechnung.pdf", "contentType": "application/pdf"}}
		}
	}

	t.Run("BuildsAndStages", func(t *testing.T) {
		h := newHandler(t, 0)
		body := tasktest.Body(t, "o1", func(m map[string]any) {
			withAttachment("attachments/o1/receipt.pdf")(m)
			m["htmlKey"] = "attachments/o1/body.html"
			m["subject"] = "Ihre Rechnung — März"
		})
		out, err := h.Handle(ctx, fetchattachments.In{MessageID: "msg-1", Body: body, MailID: "o1", Owner: "exec-1/msg-1"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.Key, tasktest.StagingPrefix) || !strings.HasSuffix(out.Key, ".eml") {
			t.Fatalf("staged key %q", out.Key)
		}
		rc, info, err := st.Open(ctx, out.Key)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(rc)
		rc.Close()
		sum := sha256.Sum256(raw)
		if info.Size != out.Size || int64(len(raw)) != out.Size || hex.EncodeToString(sum[:]) != out.SHA256 {
			t.Fatalf("staged object: %d bytes (said %d), sha %s (said %s)", len(raw), out.Size, hex.EncodeToString(sum[:]), out.SHA256)
		}
		hdr, leaves, err := testkit.ParseMIME(raw)
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := new(mime.WordDecoder).DecodeHeader(hdr.Get("Subject")); s != "Ihre Rechnung — März" {
			t.Errorf("subject %q", s)
		}
		var gotPDF, gotHTML bool
		for _, l := range leaves {
			switch l.MediaType() {
			case "application/pdf":
				_, params, _ := mime.ParseMediaType(l.Header.Get("Content-Disposition"))
				gotPDF = params["filename"] == "Rechnung.pdf" && bytes.Equal(l.Body, pdf)
			case "text/html":
				gotHTML = string(l.Body) == "<p>Grüße</p>"
			}
		}
		if !gotPDF || !gotHTML {
			t.Fatalf("attachment intact %v, offloaded html intact %v", gotPDF, gotHTML)
		}
		// A retry of the same attempt overwrites the same object (the MIME
		// boundaries are random, so only the key and size are the same).
		again, err := h.Handle(ctx, fetchattachments.In{MessageID: "msg-1", Body: body, MailID: "o1", Owner: "exec-1/msg-1"})
		if err != nil || again.Key != out.Key || again.Size != out.Size {
			t.Fatalf("retry = %+v, %v; want %+v", again, err, out)
		}
	})

	cases := []struct {
		name   string
		change func(map[string]any)
		mailID string
		max    int64
		want   workflow.ErrorName
	}{
		{"missing", withAttachment("attachments/o1/nope.pdf"), "", 0, workflow.AttachmentMissing},
		{"missing body", func(m map[string]any) { delete(m, "text"); m["textKey"] = "attachments/o1/nope.txt" }, "", 0, workflow.AttachmentMissing},
		{"forbidden", withAttachment("attachments/o1/forbidden.pdf"), "", 0, workflow.AttachmentForbidden},
		{"outside the prefix", withAttachment("staging/other.eml"), "", 0, workflow.AttachmentForbidden},
		{"traversal", withAttachment("attachments/../staging/x.eml"), "", 0, workflow.AttachmentForbidden},
		{"absolute", withAttachment("/attachments/o1/receipt.pdf"), "", 0, workflow.AttachmentForbidden},
		{"other bucket", withAttachment("s3://other-bucket/attachments/x"), "", 0, workflow.AttachmentForbidden},
		{"too large", withAttachment("attachments/o1/receipt.pdf"), "", 200_000, workflow.TooLarge},
		{"mailId mismatch", nil, "another-mail", 0, workflow.InvalidMessage},
		{"header injection", func(m map[string]any) { m["headers"] = map[string]string{"X-A": "1\nBcc: v@example.net"} }, "", 0, workflow.InvalidMessage},
		{"filename injection", func(m map[string]any) {
			m["attachments"] = []map[string]any{{"key": "attachments/o1/receipt.pdf", "filename": "a.pdf\r\nBcc: v@example.net"}}
		}, "", 0, workflow.InvalidMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHandler(t, c.max)
			mailID := c.mailID
			if mailID == "" {
				mailID = "o1"
			}
			_, err := h.Handle(ctx, fetchattachments.In{MessageID: "m", Body: tasktest.Body(t, "o1", c.change), MailID: mailID, Owner: "exec/m"})
			if got := workflow.NameOf(err); got != c.want {
				t.Fatalf("error %v named %q, want %q", err, got, c.want)
			}
		})
	}

	t.Run("TemporaryFilesOnlyForLargeMessages", func(t *testing.T) {
		dir := t.TempDir()
		h, err := fetchattachments.New(fetchattachments.Config{Limits: tasktest.Limits, StagingPrefix: tasktest.StagingPrefix, TempDir: dir},
			fetchattachments.Deps{Store: st, Clock: tasktest.NewClock(), Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		for i, mod := range []func(map[string]any){nil, withAttachment("attachments/o1/receipt.pdf")} {
			mailID := fmt.Sprintf("tmp-%d", i)
			out, err := h.Handle(ctx, fetchattachments.In{MessageID: "m", Body: tasktest.Body(t, mailID, mod), MailID: mailID, Owner: "exec/m"})
			if err != nil {
				t.Fatal(err)
			}
			raw := messageOf(t, st, out)
			if sum := sha256.Sum256(raw); int64(len(raw)) != out.Size || hex.EncodeToString(sum[:]) != out.SHA256 {
				t.Fatalf("mail %d: message does not match its size and hash", i)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("mail %d: temporary files left behind: %v", i, left)
			}
		}
	})

	// A small message comes back inline and nothing is written; one over
	// the bound is staged; the bound itself is inclusive.
	t.Run("InlineBound", func(t *testing.T) {
		rec := &countingStore{Store: st}
		withBound := func(t *testing.T, bound int64) *fetchattachments.Handler {
			h, err := fetchattachments.New(fetchattachments.Config{Limits: tasktest.Limits, StagingPrefix: tasktest.StagingPrefix, TempDir: t.TempDir(), InlineMaxBytes: bound},
				fetchattachments.Deps{Store: rec, Clock: tasktest.NewClock(), Log: quiet})
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		in := fetchattachments.In{MessageID: "m", Body: tasktest.Body(t, "inl-1", nil), MailID: "inl-1", Owner: "exec/m"}
		small, err := withBound(t, 0).Handle(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if small.Inline == "" || small.Key != "" || rec.puts != 0 {
			t.Fatalf("small mail: key %q, inline %d chars, %d puts; want inline and no put", small.Key, len(small.Inline), rec.puts)
		}
		raw := messageOf(t, st, small)
		if sum := sha256.Sum256(raw); int64(len(raw)) != small.Size || hex.EncodeToString(sum[:]) != small.SHA256 {
			t.Fatal("inline message does not match its size and hash")
		}
		n := small.Size
		if at, err := withBound(t, n).Handle(ctx, in); err != nil || at.Inline == "" || rec.puts != 0 {
			t.Fatalf("at the bound %d: %+v, %v, %d puts; want inline", n, at.Key, err, rec.puts)
		}
		over, err := withBound(t, n-1).Handle(ctx, in)
		if err != nil || over.Inline != "" || !strings.HasPrefix(over.Key, tasktest.StagingPrefix) || rec.puts != 1 {
			t.Fatalf("one byte over the bound: key %q inline %d chars, %v, %d puts; want staged", over.Key, len(over.Inline), err, rec.puts)
		}
		if over.SHA256 != small.SHA256 || over.Size != n {
			t.Fatalf("staged %d/%s, inline %d/%s: the same mail built twice differs", over.Size, over.SHA256, n, small.SHA256)
		}
		if never, err := withBound(t, -1).Handle(ctx, in); err != nil || never.Key == "" || never.Inline != "" {
			t.Fatalf("inlining off: %+v, %v; want staged", never.Key, err)
		}
		// The attachment makes the message larger than the default bound.
		big, err := withBound(t, 0).Handle(ctx, fetchattachments.In{MessageID: "m", Body: tasktest.Body(t, "inl-2", withAttachment("attachments/o1/receipt.pdf")), MailID: "inl-2", Owner: "exec/m"})
		if err != nil || big.Key == "" || big.Inline != "" || big.Size <= fetchattachments.DefaultInlineMaxBytes {
			t.Fatalf("large mail: key %q inline %d chars size %d, %v; want staged", big.Key, len(big.Inline), big.Size, err)
		}
	})

	t.Run("StoreUnavailable", func(t *testing.T) {
		h := newHandler(t, 0)
		proxy.Arm(testkit.Fault{Status: 503, Body: "<Error><Code>SlowDown</Code></Error>"})
		_, err := h.Handle(ctx, fetchattachments.In{MessageID: "m", Body: tasktest.Body(t, "o1", withAttachment("attachments/o1/receipt.pdf")), MailID: "o1", Owner: "e/m"})
		if workflow.NameOf(err) != workflow.Transient {
			t.Fatalf("503 = %v, want %s", err, workflow.Transient)
		}
	})
}

// messageOf is the raw message an output carries inline or names.
func messageOf(t *testing.T, st store.Store, out fetchattachments.Out) []byte {
	t.Helper()
	if out.Inline != "" {
		raw, err := base64.StdEncoding.DecodeString(out.Inline)
		if err != nil {
			t.Fatalf("inline: %v", err)
		}
		return raw
	}
	rc, _, err := st.Open(context.Background(), out.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// countingStore counts the objects written through it.
type countingStore struct {
	store.Store
	puts int
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	c.puts++
	return c.Store.Put(ctx, key, r, size)
}
