package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// LambdaChildEnv is set in the environment of a test binary that
// InvokeLambda re-runs as a Lambda function; its TestMain then calls main.
const LambdaChildEnv = "MAILFLOW_TEST_LAMBDA_CHILD"

// IsLambdaChild reports whether this test binary runs as a Lambda function.
func IsLambdaChild() bool { return os.Getenv(LambdaChildEnv) == "1" }

// LambdaResult is what the function reported to the Runtime API.
type LambdaResult struct {
	Response     json.RawMessage // the handler's output, on success
	ErrorType    string          // errorType, on failure: what Step Functions matches
	ErrorMessage string
	Exited       bool   // the process ended before reporting (start-up failure)
	Output       string // the process's stdout and stderr
}

// InvokeLambda runs the test binary itself as a Lambda function, with the
// extra environment env, through aws-lambda-go's own runtime loop: it serves
// the Runtime API on a loopback port, hands out one invocation with payload
// (and traceID as Lambda-Runtime-Trace-Id, if set), and returns what the
// function reported, or that it exited first.
func InvokeLambda(t testing.TB, env []string, payload []byte, traceID string) LambdaResult {
	t.Helper()
	return invokeLambda(t, exec.Command(os.Args[0], "-test.run=^$"), append([]string{LambdaChildEnv + "=1"}, env...), payload, traceID)
}

// InvokeLambdaBinary is InvokeLambda for a function built on its own (see
// BuildLambda): the binary at bin runs with the extra environment env.
func InvokeLambdaBinary(t testing.TB, bin string, env []string, payload []byte, traceID string) LambdaResult {
	t.Helper()
	return invokeLambda(t, exec.Command(bin), env, payload, traceID)
}

func invokeLambda(t testing.TB, cmd *exec.Cmd, env []string, payload []byte, traceID string) LambdaResult {
	t.Helper()
	var (
		mu     sync.Mutex
		served bool
	)
	reported := make(chan LambdaResult, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/runtime/invocation/next"):
			mu.Lock()
			first := !served
			served = true
			mu.Unlock()
			if !first {
				<-r.Context().Done() // one invocation only: hold the poll open
				return
			}
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
			w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111111111111:function:mailflow-test")
			if traceID != "" {
				w.Header().Set("Lambda-Runtime-Trace-Id", traceID)
			}
			_, _ = w.Write(payload)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/runtime/invocation/req-1/response"):
			b, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusAccepted)
			reported <- LambdaResult{Response: b}
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/runtime/invocation/req-1/error"):
			b, _ := io.ReadAll(r.Body)
			var body struct {
				Type    string `json:"errorType"`
				Message string `json:"errorMessage"`
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Errorf("testkit: error report %q: %v", b, err)
			}
			w.WriteHeader(http.StatusAccepted)
			reported <- LambdaResult{ErrorType: body.Type, ErrorMessage: body.Message}
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()

	var out bytes.Buffer
	var outMu sync.Mutex
	cmd.Env = append(Env("AWS_LAMBDA_RUNTIME_API", strings.TrimPrefix(srv.URL, "http://")), env...)
	w := writerFunc(func(p []byte) (int, error) { outMu.Lock(); defer outMu.Unlock(); return out.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	output := func() string { outMu.Lock(); defer outMu.Unlock(); return out.String() }

	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	var r LambdaResult
	select {
	case r = <-reported:
	case <-exited:
		select {
		case r = <-reported:
		default:
			r.Exited = true
		}
	case <-timeout.C:
		t.Fatalf("testkit: the function reported nothing within a minute; output:\n%s", output())
	}
	// Stop the function (it is waiting for a next invocation) and collect
	// all it printed.
	_ = cmd.Process.Kill()
	<-exited
	r.Output = output()
	return r
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// BuildLambda builds the main package pkg (an import path or a path
// relative to the repository root) into dir/<base of pkg>-bootstrap and
// returns the binary's path, for InvokeLambdaBinary. The binary is built
// for this machine, with the race detector when the calling test binary has
// it, so it checks what the test binary would have checked running main
// itself.
func BuildLambda(root, dir, pkg string) (string, error) {
	out := filepath.Join(dir, strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "_")+"-bootstrap")
	args := []string{"build", "-tags", "lambda.norpc", "-o", out}
	if raceBuild {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testkit: go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}
