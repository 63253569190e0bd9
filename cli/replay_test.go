package cli_test

import (
	"context"
	"testing"

	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/workflow"
)

// TestReplayOfATransientFailure: a mail that failed for a reason that
// passes (the SES quota used up) is re-enqueued by `replay --failed-only`,
// and once the quota is back it is sent, once.
func TestReplayOfATransientFailure(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dev := startDev(t, data, "--ses-quota", "1")
	for _, id := range []string{"first-1", "second-1"} {
		code, out, errOut := run(t, context.Background(), "send", "--endpoint", dev.info.Endpoint,
			"--to", "ann@example.org", "--subject", "Hello", "--text", "Hi.", "--mail-id", id)
		if code != cli.ExitOK {
			t.Fatalf("send %s: %d %s %s", id, code, out, errOut)
		}
		if id == "first-1" {
			waitFor(t, "the first mail to be sent", func() bool { return outboxFiles(data) == 1 })
		}
	}
	waitFor(t, "the second mail to wait for the quota", func() bool {
		return countOutcome(listJSON(t, data, "--mail-id", "second-1"), workflow.OutcomeRetryLater) == 1
	})
	vars := map[string]string{"data": data, "exec": listJSON(t, data, "--mail-id", "second-1").Executions[0].Name}
	dev.stop()

	runCases(t, vars, []cliCase{
		{args: []string{"replay", "{exec}", "--failed-only", "--data", "{data}"}, stdout: []string{
			"#0 second-1 (retry-later): re-enqueued as ", "will be sent",
			"1 of 1 items re-enqueued onto ", "(transient 1: 1 re-enqueued)"}},
	})
	startDev(t, data)
	waitFor(t, "the replayed mail to be sent", func() bool { return outboxFiles(data) == 2 })
	if n := countOutcome(listJSON(t, data, "--mail-id", "second-1"), workflow.OutcomeSent); n != 1 {
		t.Fatalf("second-1 sent by %d executions, want 1", n)
	}
}
