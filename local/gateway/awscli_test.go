package gateway_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/local/gateway"
)

// TestAWSCLI: the AWS CLI (v1, botocore) signs as the endpoint expects:
// sqs send-message, receive-message and s3 cp both ways work, without
// credentials configured on the endpoint and with them verified; with the
// wrong secret the CLI is refused and nothing is enqueued. The machines
// the project runs on have the CLI; a missing one is a failure, not a skip.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatal("the AWS CLI (aws) is not on PATH; this test drives it against the local endpoint")
	}
	verified := gateway.Verifier{AccessKeyID: goodCreds.AccessKeyID, SecretAccessKey: goodCreds.SecretAccessKey}
	for name, policy := range map[string]gateway.Policy{"unverified": {}, "verified": {Verifier: verified}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := startEndpointWith(t, policy, goodCreds)
			ctx := context.Background()
			q, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("cli")})
			if err != nil {
				t.Fatal(err)
			}
			home := t.TempDir()
			config := filepath.Join(home, "config")
			if err := os.WriteFile(config, []byte("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			run := func(secret string, args ...string) (string, error) {
				cmd := exec.Command(bin, append([]string{"--endpoint-url", e.url, "--output", "text"}, args...)...)
				cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "AWS_CONFIG_FILE=" + config,
					"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
					"AWS_ACCESS_KEY_ID=" + goodCreds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + secret}
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			if out, err := run(goodCreds.SecretAccessKey, "sqs", "send-message", "--queue-url", *q.QueueUrl, "--message-body", "from the cli"); err != nil {
				t.Fatalf("sqs send-message: %v\n%s", err, out)
			}
			out, err := run(goodCreds.SecretAccessKey, "sqs", "receive-message", "--queue-url", *q.QueueUrl, "--visibility-timeout", "0")
			if err != nil || !strings.Contains(out, "from the cli") {
				t.Fatalf("sqs receive-message: %v\n%s", err, out)
			}
			src := filepath.Join(home, "attachment.txt")
			if err := os.WriteFile(src, []byte(strings.Repeat("attachment bytes\n", 5000)), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := run(goodCreds.SecretAccessKey, "s3", "cp", src, "s3://mailflow-attachments/attachments/a.txt"); err != nil {
				t.Fatalf("s3 cp up: %v\n%s", err, out)
			}
			got, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mailflow-attachments"), Key: aws.String("attachments/a.txt")})
			if err != nil {
				t.Fatalf("the uploaded object: %v", err)
			}
			if *got.ContentLength != 5000*17 {
				t.Errorf("uploaded %d bytes, want %d", *got.ContentLength, 5000*17)
			}
			got.Body.Close()
			back := filepath.Join(home, "back.txt")
			if out, err := run(goodCreds.SecretAccessKey, "s3", "cp", "s3://mailflow-attachments/attachments/a.txt", back); err != nil {
				t.Fatalf("s3 cp down: %v\n%s", err, out)
			}
			if b, _ := os.ReadFile(back); len(b) != 5000*17 {
				t.Errorf("downloaded %d bytes", len(b))
			}
			if name != "verified" {
				return
			}
			out, err = run("wrong-secret", "sqs", "send-message", "--queue-url", *q.QueueUrl, "--message-body", "forged")
			if err == nil || !strings.Contains(out, "SignatureDoesNotMatch") {
				t.Errorf("send-message with the wrong secret: %v\n%s", err, out)
			}
			attrs, err := e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
			if err != nil {
				t.Fatal(err)
			}
			if n := attrs.Attributes["ApproximateNumberOfMessages"]; n != "1" {
				t.Errorf("%s messages after the refused send, want 1", n)
			}
		})
	}
}
