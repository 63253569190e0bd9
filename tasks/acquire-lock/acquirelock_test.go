// The handler's tests run its scenarios (acquirelocktest) on in-memory
// adapters (testkit/tasktest), so they need no Node and no emulator;
// test/awstasks runs the same scenarios over the AWS adapters and the
// emulators.
package acquirelock_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/suppression/memsuppression"
	acquirelock "github.com/mailflow/mailflow/tasks/acquire-lock"
	"github.com/mailflow/mailflow/tasks/acquire-lock/acquirelocktest"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

func TestAcquireLock(t *testing.T) {
	t.Parallel()
	acquirelocktest.Run(t, func(*testing.T) (lock.Table, testkit.Faults) { return tasktest.MemLocks() },
		func(*testing.T) suppression.List { return memsuppression.New() })
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	_, err := acquirelock.ConfigFromEnv(tasktest.EnvMap(map[string]string{"LOCK_LEASE": "2m", "LOCK_RETENTION": "soon"}))
	if err == nil {
		t.Fatal("empty environment accepted")
	}
	for _, name := range []string{"ATTACHMENT_PREFIX: required", "ALLOWED_SENDERS: required", "LOCK_LEASE: 2m0s is shorter", `LOCK_RETENTION: "soon" is not a duration`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not say %q", err, name)
		}
	}
	_, err = acquirelock.ConfigFromEnv(tasktest.EnvMap(map[string]string{
		"ATTACHMENT_PREFIX": "attachments", "ALLOWED_SENDERS": "example.com, not an identity", "DEFAULT_SENDER": "x@other.example",
	}))
	for _, name := range []string{"ATTACHMENT_PREFIX: \"attachments\" must end with /", `ALLOWED_SENDERS: "not an identity"`, "DEFAULT_SENDER:"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not say %q", err, name)
		}
	}
	c, err := acquirelock.ConfigFromEnv(tasktest.EnvMap(map[string]string{
		"ATTACHMENT_PREFIX": "attachments/", "ALLOWED_SENDERS": "example.com,billing@example.org", "LOCK_LEASE": "10m",
	}))
	if err != nil || c.Lease != 10*time.Minute || len(c.Limits.AllowedSenders) != 2 || c.Retention != 7*24*time.Hour {
		t.Fatalf("config %+v, %v", c, err)
	}
}
