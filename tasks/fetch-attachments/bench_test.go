package fetchattachments_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"runtime"
	"testing"

	"github.com/mailflow/mailflow/store/memstore"
	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

// attachmentSize is the benchmark's attachment: 30 MB, which encodes to
// about 41 MB, just under the 40 MiB message limit.
const attachmentSize = 30_000_000

// hashingStore serves attachments from memory without copying and hashes
// uploads instead of keeping them, so allocations measured are the
// handler's own, not the backend's.
type hashingStore struct{ *memstore.Store }

func (hashingStore) Put(_ context.Context, _ string, body io.Reader, size int64) error {
	h := sha256.New()
	_, err := io.CopyN(h, body, size)
	return err
}

func fetchSetup(tb testing.TB) (*fetchattachments.Handler, fetchattachments.In) {
	src := memstore.New()
	att := make([]byte, attachmentSize)
	_, _ = rand.Read(att)
	if err := src.Put(context.Background(), "attachments/big.bin", bytes.NewReader(att), int64(len(att))); err != nil {
		tb.Fatal(err)
	}
	h, err := fetchattachments.New(
		fetchattachments.Config{Limits: tasktest.Limits, StagingPrefix: tasktest.StagingPrefix, TempDir: tb.TempDir()},
		fetchattachments.Deps{Store: hashingStore{src}, Log: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	body := tasktest.Body(tb, "big", func(m map[string]any) {
		m["attachments"] = []map[string]any{{"key": "attachments/big.bin", "filename": "big.bin"}}
	})
	return h, fetchattachments.In{MessageID: "m", Body: body, MailID: "big", Owner: "exec/m"}
}

// BenchmarkFetch30MB builds and stages a mail with a 30 MB attachment; B/op
// is the bytes the handler allocates per mail.
func BenchmarkFetch30MB(b *testing.B) {
	h, in := fetchSetup(b)
	b.ReportAllocs()
	b.SetBytes(attachmentSize)
	for b.Loop() {
		if _, err := h.Handle(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFetchMemory holds the handler to its promise: building a mail with a
// 30 MB attachment allocates far less than one copy of the attachment (a
// few MB; the race detector adds some).
func TestFetchMemory(t *testing.T) {
	h, in := fetchSetup(t)
	ctx := context.Background()
	if _, err := h.Handle(ctx, in); err != nil { // warm up lazily built state
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := h.Handle(ctx, in)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d-byte message with a %d-byte attachment: %d bytes allocated", out.Size, attachmentSize, allocated)
	if allocated > attachmentSize/2 {
		t.Fatalf("allocated %d bytes, more than half the attachment", allocated)
	}
}
