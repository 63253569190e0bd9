package tierstore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/store/memstore"
	"github.com/mailflow/mailflow/store/storetest"
	"github.com/mailflow/mailflow/store/tierstore"
)

type tiered struct {
	*tierstore.Store
	next *memstore.Store
}

// TestConformance runs the store suite three ways: everything in memory,
// nothing fitting in memory (all in the next store), and a memory tier
// for one prefix only.
func TestConformance(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]tierstore.Config{
		"memory":      {},
		"spill":       {MaxObject: 1, MaxBytes: 1},
		"prefix only": {Prefix: "staging/"},
	} {
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, storetest.Harness{
				NewStore: func(t *testing.T) store.Store {
					next := memstore.New()
					s, err := tierstore.New(next, cfg)
					if err != nil {
						t.Fatal(err)
					}
					return tiered{s, next}
				},
				Forbid: func(t *testing.T, s store.Store, key string) {
					tr := s.(tiered)
					// Denial is the next store's: move the object there.
					rc, info, err := tr.Open(context.Background(), key)
					if err == nil {
						var buf bytes.Buffer
						buf.ReadFrom(rc)
						rc.Close()
						tr.Delete(context.Background(), key)
						tr.next.Put(context.Background(), key, bytes.NewReader(buf.Bytes()), info.Size)
					}
					tr.next.Forbid(key)
				},
			})
		})
	}
}

func TestExpiryAndCapacity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clock.NewVirtual(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	next := memstore.New()
	s, err := tierstore.New(next, tierstore.Config{Prefix: "staging/", MaxBytes: 10, TTL: time.Minute, Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	put := func(key, data string) {
		t.Helper()
		if err := s.Put(ctx, key, bytes.NewReader([]byte(data)), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	put("staging/a", "123456")
	put("staging/b", "7890") // fills the 10 bytes
	put("staging/c", "x")    // no room: goes to the next store
	if _, err := next.Stat(ctx, "staging/a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a memory object reached the next store")
	}
	if info, err := next.Stat(ctx, "staging/c"); err != nil || info.Size != 1 {
		t.Fatalf("overflow not in the next store: %v", err)
	}
	put("other/d", "y") // outside the prefix: next store
	if _, err := next.Stat(ctx, "other/d"); err != nil {
		t.Fatal(err)
	}
	if s.MemoryBytes() != 10 {
		t.Fatalf("memory holds %d bytes, want 10", s.MemoryBytes())
	}
	c.Advance(30 * time.Second)
	put("staging/a", "12") // replaced: the older version's expiry no longer applies
	c.Advance(40 * time.Second)
	if _, err := s.Stat(ctx, "staging/b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("staging/b after its TTL: %v", err)
	}
	if info, err := s.Stat(ctx, "staging/a"); err != nil || info.Size != 2 {
		t.Fatalf("replaced staging/a: %+v %v", info, err)
	}
	// Memory has room again: a put over c moves it up and removes the copy
	// below, so its expiry cannot uncover the old one.
	put("staging/c", "zz")
	if _, err := next.Stat(ctx, "staging/c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("the older copy of staging/c is still in the next store")
	}
	c.Advance(2 * time.Minute)
	if _, err := s.Stat(ctx, "staging/c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("staging/c after its TTL: %v", err)
	}
	if s.MemoryBytes() != 0 {
		t.Fatalf("memory holds %d bytes after every TTL", s.MemoryBytes())
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := tierstore.New(nil, tierstore.Config{}); err == nil {
		t.Error("nil next store accepted")
	}
	if _, err := tierstore.New(memstore.New(), tierstore.Config{TTL: -1}); err == nil {
		t.Error("negative TTL accepted")
	}
}
