package compat_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mailflow/mailflow/local/gateway"
	"github.com/mailflow/mailflow/local/s3local"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
)

const (
	accessKey = "AKIDCOMPAT"
	secretKey = "compat-secret"
)

// startEndpoint serves the SQS and S3 endpoints behind the gateway, as
// `mailflow dev` does, verifying every signature, on a loopback port.
func startEndpoint(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	queues, err := sqsstore.Open(filepath.Join(dir, "queues.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { queues.Close() })
	buckets, err := s3local.Open(filepath.Join(dir, "s3"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	router := gateway.Router{SQS: sqsapi.New(queues, sqsapi.Options{BaseURL: url}), S3: buckets,
		Policy: gateway.Policy{Addr: l.Addr().String(), Verifier: gateway.Verifier{AccessKeyID: accessKey, SecretAccessKey: secretKey}}}
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return url
}

// TestJavaScriptSDK runs scenarios.mjs with the AWS SDK for JavaScript v3.
func TestJavaScriptSDK(t *testing.T) {
	t.Parallel()
	script := installScenarios(t)
	endpoint := startEndpoint(t)
	cmd := exec.Command("node", script, endpoint)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secretKey,
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node scenarios.mjs: %v\n%s%s", err, out, stderr.Bytes())
	}
	ran := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r struct{ Scenario, Error string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("scenarios.mjs printed %q: %v", sc.Text(), err)
		}
		ran++
		if r.Error != "" {
			t.Errorf("JS SDK v3, scenario %s: %s", r.Scenario, r.Error)
		}
	}
	if ran < 11 {
		t.Fatalf("scenarios.mjs reported %d scenarios, want 11\n%s%s", ran, out, stderr.Bytes())
	}
}

// installScenarios installs the pinned packages of package-lock.json with
// npm ci into a cache directory keyed by the lockfile's hash, once for
// concurrent test binaries, copies scenarios.mjs beside them (an ES module
// resolves packages from its own directory, not NODE_PATH) and returns the
// copy's path. The repository never holds node_modules.
func installScenarios(t *testing.T) string {
	t.Helper()
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed; the compatibility suite needs Node.js and npm (see .ci/run)", bin)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Dir(file)
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	base := os.Getenv("MAILFLOW_TOOLS_CACHE")
	if base == "" {
		if base, err = os.UserCacheDir(); err != nil {
			base = os.TempDir()
		}
		base = filepath.Join(base, "mailflow")
	}
	dir := filepath.Join(base, "compat-npm-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	script, err := os.ReadFile(filepath.Join(src, "scenarios.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	// Keyed by content, so concurrent runs of different versions never
	// overwrite each other's copy.
	scriptSum := sha256.Sum256(script)
	copied := filepath.Join(dir, "scenarios-"+hex.EncodeToString(scriptSum[:6])+".mjs")
	if err := os.WriteFile(copied, script, 0o644); err != nil {
		t.Fatal(err)
	}
	done := filepath.Join(dir, ".installed")
	if _, err := os.Stat(done); err == nil {
		return copied
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return copied
}
