package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/execstore"
)

func run(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(ctx, args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestDevDemo runs `mailflow dev --demo` as a user does and checks what it
// reports for each sample mail.
func TestDevDemo(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	code, out, errOut := run(t, context.Background(), "dev", "--demo", "--data", data, "--addr", "127.0.0.1:0")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"a receipt with an attachment         -> sent",
		"the same mail again (same mailId)    -> already-sent",
		"a mail SES throttles twice           -> sent, after 2 throttled attempts",
		"a message with a bad recipient       -> dead-lettered (Mail.InvalidMessage), in the dead-letter queue with mailflow.error=Mail.InvalidMessage: invalid message: to[0]: not an e-mail address",
		"a mail to SES's bounce@ simulator    -> sent, bounced (Permanent General), address suppressed",
		"a mail to SES's complaint@ simulator -> sent, complained (abuse), address suppressed",
		"the next mail to the bounced address -> dead-lettered (Mail.Suppressed), not handed to SES",
		"demo: 4 mail(s) of this run in",
		"(4 in all)",
		"next steps",
		"mailflow executions list --data " + data,
		"mailflow mail status demo-",
		"mailflow events --data " + data,
		"mailflow dlq list --data " + data,
		"mailflow dev --data " + data,
		"web console at http://127.0.0.1:4581 (`mailflow dev --demo --console 127.0.0.1:4581` serves it during the demo)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	files, _ := filepath.Glob(filepath.Join(data, "outbox", "*.eml"))
	if len(files) != 4 {
		t.Fatalf("%d files in the outbox, want 4", len(files))
	}

	// A second run in the same directory counts its own mail, not the
	// first run's, and with a console asked for names where it is served.
	code, out, errOut = run(t, context.Background(), "dev", "--demo", "--data", data, "--addr", "127.0.0.1:0", "--console", "127.0.0.1:0")
	if code != cli.ExitOK {
		t.Fatalf("second run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"demo: 4 mail(s) of this run in", "(8 in all)", "(served at http://127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("second run's output lacks %q:\n%s", want, out)
		}
	}
}

func TestSendToRunningDev(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	done := make(chan []execstore.Item, 10)
	rt, err := local.Start(context.Background(), local.Config{
		DataDir: data, Addr: "127.0.0.1:0", BatchWindow: 10 * time.Millisecond,
		OnExecution: func(_ execstore.Execution, items []execstore.Item) { done <- items },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	attachment := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(attachment, []byte("attached notes"), 0o644)
	html := filepath.Join(t.TempDir(), "body.html")
	os.WriteFile(html, []byte("<p>hello</p>"), 0o644)

	code, out, errOut := run(t, context.Background(), "send", "--endpoint", rt.Endpoint(),
		"--to", `"Doe, Jane" <jane@example.org>`, "--subject", "Notes", "--text", "see attached", "--html-file", html,
		"--attach", attachment, "--mail-id", "cli-test-1")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if !strings.Contains(out, "enqueued mail cli-test-1") {
		t.Fatalf("output %q", out)
	}
	select {
	case items := <-done:
		if len(items) != 1 || items[0].Outcome != "sent" || items[0].MailID != "cli-test-1" {
			t.Fatalf("items %+v", items)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the mail was not processed")
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"send", "--subject", "s", "--text", "t"}, "at least one of --to"},
		{[]string{"send", "--to", "a@example.org", "--text", "t"}, "--subject is required"},
		{[]string{"send", "--to", "a@example.org", "--subject", "s"}, "a body is required"},
		{[]string{"send", "--to", "a@example.org", "--subject", "s", "--text", "t", "--aws"}, "--aws needs --stack (or MAILFLOW_STACK), or --queue-url and --bucket"},
		{[]string{"send", "--to", "a@example.org", "--subject", "s", "--text", "t", "--text-file", "f"}, "mutually exclusive"},
		{[]string{"send", "--text", "t", "--text-file", "f", "--prefix", "x"}, "at least one of --to, --cc or --bcc is required\n--subject is required\n--text and --text-file are mutually exclusive\n--prefix \"x\" must end with /\n"},
		{[]string{"dev", "--batch-size", "0"}, "--batch-size 0 is outside"},
		{[]string{"dev", "--batch-window", "10m"}, "--batch-window 10m0s is outside"},
		{[]string{"dev", "--ses-rate", "-1"}, "--ses-rate -1 is negative"},
		{[]string{"dev", "--pacing", "sometimes"}, `--pacing "sometimes" must be on or off`},
		{[]string{"dev", "--batch-size", "0", "--ses-quota", "-1", "--max-receive-count", "0"}, "--batch-size 0 is outside 1..10000\n--ses-quota -1 is negative\n--max-receive-count 0 is outside 1..1000\n"},
		{[]string{"dev", "--history-max-age", "30s", "--history-max-count", "0"}, "--history-max-age 30s is outside 1m0s..3650 days\n--history-max-count 0 is outside 1..10000000\n"},
		{[]string{"dev", "--access-key", "team", "--secret-key", ""}, "--secret-key must be given with the access key id (both or neither)"},
		{[]string{"dev", "--secret-key", "s", "--access-key", ""}, "--access-key must be given with the secret access key (both or neither)"},
		{[]string{"dev", "--cors-origin", "*"}, `--cors-origin "*" is not an origin: wildcards are not accepted`},
		{[]string{"dev", "--cors-origin", "http://app.local:3000/"}, `--cors-origin "http://app.local:3000/" is not an origin: it has a path`},
		{[]string{"dev", "extra"}, `unexpected argument "extra"`},
		{[]string{"dev", "--no-such-flag"}, "flag provided but not defined"},
	} {
		code, _, errOut := run(t, context.Background(), tc.args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want usage error %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestDevRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	code, _, errOut := run(t, context.Background(), "dev", "--data", t.TempDir(), "--addr", "0.0.0.0:0")
	if code != cli.ExitFailure || !strings.Contains(errOut, "not a loopback address") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestDevStopsOnSignal(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() {
		result <- cli.Run(ctx, []string{"dev", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, strings.NewReader(""), &syncBuf{b: &out}, &errOut)
	}()
	cancel()
	select {
	case code := <-result:
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop")
	}
}

type syncBuf struct{ b *bytes.Buffer }

func (s *syncBuf) Write(p []byte) (int, error) { return s.b.Write(p) }
