// Package mempacer is the in-process pacer.Bucket: the bucket's state in
// memory behind a mutex. It paces the sends of one process (the local
// runtime runs every task in one); for several processes on one machine use
// sqlitepacer, across Lambda instances dynamopacer.
package mempacer

import (
	"context"
	"sync"

	"github.com/mailflow/mailflow/pacer"
)

// Bucket is an in-memory token bucket. The zero value is an empty bucket
// that fills to its burst.
type Bucket struct {
	mu  sync.Mutex
	tat int64
}

var _ pacer.Bucket = (*Bucket)(nil)

// New returns an empty bucket.
func New() *Bucket { return &Bucket{} }

// Take implements pacer.Bucket.
func (b *Bucket) Take(_ context.Context, p pacer.TakeParams) (pacer.TakeResult, error) {
	if err := p.Validate(); err != nil {
		return pacer.TakeResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	next, r := pacer.GCRA(b.tat, p)
	b.tat = next
	return r, nil
}
