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

func TestLambdaStartupValidation(t *testing.T) {
	t.Parallel()
	r := testkit.InvokeLambda(t, append(tasktest.AWSEnv(nil), "LOCK_TABLE=locks", "DELIVERY_TABLE=", "OUTCOME_BUS="), []byte(`{"Records":[]}`), "")
	for _, want := range []string{"DELIVERY_TABLE: required", "SUPPRESSION_TABLE: required", "OUTCOME_BUS: required", "EVENTS_DLQ_URL: required"} {
		if !r.Exited || !strings.Contains(r.Output, want) {
			t.Errorf("start-up does not say %q: %+v", want, r)
		}
	}
}
