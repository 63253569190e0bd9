package sqlitepacer_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflow/mailflow/local/sqlitepacer"
	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/pacertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	pacertest.Run(t, pacertest.Harness{
		NewBucket: func(t *testing.T) pacer.Bucket {
			b, err := sqlitepacer.Open(filepath.Join(t.TempDir(), "pacer.db"), "ses")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		},
	})
}

// TestSharedBetweenHandles: two handles on one file (two processes) drain
// one bucket; two names in one file are independent.
func TestSharedBetweenHandles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pacer.db")
	open := func(name string) *sqlitepacer.Bucket {
		b, err := sqlitepacer.Open(path, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	a, b, other := open("ses"), open("ses"), open("other")
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	p := pacer.TakeParams{Cost: 1, Rate: 1, Burst: 2, Now: now}
	ctx := context.Background()
	for i, bk := range []*sqlitepacer.Bucket{a, b, a, other} {
		r, err := bk.Take(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if want := i != 2; r.OK != want {
			t.Fatalf("take %d: OK=%v, want %v", i+1, r.OK, want)
		}
	}
}

func TestOpenValidates(t *testing.T) {
	t.Parallel()
	if _, err := sqlitepacer.Open("", "x"); err == nil {
		t.Error("empty path accepted")
	}
	if _, err := sqlitepacer.Open(filepath.Join(t.TempDir(), "p.db"), ""); err == nil {
		t.Error("empty name accepted")
	}
}
