package memlock_test

import (
	"testing"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/locktest"
	"github.com/mailflow/mailflow/lock/memlock"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	locktest.Run(t, locktest.Harness{
		NewTable:   func(t *testing.T) lock.Table { return memlock.New() },
		Races:      2000,
		Contenders: 4,
	})
}
