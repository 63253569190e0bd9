package local_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

// TestHistoryIsBounded starts the runtime on a data directory whose
// execution store was written before retention (no auto-vacuum, 300
// executions): start-up prunes it to the count limit and rewrites it; then
// the runtime's background pass, on its clock, prunes what is written next.
func TestHistoryIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	// A directory with its stores, then an execution store filled as an
	// older version would have left it.
	first, err := local.Start(ctx, local.Config{DataDir: dir, Addr: "127.0.0.1:0", Clock: clock.NewVirtual(t0)})
	if err != nil {
		t.Fatal(err)
	}
	first.Close(ctx)
	s, err := datadir.New(dir).OpenExecutions()
	if err != nil {
		t.Fatal(err)
	}
	put := func(s *execstore.Store, first, last int) {
		t.Helper()
		for i := first; i < last; i++ {
			e := execstore.Execution{ID: fmt.Sprintf("arn:aws:states:us-east-1:000000000000:express:mailflow:e-%04d:x", i), Name: fmt.Sprintf("e-%04d", i),
				StateMachine: local.DefaultStateMachine, Status: asl.StatusSucceeded, Input: json.RawMessage(`[` + strings.Repeat(`"padding",`, 400) + `"x"]`),
				StartedAt: t0.Add(time.Duration(i) * time.Second), StoppedAt: t0.Add(time.Duration(i)*time.Second + time.Millisecond),
				Events: []execstore.Event{{ID: 1, Type: "ExecutionStarted", Details: json.RawMessage(`{"input":"` + strings.Repeat("x", 2000) + `"}`)}},
				Items:  []execstore.Item{{MessageID: fmt.Sprintf("m-%d", i), MailID: fmt.Sprintf("mail-%d", i), Outcome: workflow.OutcomeSent}},
			}
			if err := s.Finish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(s, 0, 300)
	s.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, datadir.ExecutionsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA auto_vacuum = NONE`, `VACUUM`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	var before int64
	db.QueryRow(`SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&before)
	db.Close()

	clk := clock.NewVirtual(t0.Add(time.Hour))
	rt, err := local.Start(ctx, local.Config{DataDir: dir, Addr: "127.0.0.1:0", Clock: clk, HistoryMaxCount: 50, HistoryMaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	execs := rt.Executions()
	u, err := execs.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.Executions > 50 || u.Bytes*3 > before {
		t.Fatalf("after start-up %d executions in %d bytes are kept, of 300 in %d", u.Executions, u.Bytes, before)
	}
	put(execs, 300, 400)
	// Passes run on the runtime's clock: move it until one has pruned what
	// was written after start-up.
	var kept execstore.Kept
	for deadline := time.Now().Add(10 * time.Second); kept.Pruned < 350; {
		if time.Now().After(deadline) {
			t.Fatalf("%d executions pruned in all, want 350: the background pass did not run", kept.Pruned)
		}
		clk.Advance(execstore.PruneEvery)
		time.Sleep(10 * time.Millisecond)
		if kept, err = execs.Kept(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if u, err = execs.Usage(ctx); err != nil || u.Executions != 50 {
		t.Fatalf("%d executions kept, limit 50 (%v)", u.Executions, err)
	}
	if kept.Retention != (execstore.Retention{MaxAge: 24 * time.Hour, MaxCount: 50}) || kept.Pruned != 350 {
		t.Fatalf("the store says it keeps %s and pruned %d", kept.Retention, kept.Pruned)
	}
}

func TestHistoryBoundsValidate(t *testing.T) {
	t.Parallel()
	cfg := local.Config{DataDir: "d", HistoryMaxAge: 30 * time.Second, HistoryMaxCount: -1}
	err := cfg.Validate()
	for _, w := range []string{"HistoryMaxAge 30s is outside 1m0s..3650 days", "HistoryMaxCount -1 is outside 1..10000000"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("%v does not say %q", err, w)
		}
	}
	if ps := (local.Config{DataDir: "d"}).Problems(local.FieldHistoryMaxAge, local.FieldHistoryMaxCount); len(ps) != 2 {
		t.Errorf("explicit zero bounds: %v", ps)
	}
	if err := (local.Config{DataDir: "d"}).Validate(); err != nil {
		t.Errorf("the default bounds: %v", err)
	}
}
