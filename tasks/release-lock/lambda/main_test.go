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
	r := testkit.InvokeLambda(t, append(tasktest.AWSEnv(nil), "LOCK_TABLE="), []byte(`{}`), "")
	if !r.Exited || !strings.Contains(r.Output, "LOCK_TABLE: required") {
		t.Errorf("start-up: %+v", r)
	}
}
