package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

func TestMain(m *testing.M) {
	if testkit.IsLambdaChild() {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestLambda invokes the real main through aws-lambda-go's runtime loop
// against dynalite (behind a fault proxy).
func TestLambda(t *testing.T) {
	svc := tasktest.Start(t, true, false, false)
	_, proxy, table := svc.Locks(t)
	env := append(tasktest.AWSEnv(map[string]string{"dynamodb": proxy.URL}), "LOCK_TABLE="+table)
	invoke := func(body string) testkit.LambdaResult {
		b, _ := json.Marshal(map[string]string{"messageId": "m", "owner": "exec/m", "body": body})
		return testkit.InvokeLambda(t, env, b, "")
	}
	if r := invoke("not json at all"); string(r.Response) != `{"released":false,"reason":"no-mail-id"}` {
		t.Errorf("unparseable body: %+v", r)
	}
	if r := invoke(tasktest.Body(t, "order-9", nil)); string(r.Response) != `{"released":false,"reason":"not-found"}` {
		t.Errorf("no lock: %+v", r)
	}
	proxy.Arm(testkit.Fault{Status: 500, Body: `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"down"}`})
	if r := invoke(tasktest.Body(t, "order-9", nil)); workflow.ErrorName(r.ErrorType) != workflow.Transient {
		t.Errorf("table down: %+v", r)
	}
}

func TestLambdaStartupValidation(t *testing.T) {
	r := testkit.InvokeLambda(t, append(tasktest.AWSEnv(nil), "LOCK_TABLE="), []byte(`{}`), "")
	if !r.Exited || !strings.Contains(r.Output, "LOCK_TABLE: required") {
		t.Errorf("start-up: %+v", r)
	}
}
