package compat_test

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cli runs the AWS CLI v1 against one endpoint with the suite's
// credentials and nothing of the user's configuration.
type cli struct {
	t        *testing.T
	bin      string
	endpoint string
	env      []string
}

func newCLI(t *testing.T, endpoint string) *cli {
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatal("the AWS CLI (aws) is not on PATH; the compatibility suite drives it against the local endpoints")
	}
	home := t.TempDir()
	config := filepath.Join(home, "config")
	if err := os.WriteFile(config, []byte("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n  signature_version = s3v4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, bin: bin, endpoint: endpoint, env: []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"),
		"AWS_CONFIG_FILE=" + config, "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_ACCESS_KEY_ID=" + accessKey, "AWS_SECRET_ACCESS_KEY=" + secretKey, "AWS_MAX_ATTEMPTS=1"}}
}

// run returns the command's JSON answer decoded ({} for none) or its
// failure's output.
func (c *cli) run(args ...string) (map[string]any, error) {
	cmd := exec.Command(c.bin, append([]string{"--endpoint-url", c.endpoint, "--output", "json"}, args...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("aws %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	m := map[string]any{}
	if len(strings.TrimSpace(string(out))) > 0 {
		if err := json.Unmarshal(out, &m); err != nil {
			return nil, fmt.Errorf("aws %s printed %q: %v", strings.Join(args, " "), out, err)
		}
	}
	return m, nil
}

// must runs a command that has to succeed.
func (c *cli) must(args ...string) map[string]any {
	c.t.Helper()
	m, err := c.run(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// mustFail runs a command that has to fail with an error naming code.
func (c *cli) mustFail(code string, args ...string) {
	c.t.Helper()
	_, err := c.run(args...)
	if err == nil || !strings.Contains(err.Error(), "("+code+")") {
		c.t.Fatalf("aws %s: %v, want the error %s", strings.Join(args, " "), err, code)
	}
}

func str(v any) string { s, _ := v.(string); return s }

func list(v any) []any { l, _ := v.([]any); return l }

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

// want compares as JSON, so that the CLI's numbers (float64 once decoded)
// and lists compare with Go's ints and slices.
func want(t *testing.T, what string, got, wanted any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(wanted)
	if string(g) != string(w) {
		t.Fatalf("%s: got %s, want %s", what, g, w)
	}
}

func (c *cli) counts(url string) string {
	a := obj(c.must("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names",
		"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")["Attributes"])
	return str(a["ApproximateNumberOfMessages"]) + "/" + str(a["ApproximateNumberOfMessagesNotVisible"])
}

func (c *cli) arn(url string) string {
	return str(obj(c.must("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "QueueArn")["Attributes"])["QueueArn"])
}

func (c *cli) receive(url string, args ...string) []any {
	return list(c.must(append([]string{"sqs", "receive-message", "--queue-url", url, "--max-number-of-messages", "10"}, args...)...)["Messages"])
}

// TestAWSCLI runs the scenarios of scenarios.mjs with the AWS CLI v1. Each
// scenario is a subtest named as there, so a failure names it.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	endpoint := startEndpoint(t)
	for name, scenario := range map[string]func(*testing.T, *cli){
		"sqs/queues": cliQueues, "sqs/messages": cliMessages, "sqs/batch": cliBatch, "sqs/visibility": cliVisibility,
		"sqs/redrive-and-move-tasks": cliRedrive, "s3/objects": cliObjects, "s3/multipart": cliMultipart,
		"s3/listing": cliListing, "s3/presigned": cliPresigned,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			scenario(t, newCLI(t, endpoint))
		})
	}
}

func cliQueues(t *testing.T, c *cli) {
	url := str(c.must("sqs", "create-queue", "--queue-name", "cli-queues", "--attributes", "VisibilityTimeout=45,DelaySeconds=2",
		"--tags", "team=mail")["QueueUrl"])
	want(t, "create-queue URL", url, c.endpoint+"/000000000000/cli-queues")
	want(t, "get-queue-url", str(c.must("sqs", "get-queue-url", "--queue-name", "cli-queues")["QueueUrl"]), url)
	want(t, "list-queues", list(c.must("sqs", "list-queues", "--queue-name-prefix", "cli-queues")["QueueUrls"]), []any{url})
	a := obj(c.must("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"])
	want(t, "attributes set at creation", []string{str(a["VisibilityTimeout"]), str(a["DelaySeconds"])}, []string{"45", "2"})
	c.must("sqs", "set-queue-attributes", "--queue-url", url, "--attributes", "VisibilityTimeout=10")
	a = obj(c.must("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "VisibilityTimeout")["Attributes"])
	want(t, "after set-queue-attributes", a, map[string]any{"VisibilityTimeout": "10"})
	c.must("sqs", "tag-queue", "--queue-url", url, "--tags", "env=dev")
	c.must("sqs", "untag-queue", "--queue-url", url, "--tag-keys", "team")
	want(t, "tags", c.must("sqs", "list-queue-tags", "--queue-url", url)["Tags"], map[string]any{"env": "dev"})
	for i := range 3 {
		c.must("sqs", "create-queue", "--queue-name", fmt.Sprintf("cli-page-%d", i))
	}
	// The CLI pages by itself: --page-size 2 makes it follow NextToken.
	want(t, "list-queues over pages of 2", len(list(c.must("sqs", "list-queues", "--queue-name-prefix", "cli-page-", "--page-size", "2")["QueueUrls"])), 3)
	page := c.must("sqs", "list-queues", "--queue-name-prefix", "cli-page-", "--max-items", "2")
	want(t, "list-queues --max-items 2", len(list(page["QueueUrls"])), 2)
	if str(page["NextToken"]) == "" {
		t.Fatal("list-queues --max-items 2 of 3 gave no NextToken")
	}
	c.must("sqs", "delete-queue", "--queue-url", url)
	c.mustFail("AWS.SimpleQueueService.NonExistentQueue", "sqs", "get-queue-url", "--queue-name", "cli-queues")
}

func cliMessages(t *testing.T, c *cli) {
	url := str(c.must("sqs", "create-queue", "--queue-name", "cli-messages")["QueueUrl"])
	body := "héllo \uFFFD \U0001F600"
	sent := c.must("sqs", "send-message", "--queue-url", url, "--message-body", body, "--message-attributes",
		`{"kind":{"DataType":"String","StringValue":"welcome"},"count":{"DataType":"Number","StringValue":"42"},"blob":{"DataType":"Binary","BinaryValue":"blob bytes"}}`)
	sum := md5.Sum([]byte(body))
	want(t, "MD5OfMessageBody", sent["MD5OfMessageBody"], hex.EncodeToString(sum[:]))
	msgs := c.receive(url, "--message-attribute-names", "All", "--attribute-names", "All")
	if len(msgs) != 1 {
		t.Fatalf("received %v", msgs)
	}
	m := obj(msgs[0])
	want(t, "body", m["Body"], body)
	want(t, "MD5OfMessageAttributes", m["MD5OfMessageAttributes"], sent["MD5OfMessageAttributes"])
	attrs := obj(m["MessageAttributes"])
	want(t, "Number attribute", obj(attrs["count"])["StringValue"], "42")
	// The CLI v1 sends a blob given as text as its bytes, and prints
	// received blobs in base64.
	want(t, "Binary attribute", obj(attrs["blob"])["BinaryValue"], base64.StdEncoding.EncodeToString([]byte("blob bytes")))
	want(t, "SenderId", obj(m["Attributes"])["SenderId"], accessKey)
	c.must("sqs", "delete-message", "--queue-url", url, "--receipt-handle", str(m["ReceiptHandle"]))
	want(t, "counts after delete-message", c.counts(url), "0/0")
	c.mustFail("InvalidMessageContents", "sqs", "send-message", "--queue-url", url, "--message-body", "a\uFFFEb")
	// A delayed message stays hidden for its delay. Each CLI v1 call
	// starts a Python interpreter, which on a loaded machine can take
	// longer than the delay itself, so the check is on the time that
	// passed, not on the receive coming right after the send.
	const delay = 8 * time.Second
	sentAt := time.Now()
	c.must("sqs", "send-message", "--queue-url", url, "--message-body", "later", "--delay-seconds", "8")
	if got := len(c.receive(url)); got != 0 {
		if since := time.Since(sentAt); since < delay {
			t.Errorf("received %d messages %s after sending one delayed %s", got, since.Round(time.Millisecond), delay)
		}
		return // its delay had passed: it came at its time
	}
	want(t, "the delayed message after its delay, by a long poll", len(c.receive(url, "--wait-time-seconds", "20")), 1)
}

func cliBatch(t *testing.T, c *cli) {
	url := str(c.must("sqs", "create-queue", "--queue-name", "cli-batch")["QueueUrl"])
	sent := c.must("sqs", "send-message-batch", "--queue-url", url, "--entries",
		`[{"Id":"m0","MessageBody":"body 0"},{"Id":"m1","MessageBody":"body 1"},{"Id":"m2","MessageBody":"body 2"}]`)
	want(t, "send-message-batch successful", len(list(sent["Successful"])), 3)
	msgs := c.receive(url, "--visibility-timeout", "30")
	if len(msgs) != 3 {
		t.Fatalf("received %d of 3", len(msgs))
	}
	handle := func(i int) string { return str(obj(msgs[i])["ReceiptHandle"]) }
	cv := c.must("sqs", "change-message-visibility-batch", "--queue-url", url, "--entries",
		fmt.Sprintf(`[{"Id":"ok","ReceiptHandle":%q,"VisibilityTimeout":0},{"Id":"bad","ReceiptHandle":"bogus","VisibilityTimeout":5}]`, handle(0)))
	want(t, "change-message-visibility-batch successful", len(list(cv["Successful"])), 1)
	failed := list(cv["Failed"])
	if len(failed) != 1 || obj(failed[0])["Code"] != "ReceiptHandleIsInvalid" || obj(failed[0])["SenderFault"] != true {
		t.Fatalf("change-message-visibility-batch failed entries %v", failed)
	}
	want(t, "counts after making one visible", c.counts(url), "1/2")
	del := c.must("sqs", "delete-message-batch", "--queue-url", url, "--entries",
		fmt.Sprintf(`[{"Id":"d1","ReceiptHandle":%q},{"Id":"d2","ReceiptHandle":%q}]`, handle(1), handle(2)))
	want(t, "delete-message-batch successful", len(list(del["Successful"])), 2)
	want(t, "counts after delete-message-batch", c.counts(url), "1/0")
	c.must("sqs", "purge-queue", "--queue-url", url)
	want(t, "counts after purge-queue", c.counts(url), "0/0")
	c.mustFail("AWS.SimpleQueueService.PurgeQueueInProgress", "sqs", "purge-queue", "--queue-url", url)
	var eleven []string
	for i := range 11 {
		eleven = append(eleven, fmt.Sprintf(`{"Id":"e%d","MessageBody":"x"}`, i))
	}
	c.mustFail("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "sqs", "send-message-batch", "--queue-url", url, "--entries", "["+strings.Join(eleven, ",")+"]")
	c.mustFail("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "sqs", "send-message-batch", "--queue-url", url, "--entries",
		`[{"Id":"a","MessageBody":"x"},{"Id":"a","MessageBody":"y"}]`)
	c.mustFail("AWS.SimpleQueueService.InvalidBatchEntryId", "sqs", "send-message-batch", "--queue-url", url, "--entries",
		`[{"Id":"`+strings.Repeat("a", 81)+`","MessageBody":"x"}]`)
}

func cliVisibility(t *testing.T, c *cli) {
	url := str(c.must("sqs", "create-queue", "--queue-name", "cli-visibility")["QueueUrl"])
	c.must("sqs", "send-message", "--queue-url", url, "--message-body", "v")
	// A CLI run takes a second or more to start, so nothing here waits
	// for a short timeout to pass; the JS scenario does.
	first := c.receive(url, "--visibility-timeout", "60")
	want(t, "first receive", len(first), 1)
	want(t, "received while in flight", len(c.receive(url)), 0)
	c.must("sqs", "change-message-visibility", "--queue-url", url, "--receipt-handle", str(obj(first[0])["ReceiptHandle"]), "--visibility-timeout", "0")
	again := c.receive(url, "--attribute-names", "ApproximateReceiveCount", "--visibility-timeout", "60")
	if len(again) != 1 {
		t.Fatalf("received %d after change-message-visibility 0", len(again))
	}
	want(t, "receive count", obj(obj(again[0])["Attributes"])["ApproximateReceiveCount"], "2")
	c.must("sqs", "change-message-visibility", "--queue-url", url, "--receipt-handle", str(obj(again[0])["ReceiptHandle"]), "--visibility-timeout", "0")
	third := c.receive(url, "--attribute-names", "All")
	if len(third) != 1 {
		t.Fatalf("received %d after change-message-visibility 0", len(third))
	}
	want(t, "receive count after change-message-visibility 0", obj(obj(third[0])["Attributes"])["ApproximateReceiveCount"], "3")
	c.mustFail("ReceiptHandleIsInvalid", "sqs", "delete-message", "--queue-url", url, "--receipt-handle", "not-a-handle")
}

func cliRedrive(t *testing.T, c *cli) {
	dlq := str(c.must("sqs", "create-queue", "--queue-name", "cli-dlq")["QueueUrl"])
	dlqArn := c.arn(dlq)
	src := str(c.must("sqs", "create-queue", "--queue-name", "cli-src", "--attributes",
		`{"RedrivePolicy":"{\"deadLetterTargetArn\":\"`+dlqArn+`\",\"maxReceiveCount\":\"1\"}"}`)["QueueUrl"])
	// Ten messages, so that the task at one message a second below is
	// still running when it is cancelled.
	var entries []string
	for i := range 10 {
		entries = append(entries, fmt.Sprintf(`{"Id":"m%d","MessageBody":"m%d"}`, i, i))
	}
	c.must("sqs", "send-message-batch", "--queue-url", src, "--entries", "["+strings.Join(entries, ",")+"]")
	want(t, "received the ten", len(c.receive(src, "--visibility-timeout", "1")), 10)
	time.Sleep(1100 * time.Millisecond)
	want(t, "a receive past maxReceiveCount", len(c.receive(src)), 0)
	want(t, "DLQ counts", c.counts(dlq), "10/0")
	want(t, "list-dead-letter-source-queues", list(c.must("sqs", "list-dead-letter-source-queues", "--queue-url", dlq)["queueUrls"]), []any{src})
	task := str(c.must("sqs", "start-message-move-task", "--source-arn", dlqArn)["TaskHandle"])
	if task == "" {
		t.Fatal("start-message-move-task returned no TaskHandle")
	}
	var status string
	for range 50 {
		r := list(c.must("sqs", "list-message-move-tasks", "--source-arn", dlqArn)["Results"])
		if len(r) > 0 {
			if status = str(obj(r[0])["Status"]); status == "COMPLETED" {
				want(t, "moved", obj(r[0])["ApproximateNumberOfMessagesMoved"], 10)
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	want(t, "the move task's status", status, "COMPLETED")
	want(t, "source counts after the move", c.counts(src), "10/0")
	// Back to the DLQ, then a slow task to another queue, cancelled.
	c.receive(src, "--visibility-timeout", "1")
	time.Sleep(1100 * time.Millisecond)
	c.receive(src)
	want(t, "DLQ counts before the cancelled task", c.counts(dlq), "10/0")
	dest := str(c.must("sqs", "create-queue", "--queue-name", "cli-dest")["QueueUrl"])
	slow := str(c.must("sqs", "start-message-move-task", "--source-arn", dlqArn, "--destination-arn", c.arn(dest),
		"--max-number-of-messages-per-second", "1")["TaskHandle"])
	c.must("sqs", "cancel-message-move-task", "--task-handle", slow)
	for range 50 {
		r := list(c.must("sqs", "list-message-move-tasks", "--source-arn", dlqArn)["Results"])
		if status = str(obj(r[0])["Status"]); status == "CANCELLED" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	want(t, "the cancelled task's status", status, "CANCELLED")
}

func cliObjects(t *testing.T, c *cli) {
	c.must("s3api", "create-bucket", "--bucket", "cli-objects")
	c.must("s3api", "head-bucket", "--bucket", "cli-objects")
	found := false
	for _, b := range list(c.must("s3api", "list-buckets")["Buckets"]) {
		found = found || obj(b)["Name"] == "cli-objects"
	}
	if !found {
		t.Fatal("list-buckets lacks cli-objects")
	}
	src := filepath.Join(t.TempDir(), "a.txt")
	content := "attachment é bytes"
	if err := os.WriteFile(src, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(content))
	put := c.must("s3api", "put-object", "--bucket", "cli-objects", "--key", "a/b.txt", "--body", src, "--content-type", "text/plain", "--metadata", "owner=mail")
	want(t, "put-object ETag", put["ETag"], `"`+hex.EncodeToString(sum[:])+`"`)
	head := c.must("s3api", "head-object", "--bucket", "cli-objects", "--key", "a/b.txt")
	want(t, "head-object", []any{head["ContentLength"], head["ContentType"], obj(head["Metadata"])["owner"]}, []any{len(content), "text/plain", "mail"})
	out := filepath.Join(t.TempDir(), "out.txt")
	c.must("s3api", "get-object", "--bucket", "cli-objects", "--key", "a/b.txt", out)
	if b, _ := os.ReadFile(out); string(b) != content {
		t.Fatalf("get-object wrote %q", b)
	}
	c.must("s3api", "copy-object", "--bucket", "cli-objects", "--key", "copy.txt", "--copy-source", "cli-objects/a/b.txt")
	c.must("s3api", "get-object", "--bucket", "cli-objects", "--key", "copy.txt", out)
	if b, _ := os.ReadFile(out); string(b) != content {
		t.Fatalf("the copy holds %q", b)
	}
	c.must("s3api", "delete-object", "--bucket", "cli-objects", "--key", "a/b.txt")
	c.mustFail("404", "s3api", "head-object", "--bucket", "cli-objects", "--key", "a/b.txt")
	c.mustFail("NoSuchKey", "s3api", "get-object", "--bucket", "cli-objects", "--key", "a/b.txt", out)
	c.must("s3api", "delete-object", "--bucket", "cli-objects", "--key", "copy.txt")
	c.must("s3api", "delete-bucket", "--bucket", "cli-objects")
	c.mustFail("404", "s3api", "head-bucket", "--bucket", "cli-objects")
}

func cliMultipart(t *testing.T, c *cli) {
	c.must("s3api", "create-bucket", "--bucket", "cli-multipart")
	dir := t.TempDir()
	parts := [][]byte{[]byte(strings.Repeat("a", 5<<20)), []byte("tail")}
	upload := str(c.must("s3api", "create-multipart-upload", "--bucket", "cli-multipart", "--key", "big.bin")["UploadId"])
	var done []string
	var sums []byte
	for i, p := range parts {
		f := filepath.Join(dir, fmt.Sprint("part", i))
		if err := os.WriteFile(f, p, 0o600); err != nil {
			t.Fatal(err)
		}
		r := c.must("s3api", "upload-part", "--bucket", "cli-multipart", "--key", "big.bin", "--upload-id", upload,
			"--part-number", fmt.Sprint(i+1), "--body", f)
		sum := md5.Sum(p)
		sums = append(sums, sum[:]...)
		want(t, fmt.Sprintf("upload-part %d ETag", i+1), r["ETag"], `"`+hex.EncodeToString(sum[:])+`"`)
		done = append(done, fmt.Sprintf(`{"PartNumber":%d,"ETag":%q}`, i+1, str(r["ETag"])))
	}
	fin := c.must("s3api", "complete-multipart-upload", "--bucket", "cli-multipart", "--key", "big.bin", "--upload-id", upload,
		"--multipart-upload", `{"Parts":[`+strings.Join(done, ",")+`]}`)
	all := md5.Sum(sums)
	etag := `"` + hex.EncodeToString(all[:]) + `-2"`
	want(t, "complete-multipart-upload ETag", fin["ETag"], etag)
	head := c.must("s3api", "head-object", "--bucket", "cli-multipart", "--key", "big.bin")
	want(t, "head-object of the assembled object", []any{head["ContentLength"], head["ETag"]}, []any{5<<20 + 4, etag})
}

func cliListing(t *testing.T, c *cli) {
	c.must("s3api", "create-bucket", "--bucket", "cli-listing")
	f := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a/1", "a/2", "a/3", "b/1", "c"}
	for _, k := range keys {
		c.must("s3api", "put-object", "--bucket", "cli-listing", "--key", k, "--body", f)
	}
	page := c.must("s3api", "list-objects-v2", "--bucket", "cli-listing", "--max-keys", "2", "--no-paginate")
	want(t, "list-objects-v2 --max-keys 2", []any{len(list(page["Contents"])), page["IsTruncated"], str(page["NextContinuationToken"]) != ""}, []any{2, true, true})
	// With --page-size the CLI follows the continuation tokens itself.
	all := c.must("s3api", "list-objects-v2", "--bucket", "cli-listing", "--page-size", "2")
	var got []string
	for _, o := range list(all["Contents"]) {
		got = append(got, str(obj(o)["Key"]))
	}
	want(t, "list-objects-v2 over pages of 2", got, keys)
	delim := c.must("s3api", "list-objects-v2", "--bucket", "cli-listing", "--delimiter", "/")
	var prefixes []string
	for _, p := range list(delim["CommonPrefixes"]) {
		prefixes = append(prefixes, str(obj(p)["Prefix"]))
	}
	want(t, "list-objects-v2 --delimiter / prefixes", prefixes, []string{"a/", "b/"})
}

func cliPresigned(t *testing.T, c *cli) {
	c.must("s3api", "create-bucket", "--bucket", "cli-presigned")
	f := filepath.Join(t.TempDir(), "p.txt")
	if err := os.WriteFile(f, []byte("presigned body"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.must("s3api", "put-object", "--bucket", "cli-presigned", "--key", "p.txt", "--body", f)
	cmd := exec.Command(c.bin, "--endpoint-url", c.endpoint, "s3", "presign", "s3://cli-presigned/p.txt", "--expires-in", "300")
	cmd.Env = c.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws s3 presign: %v", err)
	}
	url := strings.TrimSpace(string(out))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want(t, "GET of the presigned URL", []any{resp.StatusCode, string(b)}, []any{200, "presigned body"})
	forged := regexp.MustCompile(`X-Amz-Signature=[0-9a-f]+`).ReplaceAllString(url, "X-Amz-Signature="+strings.Repeat("0", 64))
	if forged == url {
		t.Fatalf("the presigned URL %s has no X-Amz-Signature", url)
	}
	resp, err = http.Get(forged)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want(t, "GET of the presigned URL with its signature changed", resp.StatusCode, 403)
}
