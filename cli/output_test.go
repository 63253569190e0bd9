package cli_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/local"
)

// decodeJSON fails unless out is one JSON value and nothing else.
func decodeJSON(t *testing.T, what, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: stdout is not JSON: %v\n%s", what, err, out)
	}
	if dec.More() {
		t.Fatalf("%s: stdout holds more than the JSON:\n%s", what, out)
	}
}

// TestOutputFormatFlag: -o takes json or table in any case, --json is -o
// json, and another value is a usage error naming the choices.
func TestOutputFormatFlag(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version", "-o", "json"}, {"version", "--output", "JSON"}, {"version", "--json"}, {"version", "-o=Json"}} {
		code, out, errOut := run(t, context.Background(), args...)
		var v struct {
			Version, Revision string
			Modified          *bool
		}
		decodeJSON(t, strings.Join(args, " "), out, &v)
		if code != cli.ExitOK || v.Version == "" || v.Revision == "" || v.Modified == nil || errOut != "" {
			t.Errorf("%v: exit %d, %+v, stderr %q", args, code, v, errOut)
		}
	}
	code, out, _ := run(t, context.Background(), "version", "-o", "table")
	if code != cli.ExitOK || !strings.HasPrefix(out, "mailflow ") {
		t.Errorf("version -o table: exit %d, %q", code, out)
	}
	for _, args := range [][]string{{"version", "-o", "yaml"}, {"executions", "list", "-o", "yaml"}, {"send", "-o", "yaml"}} {
		code, _, errOut := run(t, context.Background(), args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, `"yaml" is not an output format: want json or table`) {
			t.Errorf("%v: exit %d, stderr %q; want a usage error naming json and table", args, code, errOut)
		}
	}
}

// TestJSONOutputOfEachCommand: send, send --wait, executions list and
// show, mail status, events and suppression list print JSON alone on
// stdout with -o json.
func TestJSONOutputOfEachCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	rt, err := local.Start(ctx, local.Config{DataDir: data, Addr: "127.0.0.1:0", BatchWindow: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	send := []string{"send", "--endpoint", rt.Endpoint(), "--data", data, "--to", "ann@example.org", "--subject", "Hi", "--text", "hello"}

	code, out, errOut := run(t, ctx, append(send, "--mail-id", "json-1", "-o", "json")...)
	var sent struct {
		MailID, MessageID string
		Uploaded          []string
	}
	decodeJSON(t, "send", out, &sent)
	if code != cli.ExitOK || sent.MailID != "json-1" || sent.MessageID == "" || sent.Uploaded == nil {
		t.Fatalf("send -o json: exit %d, %+v, stderr %q", code, sent, errOut)
	}

	code, out, errOut = run(t, ctx, append(send, "--mail-id", "json-2", "--wait", "--timeout", "60s", "-o", "json")...)
	var waited struct {
		MailID, MessageID string
		Wait              struct{ Outcome, ExecutionID string }
	}
	decodeJSON(t, "send --wait", out, &waited)
	if code != cli.ExitOK || waited.MailID != "json-2" || waited.Wait.Outcome != "sent" || waited.Wait.ExecutionID == "" {
		t.Fatalf("send --wait -o json: exit %d, %+v, stderr %q", code, waited, errOut)
	}

	code, out, errOut = run(t, ctx, "executions", "list", "--data", data, "-o", "json")
	var page struct {
		Executions []struct{ Name string }
	}
	decodeJSON(t, "executions list", out, &page)
	if code != cli.ExitOK || len(page.Executions) == 0 {
		t.Fatalf("executions list -o json: exit %d, %+v, stderr %q", code, page, errOut)
	}
	code, out, errOut = run(t, ctx, "executions", "show", page.Executions[0].Name, "--data", data, "-o", "json")
	var shown struct{ Name string }
	decodeJSON(t, "executions show", out, &shown)
	if code != cli.ExitOK || shown.Name != page.Executions[0].Name {
		t.Fatalf("executions show -o json: exit %d, %+v, stderr %q", code, shown, errOut)
	}

	code, out, errOut = run(t, ctx, "mail", "status", "json-2", "--data", data, "-o", "json")
	var status struct{ MailID string }
	decodeJSON(t, "mail status", out, &status)
	if code != cli.ExitOK || status.MailID != "json-2" {
		t.Fatalf("mail status -o json: exit %d, %+v, stderr %q", code, status, errOut)
	}

	code, out, errOut = run(t, ctx, "suppression", "list", "--data", data, "-o", "json")
	var entries struct{ Entries []any }
	decodeJSON(t, "suppression list", out, &entries)
	if code != cli.ExitOK || entries.Entries == nil {
		t.Fatalf("suppression list -o json: exit %d, %q, stderr %q", code, out, errOut)
	}

	// Events are JSON Lines: one event a line, so --follow can stream.
	waitFor(t, "the outcome events", func() bool {
		_, out, _ := run(t, ctx, "events", "--data", data, "-o", "json")
		return strings.Count(out, "\n") >= 2
	})
	code, out, errOut = run(t, ctx, "events", "--data", data, "-o", "json")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct{ Type, MailID string }
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Type == "" || e.MailID == "" {
			t.Fatalf("events -o json: exit %d, line %q: %v (stderr %q)", code, line, err, errOut)
		}
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestErrorsInUserTerms: a failure says what is wrong and what to do,
// without the SDK's words, which -v (before or after the command) adds.
func TestErrorsInUserTerms(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	send := []string{"send", "--endpoint", "http://" + addr, "--data", t.TempDir(), "--to", "ann@example.org", "--subject", "Hi", "--text", "hello"}
	code, out, errOut := run(t, context.Background(), send...)
	// What the command was doing stays in front: "client: enqueue MAILID: ".
	want := ": cannot reach the local queue at " + addr + ": is `mailflow dev` running?\n" +
		"hint: start it with `mailflow dev` in another terminal, or give the --endpoint of the one running\n" +
		"(run again with -v for the internal cause)\n"
	if code != cli.ExitFailure || !strings.HasPrefix(errOut, "mailflow send: client: enqueue cli-") || !strings.HasSuffix(errOut, want) ||
		strings.Contains(errOut, "operation error") || out != "" {
		t.Errorf("nothing listening: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	for _, args := range [][]string{append([]string{"-v"}, send...), append(append([]string{}, send...), "--verbose"), append(append([]string{}, send...), "-v")} {
		code, _, errOut := run(t, context.Background(), args...)
		if code != cli.ExitFailure || !strings.Contains(errOut, "cannot reach the local queue at "+addr) ||
			!strings.Contains(errOut, "\ncause:\n") || !strings.Contains(errOut, "  *smithy.OperationError: operation error SQS: SendMessage") || !strings.Contains(errOut, "connection refused") {
			t.Errorf("%v: exit %d, stderr %q; want the message and the cause chain", args, code, errOut)
		}
	}

	missing := t.TempDir() + "/nowhere"
	code, _, errOut = run(t, context.Background(), "mail", "status", "m-1", "--data", missing)
	if code != cli.ExitFailure || !strings.HasPrefix(errOut, "mailflow mail: no data directory at "+missing+"\nhint: the local runtime creates it: run `mailflow dev --data "+missing+"`") {
		t.Errorf("no data directory: exit %d, stderr %q", code, errOut)
	}
}

// TestAWSErrorsInUserTerms: missing credentials, a stack that does not
// exist and a refused permission, each as the SDK reports them (a real
// CloudFormation client against a loopback endpoint answering as
// CloudFormation does). Not parallel: it sets the AWS environment.
func TestAWSErrorsInUserTerms(t *testing.T) {
	for _, name := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MAILFLOW_STACK"} {
		t.Setenv(name, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_ENDPOINT_URL", "http://"+closedPort(t)) // never reached without credentials

	code, _, errOut := run(t, context.Background(), "executions", "list", "--aws", "--log-group", "/mailflow/sm")
	if want := "mailflow executions: log group /mailflow/sm: no AWS credentials found for CloudWatch Logs FilterLogEvents\nhint: configure them with `aws configure`"; code != cli.ExitFailure || !strings.HasPrefix(errOut, want) {
		t.Errorf("no credentials: exit %d, stderr %q; want %q", code, errOut, want)
	}

	cfn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		status, code, msg := http.StatusBadRequest, "ValidationError", "Stack with id "+r.Form.Get("StackName")+" does not exist"
		if r.Form.Get("StackName") == "locked" {
			status, code, msg = http.StatusForbidden, "AccessDenied", "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: cloudformation:DescribeStacks"
		}
		w.WriteHeader(status)
		w.Write([]byte(`<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>` + code +
			`</Code><Message>` + msg + `</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`))
	}))
	defer cfn.Close()
	t.Setenv("AWS_ENDPOINT_URL", cfn.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")

	code, _, errOut = run(t, context.Background(), "executions", "list", "--aws", "--stack", "nope")
	if want := "mailflow executions: stack nope: stack not found: Stack with id nope does not exist\nhint: check --stack (or MAILFLOW_STACK) and --region"; code != cli.ExitFailure || !strings.HasPrefix(errOut, want) {
		t.Errorf("stack not found: exit %d, stderr %q; want %q", code, errOut, want)
	}
	code, _, errOut = run(t, context.Background(), "-v", "executions", "list", "--aws", "--stack", "locked")
	if want := "mailflow executions: stack locked: AWS refused CloudFormation DescribeStacks: User: arn:aws:iam::123456789012:user/dev is not authorized to perform: cloudformation:DescribeStacks (AccessDenied)\nhint: the credentials in use lack the permission"; code != cli.ExitFailure || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "cause:\n") {
		t.Errorf("access denied: exit %d, stderr %q; want %q and the cause", code, errOut, want)
	}
}
