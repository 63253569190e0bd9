package execstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

func open(t *testing.T, path string) *execstore.Store {
	t.Helper()
	s, err := execstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func finished(t *testing.T, s *execstore.Store, i int, status asl.Status, mails ...string) execstore.Execution {
	t.Helper()
	ctx := context.Background()
	e := execstore.Execution{
		ID: fmt.Sprintf("arn:aws:states:us-east-1:000000000000:express:mail:exec-%02d", i), Name: fmt.Sprintf("exec-%02d", i),
		StateMachine: "mail", Input: json.RawMessage(`[{"messageId":"m"}]`), StartedAt: t0.Add(time.Duration(i) * time.Second),
	}
	if err := s.Start(ctx, e); err != nil {
		t.Fatal(err)
	}
	e.Status = status
	e.StoppedAt = e.StartedAt.Add(1500 * time.Millisecond)
	if status == asl.StatusSucceeded {
		e.Output = json.RawMessage(`{"batchItemFailures":[]}`)
	} else {
		e.Error, e.Cause = asl.ErrRuntime, "boom"
	}
	events := []execstore.Event{
		{ID: 1, Type: "ExecutionStarted", Timestamp: e.StartedAt, Details: json.RawMessage(`{"input":[]}`)},
		{ID: 2, PreviousID: 1, Type: "ExecutionSucceeded", Timestamp: e.StoppedAt, Details: json.RawMessage(`{"output":{}}`)},
	}
	var items []execstore.Item
	for j, m := range mails {
		items = append(items, execstore.Item{Index: j, MessageID: fmt.Sprintf("msg-%d-%d", i, j), MailID: m, Outcome: workflow.OutcomeSent})
	}
	e.Events, e.Items = events, items
	if err := s.Finish(ctx, e); err != nil {
		t.Fatal(err)
	}
	e.Events, e.Items = nil, nil
	return e
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "x.db"))
	e := finished(t, s, 1, asl.StatusSucceeded, "mail-a", "mail-b")
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != asl.StatusSucceeded || got.Duration() != 1500*time.Millisecond || string(got.Output) != `{"batchItemFailures":[]}` {
		t.Fatalf("got %+v", got)
	}
	evs, err := s.Events(ctx, e.ID)
	if err != nil || len(evs) != 2 || evs[1].PreviousID != 1 || evs[1].Type != "ExecutionSucceeded" {
		t.Fatalf("events %+v %v", evs, err)
	}
	items, err := s.Items(ctx, e.ID)
	if err != nil || len(items) != 2 || items[1].MailID != "mail-b" {
		t.Fatalf("items %+v %v", items, err)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, execstore.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "x.db"))
	for i := range 25 {
		status := asl.StatusSucceeded
		if i%5 == 0 {
			status = asl.StatusFailed
		}
		finished(t, s, i, status, fmt.Sprintf("mail-%d", i%3))
	}
	var all []execstore.Execution
	cursor := ""
	for {
		p, err := s.List(ctx, execstore.Filter{Limit: 10, Before: cursor})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Executions...)
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(all) != 25 || all[0].Name != "exec-24" || all[24].Name != "exec-00" {
		t.Fatalf("paging returned %d executions, first %s", len(all), all[0].Name)
	}
	p, _ := s.List(ctx, execstore.Filter{Status: asl.StatusFailed})
	if len(p.Executions) != 5 {
		t.Fatalf("status filter: %d", len(p.Executions))
	}
	p, _ = s.List(ctx, execstore.Filter{MailID: "mail-1"})
	if len(p.Executions) != 8 {
		t.Fatalf("mail filter: %d", len(p.Executions))
	}
	p, _ = s.List(ctx, execstore.Filter{Since: t0.Add(10 * time.Second), Until: t0.Add(20 * time.Second)})
	if len(p.Executions) != 10 {
		t.Fatalf("time filter: %d", len(p.Executions))
	}
	if _, err := s.List(ctx, execstore.Filter{Before: "garbage"}); err == nil {
		t.Fatal("accepted a malformed cursor")
	}
	if _, err := s.List(ctx, execstore.Filter{Limit: 5000}); err == nil {
		t.Fatal("accepted an oversized limit")
	}
	mi, err := s.ItemsByMail(ctx, "mail-2")
	if err != nil || len(mi) != 8 || mi[0].ExecutionID == "" {
		t.Fatalf("items by mail: %d %v", len(mi), err)
	}
}

func TestRecoverRunningAndSecondReader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	w := open(t, path)
	if err := w.Start(ctx, execstore.Execution{ID: "e-1", Name: "e-1", StateMachine: "mail", StartedAt: t0}); err != nil {
		t.Fatal(err)
	}
	r := open(t, path) // another process, e.g. the CLI
	got, err := r.Get(ctx, "e-1")
	if err != nil || got.Status != asl.StatusRunning {
		t.Fatalf("reader sees %+v %v", got, err)
	}
	n, err := w.RecoverRunning(ctx, t0.Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("recovered %d %v", n, err)
	}
	got, _ = r.Get(ctx, "e-1")
	if got.Status != asl.StatusAborted || got.Cause == "" {
		t.Fatalf("after recovery: %+v", got)
	}
}

func TestOutcomeFailedFiltersAndResolve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "x.db"))
	finished(t, s, 1, asl.StatusSucceeded, "a")
	finished(t, s, 2, asl.StatusFailed)
	e3 := execstore.Execution{ID: "arn:aws:states:us-east-1:000000000000:express:mail:exec-03", Name: "exec-03", StateMachine: "mail", StartedAt: t0.Add(3 * time.Second)}
	if err := s.Start(ctx, e3); err != nil {
		t.Fatal(err)
	}
	e3.Status, e3.StoppedAt = asl.StatusSucceeded, e3.StartedAt.Add(time.Second)
	e3.Items = []execstore.Item{{MessageID: "m", MailID: "b", Outcome: workflow.OutcomeDeadLettered, Error: string(workflow.Rejected)}}
	if err := s.Finish(ctx, e3); err != nil {
		t.Fatal(err)
	}
	names := func(f execstore.Filter) string {
		p, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out string
		for _, e := range p.Executions {
			out += e.Name + " "
		}
		return out
	}
	if got := names(execstore.Filter{Failed: true}); got != "exec-03 exec-02 " {
		t.Errorf("failed: %q", got)
	}
	if got := names(execstore.Filter{Outcome: workflow.OutcomeDeadLettered}); got != "exec-03 " {
		t.Errorf("dead-lettered: %q", got)
	}
	if got := names(execstore.Filter{Outcome: workflow.OutcomeSent, Failed: true}); got != "" {
		t.Errorf("sent and failed: %q", got)
	}
	for ref, want := range map[string]string{"exec-03": e3.ID, e3.ID: e3.ID} {
		if id, err := s.Resolve(ctx, ref); err != nil || id != want {
			t.Errorf("resolve %q: %q %v", ref, id, err)
		}
	}
	finished(t, s, 30, asl.StatusSucceeded) // exec-30: "exec-03" stays exact
	if id, err := s.Resolve(ctx, "exec-3"); err != nil || id != "arn:aws:states:us-east-1:000000000000:express:mail:exec-30" {
		t.Errorf("a unique prefix: %q %v", id, err)
	}
	if _, err := s.Resolve(ctx, "exec-0"); err == nil || errors.Is(err, execstore.ErrNotFound) {
		t.Errorf("an ambiguous prefix: %v", err)
	}
	if _, err := s.Resolve(ctx, "nope"); !errors.Is(err, execstore.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
}
