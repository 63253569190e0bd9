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
	r := testkit.InvokeLambda(t, append(tasktest.AWSEnv(nil), "SES_CONFIGURATION_SET=a b", "SES_PACING=sometimes"), []byte(`{}`), "")
	for _, want := range []string{"LOCK_TABLE: required", "ATTACHMENT_BUCKET: required", "SES_CONFIGURATION_SET:", "SES_PACING:"} {
		if !r.Exited || !strings.Contains(r.Output, want) {
			t.Errorf("start-up lacks %q: %+v", want, r)
		}
	}
}
