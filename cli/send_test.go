package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

// startRuntime starts a local runtime allowing senders (nil: its defaults)
// and returns it with the items of each execution it finishes.
func startRuntime(t *testing.T, senders []string, defaultSender string) (*local.Runtime, chan []execstore.Item) {
	t.Helper()
	done := make(chan []execstore.Item, 10)
	rt, err := local.Start(context.Background(), local.Config{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", BatchWindow: 10 * time.Millisecond,
		AllowedSenders: senders, DefaultSender: defaultSender,
		OnExecution: func(_ execstore.Execution, items []execstore.Item) { done <- items },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt, done
}

func waitSent(t *testing.T, done chan []execstore.Item, mailID string) {
	t.Helper()
	select {
	case items := <-done:
		if len(items) != 1 || items[0].Outcome != "sent" || items[0].MailID != mailID {
			t.Fatalf("items %+v, want %s sent", items, mailID)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("mail %s was not processed", mailID)
	}
}

// TestSendFromAllowedSender sends with --from an allowed sender other than
// the default one, to a runtime with the default senders and to one with
// senders of its own, and checks that the pipeline sends each mail.
func TestSendFromAllowedSender(t *testing.T) {
	t.Parallel()
	rt, done := startRuntime(t, nil, "")
	code, out, errOut := run(t, context.Background(), "send", "--endpoint", rt.Endpoint(),
		"--from", "Billing <billing@example.com>", "--to", "jane@example.org", "--subject", "Invoice", "--text", "attached",
		"--mail-id", "from-default-domain")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	waitSent(t, done, "from-default-domain")

	rt, done = startRuntime(t, []string{"acme.org", "ops@other.net"}, "ops@other.net")
	for _, c := range []struct{ mailID, from string }{{"from-own-domain", "news@acme.org"}, {"from-default-sender", ""}} {
		args := []string{"send", "--endpoint", rt.Endpoint(), "--sender", "acme.org", "--sender", "ops@other.net",
			"--default-sender", "ops@other.net", "--to", "jane@example.org", "--subject", "News", "--text", "hello", "--mail-id", c.mailID}
		if c.from != "" {
			args = append(args, "--from", c.from)
		}
		code, out, errOut := run(t, context.Background(), args...)
		if code != cli.ExitOK {
			t.Fatalf("%s: exit %d: %s %s", c.mailID, code, out, errOut)
		}
		waitSent(t, done, c.mailID)
	}
}

// TestSendRefusesDisallowedSender: a sender the pipeline does not allow is
// refused before anything is enqueued, with the senders it allows.
func TestSendRefusesDisallowedSender(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "x@other.org"}, `--from "x@other.org" is not an allowed sender; the pipeline allows example.com`},
		{[]string{"--from", "x@other.org", "--sender", "acme.org", "--sender", "ops@other.net"}, "the pipeline allows acme.org, ops@other.net"},
		{[]string{"--from", "not an address"}, `--from "not an address"`},
		{[]string{"--sender", "acme.org"}, "--from is required: no default sender is known"},
		{[]string{"--sender", "acme.org", "--default-sender", "ops@other.net"}, `DefaultSender "ops@other.net" is not among AllowedSenders`},
		{[]string{"--aws", "--queue-url", "https://sqs.example/q", "--bucket", "b", "--from", "ops@acme.org"}, "--aws needs the deployment's allowed senders"},
	} {
		// An endpoint nobody listens on: nothing may be sent.
		args := append([]string{"send", "--endpoint", "http://127.0.0.1:1", "--to", "jane@example.org", "--subject", "s", "--text", "t"}, c.args...)
		code, _, errOut := run(t, context.Background(), args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want usage error %q", c.args, code, errOut, c.want)
		}
	}
}

// TestSendTakesTheRunningDevsSenders: with no --sender, send checks the
// sender against those of the dev running on the data directory it is
// given, which wrote them into its dev file.
func TestSendTakesTheRunningDevsSenders(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dev := startDev(t, data, "--sender", "acme.org", "--sender", "ops@other.net", "--default-sender", "ops@other.net")
	send := func(extra ...string) (int, string, string) {
		return run(t, context.Background(), append([]string{"send", "--data", data, "--endpoint", dev.info.Endpoint,
			"--to", "jane@example.org", "--subject", "News", "--text", "hello"}, extra...)...)
	}
	for _, c := range []struct{ mailID, from string }{{"dev-own-domain", "news@acme.org"}, {"dev-default-sender", ""}} {
		args := []string{"--mail-id", c.mailID}
		if c.from != "" {
			args = append(args, "--from", c.from)
		}
		if code, out, errOut := send(args...); code != cli.ExitOK {
			t.Fatalf("%s: exit %d: %s %s", c.mailID, code, out, errOut)
		}
	}
	waitFor(t, "both mails to be sent", func() bool { return countOutcome(listJSON(t, data), workflow.OutcomeSent) == 2 })
	if code, _, errOut := send("--from", "billing@example.com"); code != cli.ExitUsage ||
		!strings.Contains(errOut, `--from "billing@example.com" is not an allowed sender; the pipeline allows acme.org, ops@other.net`) {
		t.Errorf("a sender the dev does not allow: exit %d: %s", code, errOut)
	}
}
