package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/webhooks"
	"github.com/mailflow/mailflow/workflow"
)

const eventsSecret = "events-test-secret-0123456789"

// recorder is what a runtime does with outcome events, on a data directory
// of its own: it claims it and publishes through the dispatcher.
type recorder struct {
	dir datadir.Dir
	log *webhooks.Log
	d   *webhooks.Dispatcher
}

func newRecorder(t *testing.T, clk clock.Clock, urls ...string) *recorder {
	t.Helper()
	dir := datadir.New(t.TempDir())
	if _, err := dir.Claim(time.Now()); err != nil {
		t.Fatal(err)
	}
	log, err := dir.OpenOutcomes(clk)
	if err != nil {
		t.Fatal(err)
	}
	d, err := webhooks.New(log, webhooks.Config{URLs: urls, Secret: []byte(eventsSecret), Clock: clk, MinBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d.Start(context.Background())
	t.Cleanup(func() { d.Close(); log.Close() })
	return &recorder{dir: dir, log: log, d: d}
}

func (r *recorder) publish(t *testing.T, events ...workflow.OutcomeEvent) {
	t.Helper()
	if err := r.d.Publish(context.Background(), events); err != nil {
		t.Fatal(err)
	}
}

func sampleEvents(now time.Time) []workflow.OutcomeEvent {
	return []workflow.OutcomeEvent{
		{Version: 1, ID: "ev-old", Type: workflow.EventAccepted, MailID: "mail-old", Time: now.Add(-3 * time.Hour)},
		{Version: 1, ID: "ev-bounce", Type: workflow.EventBounced, MailID: "mail-1", Time: now.Add(-time.Minute),
			Recipient: "ann@example.com", SESMessageID: "ses-1",
			Bounce: &workflow.EventBounce{Type: "Permanent", SubType: "General", DiagnosticCode: "smtp; 550 5.1.1 user unknown"}},
		{Version: 1, ID: "ev-dead", Type: workflow.EventDeadLettered, MailID: "mail-2", Time: now,
			Reason: &workflow.EventReason{Error: string(workflow.InvalidMessage), Cause: "to[0]: not an e-mail address"}},
	}
}

// TestEventsListsTheLog: `mailflow events` prints one line per event,
// --since keeps the recent ones, --json prints each event's JSON as
// webhooks receive it.
func TestEventsListsTheLog(t *testing.T) {
	t.Parallel()
	r := newRecorder(t, nil)
	now := time.Now().UTC()
	events := sampleEvents(now)
	r.publish(t, events...)
	data := r.dir.Path()
	bounceJSON, _ := events[1].MarshalJSON()
	runCases(t, map[string]string{"data": data}, []cliCase{
		{args: []string{"events", "--data", "{data}"}, code: cli.ExitOK, stdout: []string{
			"accepted          mail-old  -  -",
			"bounced           mail-1  ann@example.com  Permanent/General  smtp; 550 5.1.1 user unknown  ses ses-1",
			"dead-lettered     mail-2  -  Mail.InvalidMessage  to[0]: not an e-mail address",
			now.Format("2006-01-02T15:04:05.000Z"),
		}},
		{args: []string{"events", "--data", "{data}", "--since", "1h"}, code: cli.ExitOK,
			stdout: []string{"mail-1", "mail-2"}, missing: []string{"mail-old"}},
		{args: []string{"events", "--data", "{data}", "--json", "--since", "2m"}, code: cli.ExitOK,
			stdout: []string{string(bounceJSON) + "\n"}, missing: []string{"mail-old"}},
		{args: []string{"events", "--data", "{data}", "--since", "-1h"}, code: cli.ExitUsage, stderr: []string{"--since -1h0m0s must be positive"}},
		{args: []string{"events", "--data", filepath.Join(data, "nowhere")}, code: cli.ExitFailure, stderr: []string{"holds no outcome events", "run `mailflow dev --data"}},
	})
	_, out, _ := run(t, context.Background(), "events", "--data", data, "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d JSON lines, want 3:\n%s", len(lines), out)
	}
	for i, l := range lines {
		e, err := workflow.ParseOutcomeEvent([]byte(l))
		if err != nil || e.ID != events[i].ID {
			t.Errorf("line %d: %v %v", i, e.ID, err)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "nowhere")); err == nil {
		t.Error("events created a data directory")
	}
}

// TestEventsFollowSeesWhatTheRuntimeRecordsLater: --follow keeps printing
// events recorded by another handle on the file (a running mailflow dev)
// until interrupted, and exits 0.
func TestEventsFollowSeesWhatTheRuntimeRecordsLater(t *testing.T) {
	t.Parallel()
	r := newRecorder(t, nil)
	now := time.Now().UTC()
	events := sampleEvents(now)
	r.publish(t, events[0])
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &lockedBuf{}, &lockedBuf{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"events", "--follow", "--data", r.dir.Path()}, strings.NewReader(""), out, errOut)
	}()
	waitFor(t, "the first event", func() bool { return strings.Contains(out.String(), "mail-old") })
	r.publish(t, events[1:]...)
	waitFor(t, "the later events", func() bool {
		return strings.Contains(out.String(), "mail-1") && strings.Contains(out.String(), "mail-2")
	})
	cancel()
	select {
	case code := <-done:
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("--follow did not stop when interrupted")
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("%d lines, want 3:\n%s", n, out.String())
	}
}

// TestEventsDeliveriesShowsTheAttempts: `mailflow events deliveries ID`
// lists each attempt of each delivery with its answer.
func TestEventsDeliveriesShowsTheAttempts(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	clk := clock.NewVirtual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r := newRecorder(t, clk, srv.URL+"/hook")
	r.publish(t, sampleEvents(clk.Now())[1])
	waitFor(t, "delivery", func() bool {
		ds, _ := r.log.Deliveries(context.Background(), "ev-bounce", 0)
		if len(ds) != 1 {
			return false
		}
		// Move the clock to the retry only once the failed attempt is
		// recorded, so the attempts take no virtual time.
		if next := ds[0].NextAttempt; ds[0].Status == webhooks.StatusPending && next.After(clk.Now()) {
			clk.Advance(next.Sub(clk.Now()))
		}
		return ds[0].Status == webhooks.StatusDelivered
	})
	runCases(t, map[string]string{"data": r.dir.Path(), "url": srv.URL + "/hook"}, []cliCase{
		{args: []string{"events", "deliveries", "ev-bounce", "--data", "{data}"}, code: cli.ExitOK, stdout: []string{
			"ev-bounce  {url}  delivered (2 attempt(s))",
			"  #1 2026-03-01T12:00:00Z  answered 503 Service Unavailable (0s)",
			"~  #2 2026-03-01T12:00:0[01]Z  HTTP 200 \\(0s\\)",
		}},
		{args: []string{"events", "deliveries", "--data", "{data}"}, code: cli.ExitOK, stdout: []string{"ev-bounce  {url}  delivered"}},
		{args: []string{"events", "deliveries", "nope", "--data", "{data}"}, code: cli.ExitFailure, stderr: []string{`no deliveries of event "nope"`}},
		{args: []string{"events", "deliveries", "--limit", "0", "--data", "{data}"}, code: cli.ExitUsage, stderr: []string{"--limit 0 is outside 1..1000"}},
	})
	_, out, _ := run(t, context.Background(), "events", "deliveries", "ev-bounce", "--json", "--data", r.dir.Path())
	var ds []webhooks.Delivery
	if err := json.Unmarshal([]byte(out), &ds); err != nil || len(ds) != 1 || len(ds[0].Attempts) != 2 || ds[0].Attempts[0].StatusCode != 503 {
		t.Fatalf("--json: %v\n%s", err, out)
	}
}

// TestDevRefusesBadWebhookFlags: the webhook flags are checked before
// anything starts, each problem named by its flag, the secret never shown.
func TestDevRefusesBadWebhookFlags(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, _, errOut := run(t, ctx, "dev", "--data", data, "--addr", "127.0.0.1:0",
		"--webhook", "ftp://hooks.example/a", "--webhook", "https://hooks.example/b", "--webhook-secret", "tooshort", "--webhook-retry-for", "0s")
	for _, want := range []string{
		`--webhook "ftp://hooks.example/a" must be an absolute http or https URL, not scheme "ftp"`,
		"--webhook-secret (8 bytes, not shown) must have at least 16 bytes",
		"--webhook-retry-for 0s is outside 1s..720h0m0s",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if code != cli.ExitUsage || strings.Contains(errOut, "tooshort") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("the data directory was created")
	}
}

// TestDevReadsTheWebhookSecretFromTheEnvironment: the secret comes from
// MAILFLOW_WEBHOOK_SECRET when no flag gives it, and -h does not print it.
func TestDevReadsTheWebhookSecretFromTheEnvironment(t *testing.T) {
	t.Setenv("MAILFLOW_WEBHOOK_SECRET", "env-secret") // 10 bytes: refused, by its length
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, _, errOut := run(t, ctx, "dev", "--data", data, "--addr", "127.0.0.1:0", "--webhook", "http://127.0.0.1:9/hook")
	if code != cli.ExitUsage || !strings.Contains(errOut, "--webhook-secret (10 bytes, not shown)") || strings.Contains(errOut, "env-secret") {
		t.Errorf("exit %d, stderr %q: want the environment's secret refused by its length", code, errOut)
	}
	code, out, errOut := run(t, ctx, "dev", "-h")
	if code != cli.ExitOK || !strings.Contains(errOut+out, "--webhook-secret") || strings.Contains(errOut+out, "env-secret") {
		t.Errorf("dev -h: exit %d, output shows the secret or lacks the flag:\n%s%s", code, out, errOut)
	}
}
