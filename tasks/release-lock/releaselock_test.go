// The handler's tests run its scenarios (releaselocktest) on the in-memory
// lock table (testkit/tasktest), so they need no Node and no emulator;
// test/awstasks runs the same scenarios over DynamoDB and its emulator.
package releaselock_test

import (
	"testing"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/tasks/release-lock/releaselocktest"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

func TestReleaseLock(t *testing.T) {
	t.Parallel()
	releaselocktest.Run(t, func(*testing.T) (lock.Table, testkit.Faults) { return tasktest.MemLocks() })
}
