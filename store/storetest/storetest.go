// Package storetest is the conformance suite every [store.Store] adapter must
// pass: round trips of binary and multi-megabyte objects, streaming reads,
// missing and forbidden objects, and keys that try to escape the store.
// A backend that cannot hold S3's longest keys says so in
// Harness.MaxKeyBytes; the suite reports what it then leaves out.
//
// An adapter's conformance test:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			NewStore: func(t *testing.T) store.Store { return newStoreInTempDir(t) },
//			Forbid:   func(t *testing.T, s store.Store, key string) { /* make key unreadable */ },
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/store"
)

// Harness adapts one backend to the suite.
type Harness struct {
	// NewStore returns an empty store for one test; it registers its own
	// cleanup with t.Cleanup.
	NewStore func(t *testing.T) store.Store
	// Forbid makes the backend deny access to key in s (an S3 403, an
	// unreadable file), so the suite can check the error mapping.
	Forbid func(t *testing.T, s store.Store, key string)
	// MaxKeyBytes is the longest key the backend can store, 0 for S3's 1024
	// bytes. The suite stores a key of that length and reports the longer
	// one it stores otherwise as skipped with the reason.
	MaxKeyBytes int
}

func put(t *testing.T, s store.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func read(t *testing.T, s store.Store, key string) []byte {
	t.Helper()
	rc, info, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	if info.Size != int64(len(b)) {
		t.Fatalf("Open(%q) said size %d, read %d bytes", key, info.Size, len(b))
	}
	return b
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := h.NewStore(t)
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		big := make([]byte, 5<<20+3)
		_, _ = rand.Read(big)
		cases := map[string][]byte{
			"attachments/a.bin":              all,
			"attachments/big/file.bin":       big,
			"attachments/ä ö/report (1).pdf": []byte("%PDF-1.7\n"),
			"attachments/x/y:z@w+1=2&3.txt":  []byte("odd characters"),
			"staging/0123/attempt.eml":       []byte("Subject: hi\r\n\r\nbody\r\n"),
			"attachments/empty":              {},
		}
		for key, data := range cases {
			put(t, s, key, data)
		}
		for key, data := range cases {
			if got := read(t, s, key); !bytes.Equal(got, data) {
				t.Errorf("%q: read %d bytes that differ from the %d written", key, len(got), len(data))
			}
			info, err := s.Stat(ctx, key)
			if err != nil || info.Size != int64(len(data)) {
				t.Errorf("Stat(%q) = %+v, %v; want size %d", key, info, err, len(data))
			}
		}
	})

	t.Run("LongKey", func(t *testing.T) {
		const prefix = "attachments/"
		n := 900
		if h.MaxKeyBytes > 0 {
			n = min(n, h.MaxKeyBytes-len(prefix))
		}
		s := h.NewStore(t)
		key := prefix + strings.Repeat("k", n)
		put(t, s, key, []byte("long key"))
		if got := read(t, s, key); string(got) != "long key" {
			t.Errorf("%d-byte key: read %q", len(key), got)
		}
		if n < 900 {
			t.Logf("checked up to the backend's %d bytes (Harness.MaxKeyBytes), not %d", h.MaxKeyBytes, len(prefix)+900)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s := h.NewStore(t)
		put(t, s, "attachments/a", []byte("first version, longer"))
		put(t, s, "attachments/a", []byte("second"))
		if got := read(t, s, "attachments/a"); string(got) != "second" {
			t.Fatalf("read %q after overwrite", got)
		}
	})

	t.Run("PartialReadAndClose", func(t *testing.T) {
		s := h.NewStore(t)
		data := bytes.Repeat([]byte("0123456789"), 100000)
		put(t, s, "attachments/p", data)
		rc, _, err := s.Open(ctx, "attachments/p")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, err := io.ReadFull(rc, buf); err != nil || string(buf) != "0123456789" {
			t.Fatalf("first bytes %q, %v", buf, err)
		}
		if err := rc.Close(); err != nil {
			t.Fatalf("close after a partial read: %v", err)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		s := h.NewStore(t)
		if _, _, err := s.Open(ctx, "attachments/nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Open of a missing object: %v, want ErrNotFound", err)
		}
		if _, err := s.Stat(ctx, "attachments/nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Stat of a missing object: %v, want ErrNotFound", err)
		}
	})

	t.Run("Forbidden", func(t *testing.T) {
		s := h.NewStore(t)
		put(t, s, "attachments/secret.pdf", []byte("secret"))
		h.Forbid(t, s, "attachments/secret.pdf")
		if _, _, err := s.Open(ctx, "attachments/secret.pdf"); !errors.Is(err, store.ErrForbidden) {
			t.Errorf("Open of a forbidden object: %v, want ErrForbidden", err)
		}
		if _, err := s.Stat(ctx, "attachments/secret.pdf"); !errors.Is(err, store.ErrForbidden) && !errors.Is(err, store.ErrNotFound) {
			// S3 answers HEAD without a body, so a denied HEAD may only be
			// told apart by its status; both mappings keep the object unread.
			t.Errorf("Stat of a forbidden object: %v", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := h.NewStore(t)
		put(t, s, "staging/x.eml", []byte("x"))
		if err := s.Delete(ctx, "staging/x.eml"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Open(ctx, "staging/x.eml"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Open after delete: %v", err)
		}
		if err := s.Delete(ctx, "staging/x.eml"); err != nil {
			t.Fatalf("deleting a missing object: %v", err)
		}
	})

	t.Run("SizeMismatch", func(t *testing.T) {
		s := h.NewStore(t)
		if err := s.Put(ctx, "attachments/short", bytes.NewReader([]byte("abc")), 10); err == nil {
			t.Fatal("Put with a body shorter than size succeeded")
		}
		if _, _, err := s.Open(ctx, "attachments/short"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a failed Put left an object: %v", err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		s := h.NewStore(t)
		put(t, s, "attachments/ok", []byte("ok"))
		for _, key := range []string{
			"", "/attachments/ok", "attachments/../attachments/ok", "../etc/passwd", "attachments/./ok",
			"attachments//ok", "attachments/ok\x00", "attachments/ok\r\nX: y", `attachments\..\ok`,
			"attachments/" + strings.Repeat("k", store.MaxKeyLength),
		} {
			if _, _, err := s.Open(ctx, key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Open(%q): %v, want ErrInvalidKey", key, err)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Stat(%q): %v, want ErrInvalidKey", key, err)
			}
			if err := s.Put(ctx, key, strings.NewReader("x"), 1); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Put(%q): %v, want ErrInvalidKey", key, err)
			}
			if err := s.Delete(ctx, key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Delete(%q): %v, want ErrInvalidKey", key, err)
			}
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		s := h.NewStore(t)
		put(t, s, "attachments/c", []byte("c"))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := s.Open(cctx, "attachments/c"); err == nil {
			t.Fatal("Open with a canceled context succeeded")
		}
	})
}
