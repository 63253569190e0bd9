package main

import (
	"bytes"
	"context"
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
// against gofakes3 and checks what Step Functions would see.
func TestLambda(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, false, true, false)
	st, _ := svc.Store(t)
	if err := st.Put(context.Background(), "attachments/a.pdf", bytes.NewReader([]byte("%PDF")), 4); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), "attachments/secret.pdf", bytes.NewReader([]byte("%PDF")), 4); err != nil {
		t.Fatal(err)
	}
	svc.S3.Forbid(tasktest.Bucket, "attachments/secret.pdf")
	env := append(tasktest.AWSEnv(map[string]string{"s3": svc.S3.URL}),
		"ATTACHMENT_BUCKET="+tasktest.Bucket, "S3_USE_PATH_STYLE=true", "ATTACHMENT_PREFIX=attachments/",
		"STAGING_PREFIX=staging/", "ALLOWED_SENDERS=example.com")
	invokeWith := func(env []string, key string) testkit.LambdaResult {
		body := tasktest.Body(t, "order-9", func(m map[string]any) { m["attachments"] = []map[string]string{{"key": key}} })
		b, _ := json.Marshal(map[string]string{"messageId": "m", "owner": "exec/m", "mailId": "order-9", "body": body})
		return testkit.InvokeLambda(t, env, b, "")
	}
	invoke := func(key string) testkit.LambdaResult { return invokeWith(env, key) }
	type result struct {
		Key    string `json:"key"`
		Inline string `json:"inline"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}

	// A small message comes back inline by default.
	r := invoke("attachments/a.pdf")
	var in result
	if err := json.Unmarshal(r.Response, &in); err != nil || in.Key != "" || in.Inline == "" || in.Size == 0 || len(in.SHA256) != 64 {
		t.Fatalf("inline: %+v (%v)\n%s", r, err, r.Output)
	}
	// INLINE_MAX_BYTES=0 stages every message.
	r = invokeWith(append(env, "INLINE_MAX_BYTES=0"), "attachments/a.pdf")
	var out result
	if err := json.Unmarshal(r.Response, &out); err != nil || !strings.HasPrefix(out.Key, "staging/") || out.Inline != "" || out.Size == 0 || len(out.SHA256) != 64 {
		t.Fatalf("staged: %+v (%v)\n%s", r, err, r.Output)
	}
	if info, err := st.Stat(context.Background(), out.Key); err != nil || info.Size != out.Size {
		t.Fatalf("staged object: %+v, %v", info, err)
	}
	for key, want := range map[string]workflow.ErrorName{
		"attachments/missing.pdf": workflow.AttachmentMissing,
		"attachments/secret.pdf":  workflow.AttachmentForbidden,
		"attachments/../x.pdf":    workflow.AttachmentForbidden,
	} {
		if r := invoke(key); workflow.ErrorName(r.ErrorType) != want {
			t.Errorf("%s: %+v, want %s", key, r, want)
		}
	}
}

func TestLambdaStartupValidation(t *testing.T) {
	t.Parallel()
	env := append(tasktest.AWSEnv(nil), "ATTACHMENT_BUCKET=Bad_Bucket", "S3_USE_PATH_STYLE=maybe")
	r := testkit.InvokeLambda(t, env, []byte(`{}`), "")
	for _, want := range []string{`ATTACHMENT_BUCKET: \"Bad_Bucket\" is not`, `S3_USE_PATH_STYLE: \"maybe\" is not`, "STAGING_PREFIX: required", "ALLOWED_SENDERS: required"} {
		if !r.Exited || !strings.Contains(r.Output, want) {
			t.Errorf("start-up (exited %v) lacks %q:\n%s", r.Exited, want, r.Output)
		}
	}
}
