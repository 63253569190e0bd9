package awstasks_test

import (
	"testing"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/suppression/memsuppression"
	"github.com/mailflow/mailflow/tasks/acquire-lock/acquirelocktest"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

// TestAcquireLock runs the acquire-lock scenarios over the DynamoDB lock
// table in front of dynalite, behind a fault proxy (the suppression list
// in memory).
func TestAcquireLock(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, true, false, false)
	acquirelocktest.Run(t, func(t *testing.T) (lock.Table, testkit.Faults) {
		locks, proxy, _ := svc.Locks(t)
		return locks, proxy
	}, func(*testing.T) suppression.List { return memsuppression.New() })
}
