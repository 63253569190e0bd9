package lambda_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/suppression/dynamosuppression"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

// binaries are the task functions built once for this test binary.
var binaries = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailflow-lambda-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for _, task := range []string{"acquire-lock", "release-lock", "send"} {
			bin, err := testkit.BuildLambda("../..", dir, "./tasks/"+task+"/lambda")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			binaries[task] = bin
		}
		return m.Run()
	}()
	os.Exit(code)
}

// invoke runs the task's function once, as Lambda does.
func invoke(t *testing.T, task string, env []string, payload []byte, traceID string) testkit.LambdaResult {
	t.Helper()
	return testkit.InvokeLambdaBinary(t, binaries[task], env, payload, traceID)
}

// TestAcquireLockLambda invokes the real main through aws-lambda-go's runtime loop
// against dynalite and checks what Step Functions would see.
func TestAcquireLockLambda(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, true, false, false)
	locks, _, table := svc.Locks(t)
	env := append(tasktest.AWSEnv(map[string]string{"dynamodb": svc.Dynamo}),
		"LOCK_TABLE="+table, "ATTACHMENT_PREFIX=attachments/", "ALLOWED_SENDERS=example.com")
	payload := func(owner string, change func(map[string]any)) []byte {
		b, _ := json.Marshal(map[string]string{"messageId": "msg-1", "owner": owner, "body": tasktest.Body(t, "order-9", change)})
		return b
	}

	r := invoke(t, "acquire-lock", env, payload("arn:aws:states:us-east-1:1:express:mail:exec-1/msg-1", nil), "")
	var out map[string]string
	if err := json.Unmarshal(r.Response, &out); err != nil || out["outcome"] != "acquired" || out["mailId"] != "order-9" {
		t.Fatalf("first invocation: %+v (%v)\n%s", r, err, r.Output)
	}
	// The JSON log line names the mail and the execution (after its state
	// machine), without a time: CloudWatch stamps the event.
	var result string
	for line := range strings.SplitSeq(r.Output, "\n") {
		if strings.Contains(line, `"msg":"done"`) {
			result = line
		}
	}
	if !strings.Contains(result, `"mailId":"order-9"`) || !strings.Contains(result, `"exec":"exec-1"`) || strings.Contains(result, `"time":`) {
		t.Errorf("result line lacks mailId or exec, or has a time:\n%s", r.Output)
	}

	// It reads the lock and writes nothing; once another execution's send
	// attempt holds it, a second owner is busy.
	if rec, found, err := locks.Get(context.Background(), "order-9"); found || err != nil {
		t.Fatalf("the first invocation wrote the lock: %+v, %v", rec, err)
	}
	m, err := workflow.Parse([]byte(tasktest.Body(t, "order-9", nil)), tasktest.Limits)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := locks.Acquire(context.Background(), lock.AcquireParams{MailID: "order-9", Owner: "arn:aws:states:us-east-1:1:express:mail:exec-1/msg-1",
		ContentHash: taskkit.ContentHash(&m), Now: now, LeaseUntil: now.Add(6 * time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r = invoke(t, "acquire-lock", env, payload("other-exec/msg-1", nil), "")
	if workflow.ErrorName(r.ErrorType) != workflow.LockBusy {
		t.Errorf("second owner: %+v", r)
	}
	r = invoke(t, "acquire-lock", env, payload("e/m", func(m map[string]any) { m["subject"] = "a\r\nBcc: x@example.net" }), "")
	if workflow.ErrorName(r.ErrorType) != workflow.InvalidMessage || !strings.Contains(r.ErrorMessage, "subject") {
		t.Errorf("header injection: %+v", r)
	}
}

// TestAcquireLockLambdaChecksTheSuppressionList: with SUPPRESSION_TABLE set,
// the function refuses a mail to a listed address with Mail.Suppressed.
func TestAcquireLockLambdaChecksTheSuppressionList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := tasktest.Start(t, true, false, false)
	_, _, table := svc.Locks(t)
	ddb := dynamodb.NewFromConfig(testkit.AWSConfig(svc.Dynamo))
	suppressions := "suppression-" + table
	if err := dynamosuppression.CreateTable(ctx, ddb, suppressions); err != nil {
		t.Fatal(err)
	}
	list, err := dynamosuppression.New(ddb, suppressions)
	if err != nil {
		t.Fatal(err)
	}
	if err := list.Put(ctx, suppression.Entry{Address: "ann@example.org", Reason: suppression.Bounce, At: time.Now().UTC(), MailID: "order-1"}); err != nil {
		t.Fatal(err)
	}
	env := append(tasktest.AWSEnv(map[string]string{"dynamodb": svc.Dynamo}),
		"LOCK_TABLE="+table, "SUPPRESSION_TABLE="+suppressions, "ATTACHMENT_PREFIX=attachments/", "ALLOWED_SENDERS=example.com")
	body := tasktest.Body(t, "order-2", func(m map[string]any) { m["to"] = []string{"Ann <ANN@example.org>"} })
	payload, _ := json.Marshal(map[string]string{"messageId": "msg-1", "owner": "exec-2/msg-1", "body": body})
	r := invoke(t, "acquire-lock", env, payload, "")
	if workflow.ErrorName(r.ErrorType) != workflow.Suppressed || !strings.Contains(r.ErrorMessage, "ann@example.org") {
		t.Fatalf("a mail to a suppressed address: %+v\n%s", r, r.Output)
	}
}

// TestAcquireLockLambdaTellsTheEventsQueue: with EVENTS_QUEUE_URL set, the
// function sends the accepted record of a mail it takes the lock for.
func TestAcquireLockLambdaTellsTheEventsQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc := tasktest.Start(t, true, false, false)
	_, _, table := svc.Locks(t)
	store, err := sqsstore.Open(filepath.Join(t.TempDir(), "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateQueue(ctx, "mailflow-events", nil, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sqsapi.New(store, sqsapi.Options{}))
	defer srv.Close()
	env := append(tasktest.AWSEnv(map[string]string{"dynamodb": svc.Dynamo, "sqs": srv.URL}),
		"LOCK_TABLE="+table, "EVENTS_QUEUE_URL="+srv.URL+"/000000000000/mailflow-events",
		"ATTACHMENT_PREFIX=attachments/", "ALLOWED_SENDERS=example.com")
	payload, _ := json.Marshal(map[string]string{"messageId": "msg-1", "owner": "arn:exec-3/msg-1", "body": tasktest.Body(t, "order-3", nil)})
	r := invoke(t, "acquire-lock", env, payload, "")
	if r.ErrorType != "" {
		t.Fatalf("acquire: %+v\n%s", r, r.Output)
	}
	zero, wait := 0, 0
	msgs, err := store.Receive(ctx, "mailflow-events", sqsstore.ReceiveParams{MaxMessages: 10, VisibilityTimeout: &zero, WaitTimeSeconds: &wait})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("events queue: %d messages, %v", len(msgs), err)
	}
	e, err := workflow.ParsePipelineEvent([]byte(msgs[0].Body))
	if err != nil || e.Type != workflow.EventAccepted || e.MailID != "order-3" || e.ExecutionID != "arn:exec-3" {
		t.Fatalf("record %+v, %v", e, err)
	}
}

// TestAcquireLockLambdaTracing runs the function as Lambda does with active tracing
// and checks that its DynamoDB call reaches the X-Ray daemon address as a
// subsegment of the invocation's trace.
func TestAcquireLockLambdaTracing(t *testing.T) {
	t.Parallel()
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
	r := invoke(t, "acquire-lock", env, body, "Root="+root+";Parent=53995c3f42cd8ad8;Sampled=1")
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
		if strings.Contains(seg, `"name":"DynamoDB"`) && strings.Contains(seg, root) && strings.Contains(seg, `"operation":"GetItem"`) {
			return
		}
	}
}

// TestReleaseLockLambda invokes the real main through aws-lambda-go's runtime loop
// against dynalite (behind a fault proxy).
func TestReleaseLockLambda(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, true, false, false)
	_, proxy, table := svc.Locks(t)
	env := append(tasktest.AWSEnv(map[string]string{"dynamodb": proxy.URL}), "LOCK_TABLE="+table)
	invoke := func(body string) testkit.LambdaResult {
		b, _ := json.Marshal(map[string]string{"messageId": "m", "owner": "exec/m", "body": body})
		return invoke(t, "release-lock", env, b, "")
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

// TestSendLambda invokes the real main through aws-lambda-go's runtime loop
// against dynalite, gofakes3 and the SES v2 emulator behind a fault proxy.
func TestSendLambda(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, true, true, true)
	ctx := context.Background()
	locks, _, table := svc.Locks(t)
	st, _ := svc.Store(t)
	sesProxy := testkit.NewFaultProxy(t, svc.SES)
	env := append(tasktest.AWSEnv(map[string]string{"dynamodb": svc.Dynamo, "s3": svc.S3.URL, "sesv2": sesProxy.URL}),
		"LOCK_TABLE="+table, "ATTACHMENT_BUCKET="+tasktest.Bucket, "S3_USE_PATH_STYLE=true",
		"ATTACHMENT_PREFIX=attachments/", "STAGING_PREFIX=staging/", "ALLOWED_SENDERS=example.com",
		// Paced through the pacer item in the lock table, at a fixed rate
		// (the SES emulator has no GetAccount).
		"SES_MAX_SEND_RATE=1000")

	raw := []byte("From: billing@example.com\r\nTo: ann@example.org\r\nSubject: via lambda\r\n\r\nhi\r\n")
	if err := st.Put(ctx, "staging/x/y.eml", bytes.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	invoke := func(mailID, owner string) testkit.LambdaResult {
		b, _ := json.Marshal(map[string]any{"messageId": "m", "owner": owner, "mailId": mailID, "body": tasktest.Body(t, mailID, nil),
			"staged": map[string]any{"key": "staging/x/y.eml", "size": len(raw), "sha256": hex.EncodeToString(sum[:])}})
		return invoke(t, "send", env, b, "")
	}
	// take holds the mail's lock for owner, with the body's content hash,
	// as another execution's send attempt would.
	take := func(mailID, owner string) {
		m, err := workflow.Parse([]byte(tasktest.Body(t, mailID, nil)), tasktest.Limits)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: mailID, Owner: owner, ContentHash: taskkit.ContentHash(&m), Now: now, LeaseUntil: now.Add(6 * time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}

	// The task takes the lock itself, in its attempt write.
	r := invoke("m-1", "exec/m")
	var out map[string]string
	if err := json.Unmarshal(r.Response, &out); err != nil || out["sesMessageId"] == "" {
		t.Fatalf("send: %+v\n%s", r, r.Output)
	}
	if rec, _, _ := locks.Get(ctx, "m-1"); rec.Status != lock.Sent || rec.SESMessageID != out["sesMessageId"] {
		t.Fatalf("lock after send: %+v", rec)
	}
	pacerItem, err := dynamodb.NewFromConfig(testkit.AWSConfig(svc.Dynamo)).GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), Key: map[string]types.AttributeValue{"mailId": &types.AttributeValueMemberS{Value: "#pacer/ses"}},
	})
	if err != nil || pacerItem.Item["tat"] == nil {
		t.Fatalf("the send was not paced through the pacer item in the lock table: %v", err)
	}

	sesProxy.Arm(testkit.SESError(429, "TooManyRequestsException", "Maximum sending rate exceeded."))
	if r := invoke("m-2", "exec/m"); workflow.ErrorName(r.ErrorType) != workflow.Throttled {
		t.Errorf("throttled: %+v", r)
	}
	sesProxy.Arm(testkit.SESError(400, "MessageRejected", "Email address is not verified."))
	if r := invoke("m-2", "exec/m"); workflow.ErrorName(r.ErrorType) != workflow.Rejected {
		t.Errorf("rejected: %+v", r)
	}
	take("m-3", "exec/other")
	if r := invoke("m-3", "exec/m"); workflow.ErrorName(r.ErrorType) != workflow.LockBusy {
		t.Errorf("another execution holds the lock: %+v", r)
	}
}
