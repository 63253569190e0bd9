package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mailflow/mailflow/workflow"
)

func TestMain(m *testing.M) {
	// Child mode: run a real Lambda function through aws-lambda-go's own
	// runtime loop, against the Runtime API the parent test serves.
	if name := os.Getenv("MAILFLOW_TEST_LAMBDA_ERROR"); name != "" {
		lambda.Start(func(ctx context.Context, in json.RawMessage) (string, error) {
			inner := fmt.Errorf("ses said no: %w", errors.New("554 rejected"))
			return "", workflow.LambdaError(fmt.Errorf("send: %w", workflow.Wrap(workflow.ErrorName(name), inner)))
		})
		return
	}
	os.Exit(m.Run())
}

// TestLambdaErrorTypeThroughRuntime invokes a handler through aws-lambda-go's
// invoke loop and checks the errorType it reports to the Lambda Runtime API:
// that is the name Step Functions' Retry and Catch match on.
func TestLambdaErrorTypeThroughRuntime(t *testing.T) {
	t.Parallel()
	for _, name := range workflow.ErrorNames() {
		t.Run(string(name), func(t *testing.T) {
			reported := make(chan map[string]string, 1)
			var served atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/runtime/invocation/next"):
					if served.Swap(true) {
						<-r.Context().Done() // no second invocation: hold the poll open
						return
					}
					w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
					w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
					w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111111111111:function:send")
					io.WriteString(w, `{"mailId":"m-1"}`)
				case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/runtime/invocation/req-1/error"):
					var body map[string]string
					b, _ := io.ReadAll(r.Body)
					if err := json.Unmarshal(b, &body); err != nil {
						t.Errorf("error body %q: %v", b, err)
					}
					w.WriteHeader(http.StatusAccepted)
					reported <- body
				default:
					w.WriteHeader(http.StatusAccepted)
				}
			}))
			defer srv.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(),
				"MAILFLOW_TEST_LAMBDA_ERROR="+string(name),
				"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"))
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

			select {
			case body := <-reported:
				if workflow.ErrorName(body["errorType"]) != name {
					t.Fatalf("errorType = %q, want %q", body["errorType"], name)
				}
				if !strings.Contains(body["errorMessage"], "554 rejected") {
					t.Fatalf("errorMessage %q lost the cause", body["errorMessage"])
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the function reported no error")
			}
		})
	}
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	err := fmt.Errorf("outer: %w", workflow.Wrap(workflow.Transient, base))
	if got := workflow.NameOf(err); got != workflow.Transient {
		t.Fatalf("NameOf = %q", got)
	}
	if !errors.Is(err, base) {
		t.Fatal("the cause is not reachable with errors.Is")
	}
	if workflow.NameOf(base) != "" || workflow.LambdaError(base) != base || workflow.LambdaError(nil) != nil {
		t.Fatal("errors without a mail name must pass unchanged")
	}
	e := workflow.Errorf(workflow.LockBusy, "held by %s until %s: %w", "exec-1", "12:00", base)
	if e.Cause() != "held by exec-1 until 12:00: boom" || !errors.Is(e, base) {
		t.Fatalf("Errorf = %q", e.Cause())
	}
	if workflow.NameOf(workflow.LambdaError(e)) != workflow.LockBusy {
		t.Fatal("LambdaError lost the name")
	}
	for _, n := range workflow.ErrorNames() {
		if workflow.KindOf(n) == workflow.KindUnknown {
			t.Errorf("%s has no kind", n)
		}
	}
	if workflow.KindOf("Lambda.Unknown") != workflow.KindUnknown {
		t.Fatal("foreign names have no kind")
	}
}
