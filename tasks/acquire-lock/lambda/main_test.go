package main

import (
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

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
// against dynalite and checks what Step Functions would see.
func TestLambda(t *testing.T) {
	svc := tasktest.Start(t, true, false, false)
	_, _, table := svc.Locks(t)
	env := append(tasktest.AWSEnv(map[string]string{"dynamodb": svc.Dynamo}),
		"LOCK_TABLE="+table, "ATTACHMENT_PREFIX=attachments/", "ALLOWED_SENDERS=example.com")
	payload := func(owner string, change func(map[string]any)) []byte {
		b, _ := json.Marshal(map[string]string{"messageId": "msg-1", "owner": owner, "body": tasktest.Body(t, "order-9", change)})
		return b
	}

	r := testkit.InvokeLambda(t, env, payload("arn:aws:states:us-east-1:1:express:mail:exec-1/msg-1", nil), "")
	var out map[string]string
	if err := json.Unmarshal(r.Response, &out); err != nil || out["outcome"] != "acquired" || out["mailId"] != "order-9" {
		t.Fatalf("first invocation: %+v (%v)\n%s", r, err, r.Output)
	}
	// The JSON log line names the mail and the execution.
	if !strings.Contains(r.Output, `"mailId":"order-9"`) || !strings.Contains(r.Output, `"executionId":"arn:aws:states:us-east-1:1:express:mail:exec-1"`) {
		t.Errorf("log lines lack mailId or executionId:\n%s", r.Output)
	}

	r = testkit.InvokeLambda(t, env, payload("other-exec/msg-1", nil), "")
	if workflow.ErrorName(r.ErrorType) != workflow.LockBusy {
		t.Errorf("second owner: %+v", r)
	}
	r = testkit.InvokeLambda(t, env, payload("e/m", func(m map[string]any) { m["subject"] = "a\r\nBcc: x@example.net" }), "")
	if workflow.ErrorName(r.ErrorType) != workflow.InvalidMessage || !strings.Contains(r.ErrorMessage, "subject") {
		t.Errorf("header injection: %+v", r)
	}
}

// TestLambdaStartupValidation checks that a missing or wrong variable stops
// the function at start-up with a message naming it.
func TestLambdaStartupValidation(t *testing.T) {
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

// TestLambdaTracing runs the function as Lambda does with active tracing
// and checks that its DynamoDB call reaches the X-Ray daemon address as a
// subsegment of the invocation's trace.
func TestLambdaTracing(t *testing.T) {
	svc := tasktest.Start(t, true, false, false)
	_, _, table := svc.Locks(t)
	daemon, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()
	env := append(tasktest.AWSEnv(map[string]string{"dynamodb": svc.Dynamo}),
		"LOCK_TABLE="+table, "ATTACHMENT_PREFIX=attachments/", "ALLOWED_SENDERS=example.com",
		"AWS_LAMBDA_FUNCTION_NAME=mailflow-acquire-lock", "LAMBDA_TASK_ROOT="+t.TempDir(),
		"AWS_XRAY_DAEMON_ADDRESS="+daemon.LocalAddr().String(), "AWS_XRAY_CONTEXT_MISSING=LOG_ERROR")
	body, _ := json.Marshal(map[string]string{"messageId": "m", "owner": "e/m", "body": tasktest.Body(t, "traced", nil)})
	const root = "1-67890abc-0123456789abcdef01234567"
	r := testkit.InvokeLambda(t, env, body, "Root="+root+";Parent=53995c3f42cd8ad8;Sampled=1")
	if r.ErrorType != "" || r.Exited {
		t.Fatalf("invocation: %+v", r)
	}
	// The subsegment is sent when the call ends, before the response.
	_ = daemon.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		n, _, err := daemon.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no DynamoDB subsegment reached the daemon: %v\n%s", err, r.Output)
		}
		seg := string(buf[:n])
		if strings.Contains(seg, `"name":"DynamoDB"`) && strings.Contains(seg, root) && strings.Contains(seg, `"operation":"PutItem"`) {
			return
		}
	}
}
