package local_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/store"
	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
	"github.com/mailflow/mailflow/workflow"
)

// stagingCounter counts the tasks' writes and reads under the staging
// prefix.
type stagingCounter struct {
	store.Store
	prefix string
	mu     sync.Mutex
	puts   []int64 // sizes written
	opens  int
}

func (s *stagingCounter) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if strings.HasPrefix(key, s.prefix) {
		s.mu.Lock()
		s.puts = append(s.puts, size)
		s.mu.Unlock()
	}
	return s.Store.Put(ctx, key, body, size)
}

func (s *stagingCounter) Open(ctx context.Context, key string) (io.ReadCloser, store.Info, error) {
	if strings.HasPrefix(key, s.prefix) {
		s.mu.Lock()
		s.opens++
		s.mu.Unlock()
	}
	return s.Store.Open(ctx, key)
}

func (s *stagingCounter) counts() ([]int64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.puts...), s.opens
}

// With an inline bound (the runtime stages every message by default, as
// its store records every state), a small mail travels inline from
// FetchAttachments to Send: nothing is written or read under the staging
// prefix. A mail with an attachment
// larger than the inline bound is staged once, read back once by Send, and
// sent whole.
func TestInlineAndStagedMessages(t *testing.T) {
	t.Parallel()
	sc := &stagingCounter{prefix: local.DefaultStagingPrefix}
	bound := fetchattachments.InlineLimit(workflow.DefaultMaxBodyBytes)
	rt, c, done := startWith(t, local.Config{InlineMaxBytes: bound}, local.Hooks{WrapStore: func(s store.Store) store.Store { sc.Store = s; return sc }})
	if rt.Config().StagingPrefix != local.DefaultStagingPrefix {
		t.Fatalf("staging prefix %q", rt.Config().StagingPrefix)
	}
	ctx := context.Background()

	if _, err := c.Send(ctx, client.Mail{MailID: "inline-small", To: []string{"ann@example.org"}, Subject: "Small", Text: "Hi Ann",
		Attachments: []client.Attachment{{Filename: "a.txt", ContentType: "text/plain", Content: []byte("attached")}}}); err != nil {
		t.Fatal(err)
	}
	items := waitItems(t, done, 1)
	if items[0].Outcome != workflow.OutcomeSent || items[0].MailID != "inline-small" {
		t.Fatalf("item %+v", items[0])
	}
	if puts, opens := sc.counts(); len(puts) != 0 || opens != 0 {
		t.Fatalf("a small mail wrote %d objects (%v bytes) and read %d under %q; want none", len(puts), puts, opens, sc.prefix)
	}
	eml := outboxFiles(t, rt)
	if len(eml) != 1 || !strings.Contains(string(eml[0]), "Subject: Small") || !strings.Contains(string(eml[0]), "Hi Ann") {
		t.Fatalf("outbox after the small mail: %d files", len(eml))
	}

	big := make([]byte, bound+10_000)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	if _, err := c.Send(ctx, client.Mail{MailID: "inline-large", To: []string{"bob@example.org"}, Subject: "Large", Text: "Hi Bob",
		Attachments: []client.Attachment{{Filename: "big.txt", ContentType: "application/octet-stream", Content: big}}}); err != nil {
		t.Fatal(err)
	}
	items = waitItems(t, done, 1)
	if items[0].Outcome != workflow.OutcomeSent || items[0].MailID != "inline-large" {
		t.Fatalf("item %+v", items[0])
	}
	puts, opens := sc.counts()
	if len(puts) != 1 || puts[0] <= bound || opens != 1 {
		t.Fatalf("a mail larger than the %d-byte bound wrote %v bytes and read %d times under %q; want one write over the bound and one read", bound, puts, opens, sc.prefix)
	}
	eml = outboxFiles(t, rt)
	var sent []byte
	for _, b := range eml {
		if strings.Contains(string(b), "Subject: Large") {
			sent = b
		}
	}
	// The outbox file is the staged message with the outbox's own headers.
	if int64(len(sent)) < puts[0] {
		t.Fatalf("the large mail in the outbox is %d bytes, less than the %d-byte staged message", len(sent), puts[0])
	}
}

func outboxFiles(t *testing.T, rt *local.Runtime) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(rt.OutboxDir(), "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// By default the runtime stages every message, small ones too.
func TestStagedByDefault(t *testing.T) {
	t.Parallel()
	sc := &stagingCounter{prefix: local.DefaultStagingPrefix}
	_, c, done := startWith(t, local.Config{}, local.Hooks{WrapStore: func(s store.Store) store.Store { sc.Store = s; return sc }})
	if _, err := c.Send(context.Background(), client.Mail{MailID: "staged-small", To: []string{"ann@example.org"}, Subject: "Small", Text: "Hi Ann"}); err != nil {
		t.Fatal(err)
	}
	if items := waitItems(t, done, 1); items[0].Outcome != workflow.OutcomeSent {
		t.Fatalf("item %+v", items[0])
	}
	if puts, opens := sc.counts(); len(puts) != 1 || opens != 1 {
		t.Fatalf("%d staging writes and %d reads, want 1 and 1", len(puts), opens)
	}
}
