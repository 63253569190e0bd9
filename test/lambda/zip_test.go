package lambda_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/pacer/dynamopacer"
	"github.com/mailflow/mailflow/suppression/dynamosuppression"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

// rieModule is the Lambda runtime interface emulator, pinned: the same
// Runtime API Lambda serves, in one binary the tests build from source.
const (
	rieModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

var (
	zipsOnce sync.Once
	zipsErr  error
	rieOnce  sync.Once
	riePath  string
	rieErr   error
)

// shippedZips builds the zips exactly as `make lambdas` ships them (arm64,
// into build/lambda/) and returns their directory.
func shippedZips(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	zipsOnce.Do(func() {
		out, err := exec.Command("make", "-C", root, "--no-print-directory", "lambdas").CombinedOutput()
		if err != nil {
			zipsErr = fmt.Errorf("make lambdas: %v\n%s", err, out)
		}
	})
	if zipsErr != nil {
		t.Fatal(zipsErr)
	}
	return filepath.Join(root, "build", "lambda")
}

// rie returns the emulator binary, built once into the tools cache.
func rie(t *testing.T) string {
	t.Helper()
	rieOnce.Do(func() {
		base := os.Getenv("MAILFLOW_TOOLS_CACHE")
		if base == "" {
			dir, err := os.UserCacheDir()
			if err != nil {
				rieErr = err
				return
			}
			base = filepath.Join(dir, "mailflow")
		}
		bin := filepath.Join(base, "aws-lambda-rie-"+rieVersion)
		riePath = filepath.Join(bin, "aws-lambda-rie")
		if _, err := os.Stat(riePath); err == nil {
			return
		}
		cmd := exec.Command("go", "install", rieModule+"/cmd/aws-lambda-rie@"+rieVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			rieErr = fmt.Errorf("building the runtime interface emulator: %v\n%s", err, out)
		}
	})
	if rieErr != nil {
		t.Fatal(rieErr)
	}
	return riePath
}

// unzipBootstrap extracts a zip as Lambda does, checking what Lambda
// needs: one executable named bootstrap at the root.
func unzipBootstrap(t *testing.T, path string) string {
	t.Helper()
	r, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	var found bool
	for _, f := range r.File {
		if f.Name != "bootstrap" {
			t.Errorf("%s holds %s besides bootstrap", path, f.Name)
			continue
		}
		found = true
		if f.Mode()&0o111 == 0 {
			t.Errorf("%s: bootstrap is not executable (mode %v): Lambda could not start it", path, f.Mode())
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatalf("%s has no bootstrap", path)
	}
	return filepath.Join(dir, "bootstrap")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// emulated is one zip running in the emulator.
type emulated struct {
	url string
	log *bytes.Buffer
}

// startZip runs the task's shipped zip in the emulator with env; on a host
// that is not arm64 the bootstrap runs under qemu-aarch64.
func startZip(t *testing.T, task string, env []string) emulated {
	t.Helper()
	bootstrap := unzipBootstrap(t, filepath.Join(shippedZips(t), task+".zip"))
	command := []string{bootstrap}
	if runtime.GOARCH != "arm64" {
		qemu, err := exec.LookPath("qemu-aarch64")
		if err != nil {
			t.Fatal("the zips are arm64 and this host is " + runtime.GOARCH + ": install qemu-user (qemu-aarch64) to run them")
		}
		command = []string{qemu, bootstrap}
	}
	api, front := freeAddr(t), freeAddr(t)
	cmd := exec.Command(rie(t), append([]string{"--runtime-api-address", api, "--runtime-interface-emulator-address", front, "--log-level", "error"}, command...)...)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = append(env, "PATH="+os.Getenv("PATH"), "AWS_LAMBDA_FUNCTION_NAME=mailflow-"+task, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_TIMEOUT=30")
	log := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", front)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator did not listen on %s:\n%s", front, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return emulated{url: "http://" + front + "/2015-03-31/functions/function/invocations", log: log}
}

// invokeZip posts one invocation, as Lambda's Invoke API would, and
// returns the body the function answered.
func (e emulated) invoke(t *testing.T, payload []byte) map[string]any {
	t.Helper()
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Post(e.url, "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, e.log)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("answer is not a JSON object (%d): %q\n%s", resp.StatusCode, b, e.log)
	}
	return out
}

// stackEnv is the environment the stack gives the tasks, with the AWS
// endpoints on loopback.
func stackEnv(endpoints map[string]string, table string) []string {
	return append(tasktest.AWSEnv(endpoints),
		taskkit.EnvLockTable+"="+table,
		taskkit.EnvSuppressionTable+"=mailflow-suppression",
		taskkit.EnvDeliveryTable+"=mailflow-delivery",
		taskkit.EnvOutcomeBus+"=mailflow-outcomes",
		taskkit.EnvEventsQueue+"=http://127.0.0.1:1/000000000000/events",
		taskkit.EnvEventsDeadLetterQueue+"=http://127.0.0.1:1/000000000000/events-dlq",
		taskkit.EnvBucket+"=mailflow-attachments",
		taskkit.EnvAttachmentPrefix+"=attachments/",
		taskkit.EnvStagingPrefix+"=staging/",
		taskkit.EnvAllowedSenders+"=example.com",
		taskkit.EnvMaxBodyBytes+"=16384",
		taskkit.EnvLease+"=10m0s",
		taskkit.EnvRetention+"=336h0m0s",
		taskkit.EnvConfigurationSet+"=transactional",
		taskkit.EnvMaxSendRate+"=14",
	)
}

// Every shipped zip boots in the Lambda runtime and answers an invocation
// it cannot use with a well-formed Lambda error (errorType and
// errorMessage), not a crash.
func TestZipsAnswerABadPayload(t *testing.T) {
	t.Parallel()
	env := stackEnv(map[string]string{"dynamodb": "http://127.0.0.1:1", "s3": "http://127.0.0.1:1", "sesv2": "http://127.0.0.1:1", "sqs": "http://127.0.0.1:1"}, "mailflow-locks")
	for _, task := range []string{"acquire-lock", "fetch-attachments", "send", "release-lock", "record-event", "reserve-sends"} {
		t.Run(task, func(t *testing.T) {
			e := startZip(t, task, env)
			out := e.invoke(t, []byte(`"not an object"`))
			typ, _ := out["errorType"].(string)
			msg, _ := out["errorMessage"].(string)
			if typ == "" || msg == "" {
				t.Errorf("answer %v has no errorType and errorMessage\n%s", out, e.log)
			}
		})
	}
}

// acquire-lock and release-lock, shipped, do their work against dynalite:
// the lock table and the suppression list. (The events queue is left out
// here; TestAcquireLockLambdaTellsTheEventsQueue covers it.)
func TestZipsAgainstDynamo(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, true, false, false)
	locks, _, table := svc.Locks(t)
	suppressions := "suppression-" + table
	if err := dynamosuppression.CreateTable(context.Background(), dynamodb.NewFromConfig(testkit.AWSConfig(svc.Dynamo)), suppressions); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range stackEnv(map[string]string{"dynamodb": svc.Dynamo}, table) {
		switch {
		case strings.HasPrefix(kv, taskkit.EnvEventsQueue+"="):
		case strings.HasPrefix(kv, taskkit.EnvSuppressionTable+"="):
			env = append(env, taskkit.EnvSuppressionTable+"="+suppressions)
		default:
			env = append(env, kv)
		}
	}
	record := func(mailID string) []byte {
		b, _ := json.Marshal(map[string]string{"messageId": "msg-1", "owner": "arn:aws:states:us-east-1:1:express:mail:exec-1/msg-1", "body": tasktest.Body(t, mailID, nil)})
		return b
	}

	acquire := startZip(t, "acquire-lock", env)
	if out := acquire.invoke(t, record("order-41")); out["outcome"] != "acquired" || out["mailId"] != "order-41" {
		t.Errorf("acquire-lock answered %v\n%s", out, acquire.log)
	}
	release := startZip(t, "release-lock", env)
	if out := release.invoke(t, record("order-42")); out["released"] != false || out["reason"] != "not-found" {
		t.Errorf("release-lock of a mail without a lock answered %v\n%s", out, release.log)
	}
	// AcquireLock only read the lock: the Send task's attempt takes it.
	// Held as a refused send leaves it, it is released.
	now := time.Now()
	if _, err := locks.Acquire(context.Background(), lock.AcquireParams{MailID: "order-41", Owner: "arn:aws:states:us-east-1:1:express:mail:exec-1/msg-1",
		ContentHash: "h", Now: now, LeaseUntil: now.Add(6 * time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if out := release.invoke(t, record("order-41")); out["released"] != true {
		t.Errorf("release-lock of a held lock answered %v\n%s", out, release.log)
	}
}

// reserve-sends, shipped, reserves a batch's send tokens against the pacer
// item in the lock table (dynalite, behind a proxy that counts requests):
// both records of the batch are granted, with one DynamoDB request, and the
// item holds both records' tokens.
func TestReserveSendsZipAgainstDynamo(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, true, false, false)
	_, _, table := svc.Locks(t)
	counted := testkit.NewFaultProxy(t, svc.Dynamo)
	// The stack's fixed rate (SES_MAX_SEND_RATE=14): no SES call.
	reserve := startZip(t, "reserve-sends", stackEnv(map[string]string{"dynamodb": counted.URL}, table))
	record := func(id, mailID string) map[string]any {
		return map[string]any{
			"messageId": id, "receiptHandle": "AQEB" + id, "body": tasktest.Body(t, mailID, nil),
			"attributes":        map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1765098000000"},
			"messageAttributes": map[string]any{}, "md5OfBody": "0123456789abcdef0123456789abcdef",
			"eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:mail", "awsRegion": "us-east-1",
		}
	}
	payload, _ := json.Marshal(map[string]any{"records": []any{record("msg-1", "order-51"), record("msg-2", "order-52")}})
	before := time.Now()
	out := reserve.invoke(t, payload)
	grants, _ := out["grants"].([]any)
	if len(grants) != 2 {
		t.Fatalf("reserve-sends answered %v\n%s", out, reserve.log)
	}
	for i, g := range grants {
		us, _ := g.(float64)
		// Within the burst (7 at 14/s): granted now.
		if at := time.UnixMicro(int64(us)); at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("grant %d: %v (%s), not about now\n%s", i, g, at, reserve.log)
		}
	}
	if n := counted.Hits(); n != 1 {
		t.Errorf("%d DynamoDB requests for one batch, want 1\n%s", n, reserve.log)
	}
	got, err := dynamodb.NewFromConfig(testkit.AWSConfig(svc.Dynamo)).GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{dynamopacer.DefaultKeyAttribute: &types.AttributeValueMemberS{Value: dynamopacer.DefaultKey}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tatAttr, _ := got.Item["tat"].(*types.AttributeValueMemberN)
	if tatAttr == nil {
		t.Fatalf("the pacer item %s: %v", dynamopacer.DefaultKey, got.Item)
	}
	var tat int64
	if _, err := fmt.Sscan(tatAttr.Value, &tat); err != nil {
		t.Fatal(err)
	}
	// One write of both records' tokens from an idle bucket: tat is the
	// grant's instant (rounded up to the microsecond) plus 2/14 s.
	cost := int64(math.Ceil(2.0 / 14 * 1e9))
	if d := tat - int64(grants[0].(float64))*1000; d < cost-1000 || d > cost+1 {
		t.Errorf("tat %d is %d ns after the grant, want the two records' %d", tat, d, cost)
	}
}
