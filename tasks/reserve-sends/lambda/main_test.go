package main

import (
	"encoding/json"
	"os"
	"slices"
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

// A bad configuration stops the function at start-up, naming every
// variable at fault.
func TestLambdaStartupValidation(t *testing.T) {
	t.Parallel()
	r := testkit.InvokeLambda(t, append(tasktest.AWSEnv(nil), "LOCK_TABLE=", "SES_PACING=sometimes", "SES_MAX_SEND_RATE=fast", "SES_PACING_MAX_WAIT=1h"), []byte(`{}`), "")
	for _, want := range []string{"LOCK_TABLE: required", "SES_PACING:", "SES_MAX_SEND_RATE:", "SES_PACING_MAX_WAIT:"} {
		if !r.Exited || !strings.Contains(r.Output, want) {
			t.Errorf("start-up lacks %q: %+v", want, r)
		}
	}
}

// The function never fails a batch for pacing: with pacing off, and with
// pacing on and neither DynamoDB nor SES reachable, it answers zeros.
func TestLambdaGrantsZerosWithoutAPacer(t *testing.T) {
	t.Parallel()
	down := tasktest.AWSEnv(map[string]string{"dynamodb": "http://127.0.0.1:1", "sesv2": "http://127.0.0.1:1"})
	payload := []byte(`{"records":[{"messageId":"m-1","receiptHandle":"h","body":"{\"to\":[\"a@example.org\"]}"},{"messageId":"m-2","body":"{\"to\":[\"b@example.org\"]}"}]}`)
	for name, env := range map[string][]string{
		"pacing off":              slices.Concat(down, []string{"LOCK_TABLE=mailflow-locks", "SES_PACING=off"}),
		"bucket down, fixed rate": slices.Concat(down, []string{"LOCK_TABLE=mailflow-locks", "SES_MAX_SEND_RATE=14"}),
		"quota and bucket down":   slices.Concat(down, []string{"LOCK_TABLE=mailflow-locks"}),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := testkit.InvokeLambda(t, env, payload, "")
			var out map[string]any
			if err := json.Unmarshal(r.Response, &out); err != nil || r.ErrorType != "" {
				t.Fatalf("%+v", r)
			}
			if b, _ := json.Marshal(out); string(b) != `{"grants":[0,0]}` {
				t.Errorf("answer %s\n%s", r.Response, r.Output)
			}
			if warned := strings.Contains(r.Output, "no sends reserved"); warned != (name != "pacing off") {
				t.Errorf("warned %v:\n%s", warned, r.Output)
			}
		})
	}
}
