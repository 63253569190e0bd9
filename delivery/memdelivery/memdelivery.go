// Package memdelivery is an in-memory delivery.Store, for handler tests
// and single-process use.
package memdelivery

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/mailflow/mailflow/delivery"
)

// Store is safe for concurrent use.
type Store struct {
	mu    sync.Mutex
	mails map[string]delivery.Mail
}

var _ delivery.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store { return &Store{mails: map[string]delivery.Mail{}} }

// Apply merges the events under the store's lock.
func (s *Store) Apply(_ context.Context, p delivery.ApplyParams) (delivery.Mail, []delivery.Event, error) {
	if err := p.Validate(); err != nil {
		return delivery.Mail{}, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur *delivery.Mail
	if m, ok := s.mails[p.MailID]; ok {
		cur = &m
	}
	next, applied := delivery.Merge(cur, p)
	if len(applied) == 0 && cur != nil && !next.ExpiresAt.After(cur.ExpiresAt) {
		return clone(*cur), nil, nil
	}
	next.Version++
	next.UpdatedAt = p.Now
	s.mails[p.MailID] = next
	return clone(next), applied, nil
}

// Get returns a copy of the record.
func (s *Store) Get(_ context.Context, mailID string, now time.Time) (delivery.Mail, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mails[mailID]
	if !ok || !now.Before(m.ExpiresAt) {
		return delivery.Mail{}, false, nil
	}
	return clone(m), true, nil
}

func clone(m delivery.Mail) delivery.Mail {
	m.Recipients = slices.Clone(m.Recipients)
	m.History = slices.Clone(m.History)
	return m
}
