package memstore_test

import (
	"testing"

	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/store/memstore"
	"github.com/mailflow/mailflow/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Harness{
		NewStore: func(t *testing.T) store.Store { return memstore.New() },
		Forbid:   func(t *testing.T, s store.Store, key string) { s.(*memstore.Store).Forbid(key) },
	})
}
