package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/workflow"
)

// TestSendWait sends through a running local runtime with --wait and checks
// each way it ends: sent (exit 0), the same mailId again (already-sent,
// exit 0), dead-lettered with the reason printed (exit 1), and no outcome
// within --timeout (exit 3).
func TestSendWait(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	rt, err := local.Start(context.Background(), local.Config{DataDir: data, Addr: "127.0.0.1:0", BatchWindow: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	send := func(extra ...string) (int, string, string) {
		t.Helper()
		return run(t, context.Background(), append([]string{"send", "--data", data, "--endpoint", rt.Endpoint(),
			"--subject", "Hi", "--text", "hello", "--wait"}, extra...)...)
	}
	for _, c := range []struct{ want string }{{"mail wait-1 sent (execution "}, {"mail wait-1 already-sent (execution "}} {
		code, out, errOut := send("--to", "ann@example.org", "--mail-id", "wait-1")
		if code != cli.ExitOK || !strings.Contains(out, c.want) {
			t.Fatalf("exit %d, stdout %q, stderr %q; want exit 0 and %q", code, out, errOut, c.want)
		}
	}

	if code, out, errOut := run(t, context.Background(), "suppression", "add", "gone@example.org", "--reason", "BOUNCE", "--data", data); code != cli.ExitOK {
		t.Fatalf("suppression add: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut := send("--to", "gone@example.org", "--mail-id", "wait-2")
	if want := "mail wait-2 dead-lettered (execution "; code != cli.ExitFailure || !strings.Contains(errOut, want) || !strings.Contains(errOut, "Mail.Suppressed") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and %q with Mail.Suppressed", code, out, errOut, want)
	}

	// SES throttles every attempt: the execution gives the record back to
	// the queue, which redelivers it only after its visibility timeout.
	for range 50 {
		rt.SES().Inject(workflow.Throttled)
	}
	code, out, errOut = send("--to", "ann@example.org", "--mail-id", "wait-3", "--timeout", "3s")
	if want := "mail wait-3: no outcome within 3s"; code != cli.ExitTimeout || !strings.Contains(errOut, want) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 3 and %q", code, out, errOut, want)
	}
}

func TestSendWaitUsage(t *testing.T) {
	t.Parallel()
	base := []string{"send", "--to", "a@example.org", "--subject", "s", "--text", "t"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "5s"}, "--timeout is only for --wait"},
		{[]string{"--wait", "--timeout", "0s"}, "--timeout 0s must be positive"},
		{[]string{"--wait", "--aws", "--sender", "example.org", "--queue-url", "https://q", "--bucket", "b"}, "--wait with --aws needs --stack"},
		{[]string{"--wait", "--until", "bounced"}, `--until "bounced": want sent or delivered`},
		{[]string{"--until", "delivered"}, "--until is only for --wait"},
	} {
		code, _, errOut := run(t, context.Background(), append(base, tc.args...)...)
		if code != cli.ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want usage error %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestSendWaitChecksTheDataDirectoryFirst: --wait refuses, before it
// enqueues anything, a data directory that would never see the mail.
func TestSendWaitChecksTheDataDirectoryFirst(t *testing.T) {
	t.Parallel()
	base := []string{"send", "--to", "a@example.org", "--subject", "s", "--text", "t", "--wait"}
	// Nothing listens on the endpoint: an attempt to enqueue would fail
	// differently.
	empty := t.TempDir()
	code, _, errOut := run(t, context.Background(), append(base, "--data", empty, "--endpoint", "http://127.0.0.1:9")...)
	if want := empty + " holds no mailflow data"; code != cli.ExitFailure || !strings.Contains(errOut, want) {
		t.Errorf("empty data directory: exit %d, stderr %q; want exit 1 and %q", code, errOut, want)
	}
	data := t.TempDir()
	dev := startDev(t, data)
	code, _, errOut = run(t, context.Background(), append(base, "--data", data, "--endpoint", "http://127.0.0.1:9")...)
	if want := "--wait: the dev running on --data " + data + " serves " + dev.info.Endpoint + ", not --endpoint http://127.0.0.1:9"; code != cli.ExitUsage || !strings.Contains(errOut, want) {
		t.Errorf("another runtime's data directory: exit %d, stderr %q; want usage error %q", code, errOut, want)
	}
}

// TestSendWaitSeesTheQueuesRedrive: a record the pipeline gives back until
// the queue moves it to the dead-letter queue ends the wait with exit 1.
func TestSendWaitSeesTheQueuesRedrive(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	rt, err := local.Start(context.Background(), local.Config{DataDir: data, Addr: "127.0.0.1:0", BatchWindow: 10 * time.Millisecond,
		VisibilityTimeout: time.Second, AllowShortVisibility: true, MaxReceiveCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	for range 200 {
		rt.SES().Inject(workflow.Throttled)
	}
	code, out, errOut := run(t, context.Background(), "send", "--data", data, "--endpoint", rt.Endpoint(),
		"--to", "ann@example.org", "--subject", "Hi", "--text", "hello", "--mail-id", "wait-redrive", "--wait", "--timeout", "60s")
	if want := "mail wait-redrive dead-lettered by the queue after "; code != cli.ExitFailure || !strings.Contains(errOut, want) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
}

// TestSendWaitUntilDelivered follows mails to the SES simulator's delivery
// events: delivered ends with exit 0, a bounce with exit 1 naming the
// recipient and SES's bounce.
func TestSendWaitUntilDelivered(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	rt, err := local.Start(context.Background(), local.Config{DataDir: data, Addr: "127.0.0.1:0", BatchWindow: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	for _, c := range []struct {
		to, mailID string
		code       int
		want       string
	}{
		{"success@simulator.amazonses.com", "until-ok", cli.ExitOK, "mail until-ok delivered (execution "},
		{"bounce@simulator.amazonses.com", "until-bounce", cli.ExitFailure, "mail until-bounce not delivered to every recipient: bounce@simulator.amazonses.com bounced (Permanent"},
	} {
		code, out, errOut := run(t, context.Background(), "send", "--data", data, "--endpoint", rt.Endpoint(), "--subject", "Hi", "--text", "hello",
			"--to", c.to, "--mail-id", c.mailID, "--wait", "--until", "delivered", "--timeout", "60s")
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d and %q", c.mailID, code, out, errOut, c.code, c.want)
		}
	}
}
