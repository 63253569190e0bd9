// Package memstore is an in-memory [store.Store] for tests and embedded use.
// Objects are immutable byte slices: Open hands out a reader over the stored
// slice without copying, Put copies the body once.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/mailflow/mailflow/store"
)

// Store is an in-memory object store. The zero value is not usable; call New.
type Store struct {
	mu        sync.RWMutex
	objects   map[string][]byte
	forbidden map[string]bool
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{objects: map[string][]byte{}, forbidden: map[string]bool{}}
}

// Forbid makes reads of key fail with store.ErrForbidden.
func (s *Store) Forbid(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidden[key] = true
}

// Bytes returns the stored object (not a copy) and whether it exists.
func (s *Store) Bytes(key string) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.objects[key]
	return b, ok
}

func (s *Store) lookup(ctx context.Context, key string) ([]byte, error) {
	if err := store.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.forbidden[key] {
		return nil, fmt.Errorf("memstore: %q: %w", key, store.ErrForbidden)
	}
	b, ok := s.objects[key]
	if !ok {
		return nil, fmt.Errorf("memstore: %q: %w", key, store.ErrNotFound)
	}
	return b, nil
}

// Stat implements [store.Store].
func (s *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	b, err := s.lookup(ctx, key)
	return store.Info{Size: int64(len(b))}, err
}

// Open implements [store.Store].
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, store.Info, error) {
	b, err := s.lookup(ctx, key)
	if err != nil {
		return nil, store.Info{}, err
	}
	return io.NopCloser(bytes.NewReader(b)), store.Info{Size: int64(len(b))}, nil
}

// Put implements [store.Store].
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("memstore: put %q: negative size", key)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(body, b); err != nil {
		return fmt.Errorf("memstore: put %q: body shorter than %d bytes: %w", key, size, err)
	}
	if n, _ := body.Read(make([]byte, 1)); n > 0 {
		return fmt.Errorf("memstore: put %q: body longer than %d bytes", key, size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = b
	return nil
}

// Delete implements [store.Store].
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	return nil
}
