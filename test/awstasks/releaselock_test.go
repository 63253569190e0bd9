package awstasks_test

import (
	"testing"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/tasks/release-lock/releaselocktest"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

// TestReleaseLock runs the release-lock scenarios over the DynamoDB lock
// table in front of dynalite, behind a fault proxy.
func TestReleaseLock(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, true, false, false)
	releaselocktest.Run(t, func(t *testing.T) (lock.Table, testkit.Faults) {
		locks, proxy, _ := svc.Locks(t)
		return locks, proxy
	})
}
