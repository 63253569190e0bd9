package sqsstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflow/mailflow/local/sqsstore"
)

// A receive whose context is cancelled at any moment leaves no transaction
// open behind it: the next call on the store still works.
func TestCancelledReceiveLeavesNoTransaction(t *testing.T) {
	t.Parallel()
	s, err := sqsstore.Open(filepath.Join(t.TempDir(), "q.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		c, cancel := context.WithTimeout(ctx, time.Duration(i%50)*time.Microsecond)
		wait := 1
		_, _ = s.Receive(c, "q", sqsstore.ReceiveParams{WaitTimeSeconds: &wait})
		cancel()
		if _, err := s.QueueCounts(ctx, "q"); err != nil {
			t.Fatalf("after cancelled receive %d: %v", i, err)
		}
	}
}
