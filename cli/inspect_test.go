package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/workflow"
)

// lockedBuf is a bytes.Buffer safe for a running dev to write while the
// test reads it.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// devProcess is `mailflow dev` running through cli.Run, as a user runs it.
type devProcess struct {
	info   datadir.DevInfo
	out    *lockedBuf
	cancel context.CancelFunc
	done   chan int
}

func startDev(t *testing.T, data string, flags ...string) *devProcess {
	t.Helper()
	os.Remove(filepath.Join(data, datadir.DevFile))
	ctx, cancel := context.WithCancel(context.Background())
	d := &devProcess{out: &lockedBuf{}, cancel: cancel, done: make(chan int, 1)}
	errOut := &lockedBuf{}
	args := append([]string{"dev", "--data", data, "--addr", "127.0.0.1:0", "--console", "off", "--batch-window", "10ms"}, flags...)
	go func() { d.done <- cli.Run(ctx, args, strings.NewReader(""), d.out, errOut) }()
	waitFor(t, "dev to start", func() bool {
		select {
		case code := <-d.done:
			t.Fatalf("dev exited with %d: %s", code, errOut.String())
		default:
		}
		raw, err := os.ReadFile(filepath.Join(data, datadir.DevFile))
		return err == nil && json.Unmarshal(raw, &d.info) == nil
	})
	t.Cleanup(d.stop)
	return d
}

func (d *devProcess) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	<-d.done
	d.cancel = nil
}

// waitFor polls cond with a bounded timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// cliCase is one command line and what it must print.
type cliCase struct {
	args    []string // {exec} and {data} are substituted
	code    int
	stdout  []string // each must appear (a leading ~ makes it a regexp)
	stderr  []string
	missing []string // must not appear in stdout
}

func runCases(t *testing.T, vars map[string]string, cases []cliCase) {
	t.Helper()
	for _, c := range cases {
		args := make([]string, len(c.args))
		for i, a := range c.args {
			for k, v := range vars {
				a = strings.ReplaceAll(a, "{"+k+"}", v)
			}
			args[i] = a
		}
		code, out, errOut := run(t, context.Background(), args...)
		name := strings.Join(c.args, " ")
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", name, code, c.code, out, errOut)
			continue
		}
		check := func(stream, text string, wants []string) {
			for _, w := range wants {
				for k, v := range vars {
					w = strings.ReplaceAll(w, "{"+k+"}", v)
				}
				ok := false
				if re, isRE := strings.CutPrefix(w, "~"); isRE {
					ok = regexp.MustCompile(re).MatchString(text)
				} else {
					ok = strings.Contains(text, w)
				}
				if !ok {
					t.Errorf("%s: %s lacks %q:\n%s", name, stream, w, text)
				}
			}
		}
		check("stdout", out, c.stdout)
		check("stderr", errOut, c.stderr)
		for _, m := range c.missing {
			if strings.Contains(out, m) {
				t.Errorf("%s: stdout has %q:\n%s", name, m, out)
			}
		}
	}
}

func listJSON(t *testing.T, data string, extra ...string) inspect.Page {
	t.Helper()
	code, out, errOut := run(t, context.Background(), append([]string{"executions", "list", "--data", data, "--json"}, extra...)...)
	if code != cli.ExitOK {
		t.Fatalf("executions list: exit %d: %s", code, errOut)
	}
	var p inspect.Page
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("executions list --json: %v\n%s", err, out)
	}
	return p
}

func countOutcome(p inspect.Page, outcome workflow.Outcome) int {
	n := 0
	for _, x := range p.Executions {
		n += x.OutcomeCounts()[outcome]
	}
	return n
}

func outboxFiles(data string) int {
	files, _ := filepath.Glob(filepath.Join(data, "outbox", "*.eml"))
	return len(files)
}

// TestInspectAndReplay drives the inspection commands against a running
// local runtime and against its data directory alone: a mail SES rejects
// (the sender is not verified) is dead-lettered; after a restart with the
// sender verified, `replay --failed-only` skips it (it failed permanently),
// `--force` delivers it and removes its dead-letter copy, a replay of the
// sent mail skips it; an invalid record replayed with --force is
// dead-lettered again without its first copy staying, `dlq redrive` moves
// it, and the commands keep working with no runtime running.
func TestInspectAndReplay(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dev := startDev(t, data, "--ses-verified", "someone@elsewhere.test")
	code, out, errOut := run(t, context.Background(), "send", "--endpoint", dev.info.Endpoint,
		"--to", "ann@example.org", "--subject", "Your receipt", "--text", "Thanks!", "--mail-id", "receipt-42")
	if code != cli.ExitOK {
		t.Fatalf("send: %d %s %s", code, out, errOut)
	}
	waitFor(t, "the rejected mail to be dead-lettered", func() bool {
		return countOutcome(listJSON(t, data), workflow.OutcomeDeadLettered) == 1
	})
	page := listJSON(t, data)
	vars := map[string]string{"data": data, "exec": page.Executions[0].Name}

	runCases(t, vars, []cliCase{
		{args: []string{"executions", "list", "--data", "{data}"}, stdout: []string{
			"STARTED (UTC)", "~SUCCEEDED !\\s+1\\s+", "dead-lettered 1 (Mail.Rejected)", "{exec}"}},
		{args: []string{"executions", "list", "--data", "{data}", "--status", "failed", "--mail-id", "receipt-42"}, stdout: []string{"dead-lettered 1"}},
		{args: []string{"executions", "list", "--data", "{data}", "--outcome", "sent"}, stdout: []string{"no executions"}},
		{args: []string{"executions", "list", "--data", "{data}", "--since", "1h", "--status", "SUCCEEDED"}, stdout: []string{"dead-lettered 1"}},
		{args: []string{"executions", "list", "--data", "{data}", "--until", "2000-01-01"}, stdout: []string{"no executions"}},
		{args: []string{"executions", "show", "{exec}", "--data", "{data}"}, stdout: []string{
			"status     SUCCEEDED (1 of 1 items not delivered)",
			"#0  dead-lettered  mail receipt-42",
			"Mail.Rejected: MessageRejected: Email address is not verified",
			"iteration 0", "~Send\\s+Task\\s+\\S+\\s+failed",
			"~DeadLetter\\s+Task\\s+\\S+\\s+succeeded",
		}},
		{args: []string{"executions", "show", "--json", "--data", "{data}", "{exec}"}, stdout: []string{`"outcome": "dead-lettered"`, `"timeline"`, `"retries"`}},
		{args: []string{"dlq", "list", "--data", "{data}"}, stdout: []string{
			"mail receipt-42  Mail.Rejected", "cause: MessageRejected: Email address is not verified", "1 message(s) in"}},
		{args: []string{"dlq", "list", "--data", "{data}", "--json"}, stdout: []string{`"error": "Mail.Rejected"`, `"mailId": "receipt-42"`}},
		{args: []string{"mail", "status", "receipt-42", "--data", "{data}"}, stdout: []string{
			"lock       none", "executions 1", "dead-lettered", "Mail.Rejected"}},
		// Mistakes are usage errors (exit 2) or clear failures (exit 1).
		{args: []string{"executions", "list", "--data", "{data}", "--status", "bogus"}, code: cli.ExitUsage, stderr: []string{`status "bogus" is not one of`}},
		{args: []string{"executions", "list", "--data", "{data}", "--since", "yesterday"}, code: cli.ExitUsage, stderr: []string{"want an RFC 3339 time"}},
		{args: []string{"executions", "list", "--data", "{data}", "--limit", "0"}, code: cli.ExitUsage, stderr: []string{"--limit 0 is outside 1..1000"}},
		{args: []string{"executions", "list", "--since", "1h", "--until", "2h", "--data", "{data}"}, code: cli.ExitUsage, stderr: []string{"until must be after since"}},
		{args: []string{"executions", "list", "--data", "{data}", "--status", "bogus", "--outcome", "lost", "--limit", "5000", "--since", "1h", "--until", "2h"}, code: cli.ExitUsage, stderr: []string{
			"--limit 5000 is outside 1..1000\nstatus \"bogus\" is not one of", `outcome "lost" is not one of`, "until must be after since"}},
		{args: []string{"executions"}, code: cli.ExitUsage, stderr: []string{"a subcommand is required: list, show"}},
		{args: []string{"executions", "delete"}, code: cli.ExitUsage, stderr: []string{`unknown subcommand "delete"`}},
		{args: []string{"executions", "show", "--data", "{data}"}, code: cli.ExitUsage, stderr: []string{"an execution ID is required"}},
		{args: []string{"executions", "show", "a", "b", "--data", "{data}"}, code: cli.ExitUsage, stderr: []string{`unexpected argument "b"`}},
		{args: []string{"executions", "show", "no-such-execution", "--data", "{data}"}, code: cli.ExitFailure, stderr: []string{"execution not found"}},
		{args: []string{"executions", "list", "--data", filepath.Join("{data}", "nothing-here")}, code: cli.ExitFailure, stderr: []string{"no data directory at ", "nothing-here", "hint: the local runtime creates it: run `mailflow dev --data "}},
		{args: []string{"replay", "{exec}", "--aws"}, code: cli.ExitUsage, stderr: []string{"--aws needs --log-group, --queue-url, --dlq-url"}},
		{args: []string{"mail", "status", "x", "--aws", "--log-group", "g"}, code: cli.ExitUsage, stderr: []string{"--aws needs --table"}},
		{args: []string{"dlq", "list", "--data", "{data}", "--max", "-1"}, code: cli.ExitUsage, stderr: []string{"--limit -1 must not be negative"}},
		{args: []string{"mail", "status", "", "--data", "{data}"}, code: cli.ExitUsage, stderr: []string{"a mail id is required"}},
		{args: []string{"replay", "--data", "{data}"}, code: cli.ExitUsage, stderr: []string{"an execution ID is required"}},
		{args: []string{"dlq", "drain"}, code: cli.ExitUsage, stderr: []string{`unknown subcommand "drain" (want list, show, redrive, delete, purge)`}},
		{args: []string{"dev", "--console", "0.0.0.0:4581"}, code: cli.ExitUsage, stderr: []string{"not a loopback address"}},
	})

	// Restart with the sender verified, then replay the failed item.
	dev.stop()
	dev = startDev(t, data)
	runCases(t, vars, []cliCase{
		{args: []string{"replay", "{exec}", "--failed-only", "--data", "{data}"}, stdout: []string{
			"#0 receipt-42 (dead-lettered): skipped, will fail again: Mail.Rejected: MessageRejected: Email address is not verified",
			"0 of 1 items re-enqueued onto http://127.0.0.1:", "(permanent 1: 1 skipped)"}},
		{args: []string{"dlq", "list", "--data", "{data}"}, stdout: []string{"mail receipt-42  Mail.Rejected", "1 message(s) in"}},
		{args: []string{"replay", "{exec}", "--failed-only", "--force", "--data", "{data}"}, stdout: []string{
			"#0 receipt-42 (dead-lettered): re-enqueued as ", "forced: it failed with Mail.Rejected",
			"its copy in the dead-letter queue was removed", "1 of 1 items re-enqueued onto http://127.0.0.1:", "(permanent 1: 1 forced)"}},
		{args: []string{"dlq", "list", "--data", "{data}"}, stdout: []string{"the dead-letter queue is empty"}},
	})
	waitFor(t, "the replayed mail in the outbox", func() bool { return outboxFiles(data) == 1 })
	waitFor(t, "the replay's execution", func() bool { return countOutcome(listJSON(t, data), workflow.OutcomeSent) == 1 })
	runCases(t, vars, []cliCase{
		{args: []string{"mail", "status", "receipt-42", "--data", "{data}"}, stdout: []string{
			"~lock       SENT at \\S+, SES message id \\S+", "executions 2", "sent", "dead-lettered"}},
		{args: []string{"executions", "list", "--data", "{data}", "--mail-id", "receipt-42", "--limit", "1"}, stdout: []string{"sent 1", "more: --cursor "}},
		{args: []string{"replay", "{exec}", "--data", "{data}"}, stdout: []string{
			"~#0 receipt-42 \\(dead-lettered\\): skipped, already sent \\S+", "0 of 1 items re-enqueued", "(already-sent 1: 1 skipped)"}},
	})
	if n := outboxFiles(data); n != 1 {
		t.Fatalf("%d mails in the outbox; the dedup lock should have kept it at 1", n)
	}

	// A permanent failure (an invalid body sent straight to the queue) is
	// dead-lettered; with the runtime stopped, the commands read the files
	// and `dlq redrive` drives the move task itself.
	info := dev.info
	client := sqs.New(sqs.Options{Region: info.Region, BaseEndpoint: aws.String(info.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl:    aws.String(info.Endpoint + "/" + info.Account + "/" + info.SourceQueue),
		MessageBody: aws.String(`{"version":1,"mailId":"broken-1","to":["not an address"],"subject":"x","text":"y"}`),
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invalid message to be dead-lettered", func() bool {
		return countOutcome(listJSON(t, data, "--mail-id", "broken-1"), workflow.OutcomeDeadLettered) == 1
	})
	vars["broken"] = listJSON(t, data, "--mail-id", "broken-1").Executions[0].Name
	runCases(t, vars, []cliCase{
		{args: []string{"replay", "{broken}", "--failed-only", "--data", "{data}"}, stdout: []string{
			"#0 broken-1 (dead-lettered): skipped, will fail again: Mail.InvalidMessage", "0 of 1 items re-enqueued"}},
		{args: []string{"replay", "{broken}", "--failed-only", "--force", "--data", "{data}"}, stdout: []string{
			"#0 broken-1 (dead-lettered): re-enqueued as ", "its copy in the dead-letter queue was removed"}},
	})
	waitFor(t, "the forced replay to be dead-lettered again", func() bool {
		return countOutcome(listJSON(t, data, "--mail-id", "broken-1"), workflow.OutcomeDeadLettered) == 2
	})
	runCases(t, vars, []cliCase{
		// One copy: the replay's; the first one went when it was replayed.
		{args: []string{"dlq", "list", "--data", "{data}"}, stdout: []string{"mail broken-1  Mail.InvalidMessage", "1 message(s) in"}},
		{args: []string{"dlq", "redrive", "--data", "{data}"}, stdout: []string{
			"redriving ", "COMPLETED: 1 of 1 moved", "redrive completed: 1 message(s) moved to the source queue"}},
	})
	waitFor(t, "the redriven copy to be dead-lettered again", func() bool {
		return countOutcome(listJSON(t, data, "--mail-id", "broken-1"), workflow.OutcomeDeadLettered) == 3
	})
	running := listJSON(t, data, "--limit", "1000")
	dev.stop()
	runCases(t, vars, []cliCase{
		{args: []string{"executions", "list", "--data", "{data}", "--limit", "1000", "--json"}, stdout: []string{`"mailId": "broken-1"`}},
		{args: []string{"dlq", "list", "--data", "{data}"}, stdout: []string{"mail broken-1  Mail.InvalidMessage", "to[0]: not an e-mail address", "1 message(s)"}},
		{args: []string{"dlq", "redrive", "--data", "{data}"}, stdout: []string{"redrive completed: 1 message(s) moved"}},
		{args: []string{"dlq", "list", "--data", "{data}"}, stdout: []string{"the dead-letter queue is empty"}},
		{args: []string{"mail", "status", "broken-1", "--data", "{data}", "--json"}, stdout: []string{`"outcome": "dead-lettered"`, `"error": "Mail.InvalidMessage"`}},
	})
	if got := listJSON(t, data, "--limit", "1000"); len(got.Executions) != len(running.Executions) {
		t.Fatalf("%d executions after the stop, %d before", len(got.Executions), len(running.Executions))
	}
}

// TestReplayOfAnOutcomeUnknownMail: a mail whose send started and was
// never answered (the process died between recording the attempt and
// recording SES's answer) is not replayed without --force, and the command
// says why; with --force its lock record goes and the mail is sent.
func TestReplayOfAnOutcomeUnknownMail(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dev := startDev(t, data, "--ses-verified", "someone@elsewhere.test")
	code, out, errOut := run(t, context.Background(), "send", "--endpoint", dev.info.Endpoint,
		"--to", "ann@example.org", "--subject", "Your invoice", "--text", "Attached.", "--mail-id", "invoice-7")
	if code != cli.ExitOK {
		t.Fatalf("send: %d %s %s", code, out, errOut)
	}
	waitFor(t, "the rejected mail to be dead-lettered", func() bool {
		return countOutcome(listJSON(t, data), workflow.OutcomeDeadLettered) == 1
	})
	vars := map[string]string{"data": data, "exec": listJSON(t, data).Executions[0].Name}
	dev.stop()

	// What a crash after the attempt was recorded leaves in the lock table.
	locks, err := datadir.New(data).OpenLocks()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: "invoice-7", Owner: "exec-dead/m-1", ContentHash: "h", Now: now,
		LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.StartAttempt(ctx, lock.AttemptParams{MailID: "invoice-7", Owner: "exec-dead/m-1", Now: now}); err != nil {
		t.Fatal(err)
	}
	locks.Close()

	runCases(t, vars, []cliCase{
		{args: []string{"replay", "{exec}", "--failed-only", "--data", "{data}"}, code: cli.ExitFailure,
			stdout: []string{"#0 invoice-7 (dead-lettered): skipped, outcome unknown: a send started at", "replay with --force to send it again",
				"0 of 1 items re-enqueued"},
			stderr: []string{"1 item(s) not replayed: the outcome of a send is unknown"}},
		{args: []string{"mail", "status", "invoice-7", "--data", "{data}"}, stdout: []string{"lock       OUTCOME UNKNOWN: exec-dead/m-1 started a send at", "--force"}},
		{args: []string{"replay", "{exec}", "--failed-only", "--force", "--data", "{data}"}, stdout: []string{
			"#0 invoice-7 (dead-lettered): re-enqueued as ", "forced: outcome unknown", "its lock record was deleted",
			"1 of 1 items re-enqueued"}},
	})
	startDev(t, data)
	waitFor(t, "the forced replay to be delivered", func() bool { return outboxFiles(data) == 1 })
}
