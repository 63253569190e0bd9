package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/testkit/inspecttest"
)

// TestExecutionsListStatusAnyCase filters the executions of the log
// fixtures by --status spelled in several cases, and checks that the help
// explains the ! mark. Not parallel: it replaces the AWS backend.
func TestExecutionsListStatusAnyCase(t *testing.T) {
	logs := &inspecttest.FakeLogs{PageSize: 5}
	for _, f := range []string{"../inspect/testdata/express-with-data.jsonl", "../inspect/testdata/express-without-data.jsonl"} {
		if err := logs.LoadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	saved := openAWS
	defer func() { openAWS = saved }()
	openAWS = func(ctx context.Context, o awsOptions) (*inspect.Backend, error) {
		o.Config, o.Logs = &aws.Config{Region: "us-east-1"}, logs
		return openAWSBackend(ctx, o)
	}
	list := func(status string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), []string{"executions", "list", "--aws", "--log-group", "g", "--lookback", "87600h", "--json", "--status", status},
			strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	names := func(out string) []string {
		var got []string
		for _, n := range []string{"exec-a", "exec-b", "exec-c", "exec-d"} {
			if strings.Contains(out, `"name": "`+n+`"`) {
				got = append(got, n)
			}
		}
		return got
	}
	same := func(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }
	for _, group := range [][]string{
		{"SUCCEEDED", "succeeded", "Succeeded"},
		{"failed", "Failed", "fAILED"},
	} {
		code, want, errOut := list(group[0])
		if code != ExitOK || len(names(want)) == 0 {
			t.Fatalf("--status %s: exit %d, executions %v: %s", group[0], code, names(want), errOut)
		}
		for _, v := range group[1:] {
			code, out, errOut := list(v)
			if code != ExitOK || !same(names(out), names(want)) {
				t.Errorf("--status %s: exit %d, executions %v, want those of %s %v: %s", v, code, names(out), group[0], names(want), errOut)
			}
		}
	}
	// FAILED is the execution status, narrower than failed.
	_, failed, _ := list("failed")
	_, status, _ := list("FAILED")
	if !same(names(status), []string{"exec-c"}) || len(names(failed)) <= len(names(status)) {
		t.Errorf("--status FAILED: %v, --status failed: %v", names(status), names(failed))
	}
	if code, _, errOut := list("Bogus"); code != ExitUsage || !strings.Contains(errOut, `status "Bogus" is not one of`) {
		t.Errorf("--status Bogus: exit %d: %s", code, errOut)
	}

	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"executions", "list", "-h"}, strings.NewReader(""), &out, &errOut); code != ExitOK ||
		!strings.Contains(errOut.String(), "In the STATUS column, ! marks an execution with an item not delivered, or whose status is not SUCCEEDED or RUNNING.") {
		t.Errorf("executions list -h: exit %d, lacks the legend of !:\n%s", code, errOut.String())
	}
}
