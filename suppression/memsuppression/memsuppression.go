// Package memsuppression is an in-memory suppression.List, for handler
// tests and single-process use.
package memsuppression

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/mailflow/mailflow/suppression"
)

// List is safe for concurrent use.
type List struct {
	mu      sync.Mutex
	entries map[string]suppression.Entry
}

var _ suppression.List = (*List)(nil)

// New returns an empty list.
func New() *List { return &List{entries: map[string]suppression.Entry{}} }

// Lookup returns the listed entries among addresses, in their order.
func (l *List) Lookup(_ context.Context, addresses []string) ([]suppression.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []suppression.Entry
	for _, a := range addresses {
		if e, ok := l.entries[a]; ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// Put adds or replaces an entry.
func (l *List) Put(_ context.Context, e suppression.Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries[e.Address] = e
	return nil
}

// Delete removes an address.
func (l *List) Delete(_ context.Context, address string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.entries[address]
	delete(l.entries, address)
	return ok, nil
}

// List pages in address order.
func (l *List) List(_ context.Context, p suppression.ListParams) ([]suppression.Entry, string, error) {
	if err := p.Validate(); err != nil {
		return nil, "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var addrs []string
	for a := range l.entries {
		if a > p.After {
			addrs = append(addrs, a)
		}
	}
	slices.SortFunc(addrs, strings.Compare)
	next := ""
	if len(addrs) > p.Limit {
		addrs = addrs[:p.Limit]
		next = addrs[len(addrs)-1]
	}
	out := make([]suppression.Entry, len(addrs))
	for i, a := range addrs {
		out[i] = l.entries[a]
	}
	return out, next, nil
}
