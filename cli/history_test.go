package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

// TestPrunedExecutions: the inspection commands answer for an execution
// the history no longer holds with what history is kept, not a bare "not
// found".
func TestPrunedExecutions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := t.TempDir()
	dir := datadir.New(data)
	if err := dir.Create(); err != nil {
		t.Fatal(err)
	}
	s, err := dir.OpenExecutions()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		e := execstore.Execution{ID: fmt.Sprintf("arn:aws:states:us-east-1:000000000000:express:mailflow:old-%d:x", i), Name: fmt.Sprintf("old-%d", i),
			StateMachine: "mailflow", Status: asl.StatusSucceeded, Input: json.RawMessage(`[]`), StartedAt: t0.Add(time.Duration(i) * time.Minute),
			StoppedAt: t0.Add(time.Duration(i)*time.Minute + time.Second),
			Items:     []execstore.Item{{MessageID: fmt.Sprintf("msg-%d", i), MailID: fmt.Sprintf("mail-%d", i), Outcome: workflow.OutcomeSent}}}
		if err := s.Finish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(ctx, t0.Add(time.Hour), execstore.Retention{MaxAge: 7 * 24 * time.Hour, MaxCount: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	const kept = "history kept 7 days / 1 execution; 2 older executions pruned, the newest of them started 2026-11-25T10:01:00Z"
	runCases(t, map[string]string{"data": data}, []cliCase{
		{args: []string{"executions", "show", "old-0", "--data", "{data}"}, code: cli.ExitFailure, stderr: []string{"execution not found: old-0 (" + kept + ")"}},
		{args: []string{"replay", "old-1", "--data", "{data}"}, code: cli.ExitFailure, stderr: []string{"execution not found: old-1 (" + kept + ")"}},
		{args: []string{"mail", "status", "mail-0", "--data", "{data}"}, code: cli.ExitOK, stdout: []string{"executions none (" + kept + ")"}},
		{args: []string{"executions", "list", "--mail-id", "mail-1", "--data", "{data}"}, code: cli.ExitOK, stdout: []string{"no executions (" + kept + ")"}},
		{args: []string{"executions", "show", "old-2", "--data", "{data}"}, code: cli.ExitOK, stdout: []string{"old-2"}},
	})
}
