// Package tierstore keeps short-lived objects in memory in front of another
// store.Store. The local runtime puts its staging prefix here: a staged
// message lives from FetchAttachments to Send (seconds; at most an Express
// execution's 5 minutes), so writing it into the on-disk bucket (a
// directory, a file and a metadata file per message) was the largest cost
// per mail left in the local pipeline.
//
// Rules:
//   - Keys under Prefix are put in memory while the memory tier holds less
//     than MaxBytes and the object is at most MaxObject bytes; anything else
//     goes to the next store, as before.
//   - An object in memory lives for TTL after its Put (default 15 minutes,
//     beyond the Express limit and the lock lease), then disappears, as a
//     lifecycle rule expires staging on AWS. A Send that finds its staged
//     message gone (after a restart, or beyond the TTL) fails with
//     Mail.Transient and the redelivered message is built again: the design
//     already handles a missing staged object.
//   - Reads look in memory first, then in the next store; Delete removes
//     both. A Put to memory over a key the next store holds removes that
//     copy, so an expired memory object never uncovers a stale one.
//
// Memory objects are invisible to S3 clients of the local endpoint; staged
// messages are an internal detail (the outbox holds what was delivered).
package tierstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/store"
)

// Config sets up the memory tier.
type Config struct {
	Prefix    string        // keys kept in memory; "" keeps every key
	MaxBytes  int64         // memory tier capacity (default 256 MiB)
	MaxObject int64         // largest object kept in memory (default 1 MiB)
	TTL       time.Duration // default 15 minutes
	Clock     clock.Clock   // default clock.Wall
}

type entry struct {
	data []byte
	at   time.Time
	seq  uint64
}

type queued struct {
	key string
	seq uint64
}

// Store is a memory tier over next.
type Store struct {
	next store.Store
	cfg  Config

	mu    sync.Mutex
	mem   map[string]entry
	order []queued // puts in order, for expiry
	seq   uint64
	bytes int64
	// below holds keys under Prefix that went to the next store, so a
	// later memory Put knows to remove that copy.
	below map[string]bool
}

var _ store.Store = (*Store)(nil)

// New returns the tiered store.
func New(next store.Store, cfg Config) (*Store, error) {
	if next == nil {
		return nil, errors.New("tierstore: nil next store")
	}
	if cfg.MaxBytes < 0 || cfg.MaxObject < 0 || cfg.TTL < 0 {
		return nil, errors.New("tierstore: negative limit")
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 256 << 20
	}
	if cfg.MaxObject == 0 {
		cfg.MaxObject = 1 << 20
	}
	if cfg.TTL == 0 {
		cfg.TTL = 15 * time.Minute
	}
	cfg.Clock = clock.Or(cfg.Clock)
	return &Store{next: next, cfg: cfg, mem: map[string]entry{}, below: map[string]bool{}}, nil
}

// expire drops objects older than the TTL; callers hold mu.
func (s *Store) expire(now time.Time) {
	i := 0
	for ; i < len(s.order); i++ {
		q := s.order[i]
		e, ok := s.mem[q.key]
		if !ok || e.seq != q.seq {
			continue // replaced or deleted since
		}
		if now.Sub(e.at) < s.cfg.TTL {
			break
		}
		delete(s.mem, q.key)
		s.bytes -= int64(len(e.data))
	}
	s.order = s.order[i:]
}

func (s *Store) lookup(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.cfg.Clock.Now())
	e, ok := s.mem[key]
	return e.data, ok
}

// Stat implements [store.Store].
func (s *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.Info{}, err
	}
	if data, ok := s.lookup(key); ok {
		return store.Info{Size: int64(len(data))}, nil
	}
	return s.next.Stat(ctx, key)
}

// Open implements [store.Store].
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, store.Info, error) {
	if err := store.ValidateKey(key); err != nil {
		return nil, store.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, store.Info{}, err
	}
	if data, ok := s.lookup(key); ok {
		return io.NopCloser(bytes.NewReader(data)), store.Info{Size: int64(len(data))}, nil
	}
	return s.next.Open(ctx, key)
}

// Put implements [store.Store].
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("tierstore: put %q: negative size %d", key, size)
	}
	if !strings.HasPrefix(key, s.cfg.Prefix) || size > s.cfg.MaxObject || !s.room(size) {
		s.mu.Lock()
		s.drop(key)
		if strings.HasPrefix(key, s.cfg.Prefix) {
			s.below[key] = true
		}
		s.mu.Unlock()
		return s.next.Put(ctx, key, body, size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(body, data); err != nil {
		return fmt.Errorf("tierstore: put %q: the body is shorter than %d bytes: %w", key, size, err)
	}
	if n, _ := body.Read(make([]byte, 1)); n > 0 {
		return fmt.Errorf("tierstore: put %q: the body is longer than %d bytes", key, size)
	}
	s.mu.Lock()
	wasBelow := s.below[key]
	delete(s.below, key)
	s.drop(key)
	s.seq++
	s.mem[key] = entry{data: data, at: s.cfg.Clock.Now(), seq: s.seq}
	s.order = append(s.order, queued{key, s.seq})
	s.bytes += size
	s.mu.Unlock()
	if wasBelow {
		if err := s.next.Delete(ctx, key); err != nil {
			return fmt.Errorf("tierstore: put %q: removing the older copy: %w", key, err)
		}
	}
	return nil
}

// room reports whether size more bytes fit in memory.
func (s *Store) room(size int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.cfg.Clock.Now())
	return s.bytes+size <= s.cfg.MaxBytes
}

// drop removes key from memory; callers hold mu. Its place in order stays
// until expiry passes it (expire skips entries replaced or deleted).
func (s *Store) drop(key string) {
	if e, ok := s.mem[key]; ok {
		delete(s.mem, key)
		s.bytes -= int64(len(e.data))
	}
}

// Delete implements [store.Store].
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	s.drop(key)
	delete(s.below, key)
	s.mu.Unlock()
	// The next store may hold a copy (put there when memory was full, or
	// by an earlier run).
	return s.next.Delete(ctx, key)
}

// MemoryBytes is what the memory tier holds now.
func (s *Store) MemoryBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(s.cfg.Clock.Now())
	return s.bytes
}
