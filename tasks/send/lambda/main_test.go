package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mailflow/mailflow/lock"
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
// against dynalite, gofakes3 and the SES v2 emulator behind a fault proxy.
func TestLambda(t *testing.T) {
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
		return testkit.InvokeLambda(t, env, b, "")
	}
	take := func(mailID, owner string) {
		now := time.Now()
		if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: mailID, Owner: owner, ContentHash: "h", Now: now, LeaseUntil: now.Add(6 * time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}

	take("m-1", "exec/m")
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

	take("m-2", "exec/m")
	sesProxy.Arm(testkit.SESError(429, "TooManyRequestsException", "Maximum sending rate exceeded."))
	if r := invoke("m-2", "exec/m"); workflow.ErrorName(r.ErrorType) != workflow.Throttled {
		t.Errorf("throttled: %+v", r)
	}
	sesProxy.Arm(testkit.SESError(400, "MessageRejected", "Email address is not verified."))
	if r := invoke("m-2", "exec/m"); workflow.ErrorName(r.ErrorType) != workflow.Rejected {
		t.Errorf("rejected: %+v", r)
	}
	if r := invoke("m-3", "exec/m"); workflow.ErrorName(r.ErrorType) != workflow.LockBusy {
		t.Errorf("no lock held: %+v", r)
	}
}

func TestLambdaStartupValidation(t *testing.T) {
	r := testkit.InvokeLambda(t, append(tasktest.AWSEnv(nil), "SES_CONFIGURATION_SET=a b", "SES_PACING=sometimes"), []byte(`{}`), "")
	for _, want := range []string{"LOCK_TABLE: required", "ATTACHMENT_BUCKET: required", "SES_CONFIGURATION_SET:", "SES_PACING:"} {
		if !r.Exited || !strings.Contains(r.Output, want) {
			t.Errorf("start-up lacks %q: %+v", want, r)
		}
	}
}
