// Package memdelivery is an in-memory delivery.Store, for handler tests
// and single-process use.
package memdelivery

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailflow/mailflow/delivery"
)

// Store is safe for concurrent use.
type Store struct {
	mu    sync.Mutex
	mails map[string]delivery.Mail
}

var (
	_ delivery.Store           = (*Store)(nil)
	_ delivery.DeadLetterIndex = (*Store)(nil)
)

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

// DeadLettered implements [delivery.DeadLetterIndex] by sorting the
// entries on every call: the store is small by nature.
func (s *Store) DeadLettered(_ context.Context, p delivery.DeadLetterPageParams) ([]delivery.Mail, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	var out []delivery.Mail
	for id, m := range s.mails {
		if m.DeadLetter != nil && p.Now.Before(m.ExpiresAt) && m.DeadLetter.Key(id) > p.After {
			out = append(out, clone(m))
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return strings.Compare(out[i].DeadLetter.Key(out[i].MailID), out[j].DeadLetter.Key(out[j].MailID)) < 0
	})
	next := ""
	if len(out) > p.Limit {
		out = out[:p.Limit]
		last := out[len(out)-1]
		next = last.DeadLetter.Key(last.MailID)
	}
	return out, next, nil
}

// ForgetDeadLetter implements [delivery.DeadLetterIndex].
func (s *Store) ForgetDeadLetter(ctx context.Context, mailID string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return delivery.ForgetWith(ctx, mailID, now, func(_ context.Context, id string) (*delivery.Mail, error) {
		m, ok := s.mails[id]
		if !ok {
			return nil, nil
		}
		m = clone(m)
		return &m, nil
	}, func(_ context.Context, next delivery.Mail, _ int64) error {
		s.mails[next.MailID] = next
		return nil
	})
}

func clone(m delivery.Mail) delivery.Mail {
	m.Recipients = slices.Clone(m.Recipients)
	m.History = slices.Clone(m.History)
	if m.DeadLetter != nil {
		d := *m.DeadLetter
		d.Recipients = slices.Clone(d.Recipients)
		m.DeadLetter = &d
	}
	return m
}
