package main

import (
	"os"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

func TestMain(m *testing.M) {
	if testkit.IsLambdaChild() {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestLambdaStartupValidation checks that a missing or wrong variable stops
// the function at start-up with a message naming it.
func TestLambdaStartupValidation(t *testing.T) {
	t.Parallel()
	env := append(tasktest.AWSEnv(nil), "LOCK_TABLE=", "ATTACHMENT_PREFIX=attachments", "ALLOWED_SENDERS=example.com", "LOCK_LEASE=1m")
	r := testkit.InvokeLambda(t, env, []byte(`{}`), "")
	if !r.Exited {
		t.Fatalf("the function started: %+v", r)
	}
	for _, want := range []string{"LOCK_TABLE: required", "ATTACHMENT_PREFIX:", "LOCK_LEASE: 1m0s is shorter"} {
		if !strings.Contains(r.Output, want) {
			t.Errorf("start-up output lacks %q:\n%s", want, r.Output)
		}
	}
}
