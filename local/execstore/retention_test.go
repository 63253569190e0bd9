package execstore_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

// execID is the id of the i-th execution the tests write.
func execID(i int) string {
	return fmt.Sprintf("arn:aws:states:us-east-1:000000000000:express:mailflow:exec-%06d:%s", i, uuidOf(rand.New(rand.NewPCG(uint64(i), 0))))
}

func uuidOf(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// batchLike is the i-th execution as the runtime writes a batch of ten
// mails: ten SQS records as input, 5 + 21 per record history events whose
// details repeat the record with each task's input and output (about
// 180 KB of JSON, as a real batch has), ten sent items. Ids and handles are
// random, as real ones are, so the history compresses as much as a real one
// (the runtime stores about 24 KB per such execution).
func batchLike(i int, started time.Time, status asl.Status) execstore.Execution {
	rng := rand.New(rand.NewPCG(uint64(i), 1))
	id := execID(i)
	var records []json.RawMessage
	var items []execstore.Item
	for j := range 10 {
		msgID, mailID := uuidOf(rng), fmt.Sprintf("order-%d-%d", i, j)
		handle := strings.Repeat(uuidOf(rng), 3)
		body, _ := json.Marshal(map[string]any{"version": 1, "mailId": mailID, "to": []string{"ann@example.org"},
			"subject": "Your receipt " + mailID, "text": "Hi Ann, thanks for your order. Here is your receipt: " + uuidOf(rng)})
		rec, _ := json.Marshal(map[string]any{
			"attributes": map[string]string{"ApproximateFirstReceiveTimestamp": strconv.FormatInt(started.UnixMilli(), 10),
				"ApproximateReceiveCount": "1", "SenderId": "local", "SentTimestamp": strconv.FormatInt(started.UnixMilli()-5, 10)},
			"awsRegion": "us-east-1", "body": string(body), "eventSource": "aws:sqs",
			"eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:mailflow-source", "md5OfBody": strings.ReplaceAll(uuidOf(rng), "-", ""),
			"messageId": msgID, "receiptHandle": handle,
		})
		records = append(records, rec)
		items = append(items, execstore.Item{Index: j, MessageID: msgID, MailID: mailID, Outcome: workflow.OutcomeSent})
	}
	input, _ := json.Marshal(records)
	var events []execstore.Event
	add := func(typ string, details any) {
		d, _ := json.Marshal(details)
		n := int64(len(events) + 1)
		events = append(events, execstore.Event{ID: n, PreviousID: n - 1, Type: typ, Timestamp: started.Add(time.Duration(n) * time.Millisecond), Details: d})
	}
	add("ExecutionStarted", map[string]any{"input": json.RawMessage(input)})
	add("MapStateEntered", map[string]any{"input": json.RawMessage(input), "name": "ProcessRecords"})
	add("MapStateStarted", map[string]any{"length": 10})
	for j, rec := range records {
		owner := id + "/" + items[j].MessageID
		add("MapIterationStarted", map[string]any{"index": j, "name": "ProcessRecords"})
		for _, task := range []string{"AcquireLock", "FetchAttachments", "Send"} {
			payload := map[string]any{"mailId": items[j].MailID, "outcome": "acquired", "owner": owner, "sesMessageId": uuidOf(rng)}
			add("TaskStateEntered", map[string]any{"input": rec, "name": task})
			add("TaskScheduled", map[string]any{"parameters": map[string]any{"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:mailflow-" + task,
				"Payload": map[string]any{"record": rec, "owner": owner}}, "region": "us-east-1", "resource": "invoke", "resourceType": "lambda"})
			add("TaskStarted", map[string]any{"resource": "invoke", "resourceType": "lambda"})
			add("TaskSucceeded", map[string]any{"output": map[string]any{"ExecutedVersion": "$LATEST", "Payload": payload,
				"SdkHttpMetadata": map[string]any{"HttpStatusCode": 200, "AllHttpHeaders": map[string]any{"X-Amzn-Trace-Id": "Root=" + uuidOf(rng)}}}})
			add("TaskStateExited", map[string]any{"name": task, "output": map[string]any{"record": rec, "lock": payload}})
		}
		add("ChoiceStateEntered", map[string]any{"input": rec, "name": "AlreadySent?"})
		add("ChoiceStateExited", map[string]any{"name": "AlreadySent?", "output": rec})
		add("PassStateEntered", map[string]any{"input": rec, "name": "Done"})
		add("PassStateExited", map[string]any{"name": "Done", "output": map[string]any{"messageId": items[j].MessageID, "outcome": "sent"}})
		add("MapIterationSucceeded", map[string]any{"index": j, "name": "ProcessRecords"})
	}
	add("MapStateExited", map[string]any{"name": "ProcessRecords", "output": map[string]any{"batchItemFailures": []any{}}})
	add("ExecutionSucceeded", map[string]any{"output": map[string]any{"batchItemFailures": []any{}}})
	return execstore.Execution{
		ID: id, Name: fmt.Sprintf("exec-%06d", i), StateMachine: "mailflow", Status: status, Input: input,
		Output: json.RawMessage(`{"batchItemFailures":[]}`), StartedAt: started, StoppedAt: started.Add(800 * time.Millisecond),
		Events: events, Items: items,
	}
}

// template is one batch-like execution: each is compressed on its own, so
// copies with another id and start take as much room as distinct ones.
var template = sync.OnceValue(func() execstore.Execution { return batchLike(0, t0, asl.StatusSucceeded) })

// copyOf is the template as the i-th execution.
func copyOf(i int, started time.Time, status asl.Status) execstore.Execution {
	e := template()
	e.ID, e.Name, e.Status = execID(i), fmt.Sprintf("exec-%06d", i), status
	e.StartedAt, e.StoppedAt = started, started.Add(800*time.Millisecond)
	return e
}

// write records executions first..last-1 as the runtime does: a RUNNING
// row, then its end.
func write(t testing.TB, s *execstore.Store, first, last int, startedOf func(int) time.Time) {
	t.Helper()
	ctx := context.Background()
	for i := first; i < last; i++ {
		e := copyOf(i, startedOf(i), asl.StatusSucceeded)
		if err := s.Start(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
}

// onDisk is the size of a database file and its WAL.
func onDisk(t testing.TB, path string) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// retentionN is how many executions TestRetentionBoundsTheFile writes:
// MAILFLOW_RETENTION_N, or 1,000 (200 under the race detector, which makes
// SQLite, pure Go here, many times slower); 20,000 gives the package doc's
// figures.
func retentionN(t *testing.T) int {
	if v := os.Getenv("MAILFLOW_RETENTION_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			t.Fatalf("MAILFLOW_RETENTION_N=%q: want a number ≥ 100", v)
		}
		return n
	}
	if raceEnabled {
		return 200
	}
	return 1000
}

// TestRetentionBoundsTheFile writes N batch-like executions to a store
// without retention, which grows with every one, and to a store pruned to
// N/4 executions after every N/20 (the background pass), whose row count and
// file stay bounded.
func TestRetentionBoundsTheFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := retentionN(t)
	limit, every := n/4, n/20
	r := execstore.Retention{MaxAge: execstore.DefaultMaxAge, MaxCount: limit}
	startedOf := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	dir := t.TempDir()

	unbounded := open(t, filepath.Join(dir, "unbounded.db"))
	write(t, unbounded, 0, n, startedOf)
	grown, err := unbounded.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if grown.Executions != n {
		t.Fatalf("%d executions kept without retention, want all %d", grown.Executions, n)
	}
	perExecution := grown.Bytes / int64(n)

	path := filepath.Join(dir, "bounded.db")
	bounded := open(t, path)
	if err := bounded.SetRetention(ctx, r); err != nil {
		t.Fatal(err)
	}
	var most execstore.Usage
	var pruned, batches int
	var pruning time.Duration
	for i := 0; i < n; i += every {
		write(t, bounded, i, min(i+every, n), startedOf)
		peak, err := bounded.Usage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		most.Executions, most.Bytes = max(most.Executions, peak.Executions), max(most.Bytes, peak.Bytes)
		began := time.Now()
		p, err := bounded.Prune(ctx, startedOf(i+every), r)
		if err != nil {
			t.Fatal(err)
		}
		pruning += time.Since(began)
		pruned, batches = pruned+p.Executions, batches+p.Batches
		u, err := bounded.Usage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if u.Executions > limit {
			t.Fatalf("after %d executions and a pass, %d are kept, limit %d", min(i+every, n), u.Executions, limit)
		}
		if u.FreeBytes > u.Bytes/4 {
			t.Fatalf("after a pass %s of the %s file is free pages, not returned to the filesystem", mib(u.FreeBytes), mib(u.Bytes))
		}
	}
	// Between passes the file holds the limit plus one pass of writes.
	if bound := int64(limit+every) * perExecution * 5 / 4; most.Bytes > bound {
		t.Fatalf("the pruned file reached %s, more than %d executions of %d bytes take (%s)", mib(most.Bytes), limit+every, perExecution, mib(bound))
	}
	if grown.Bytes < 3*most.Bytes {
		t.Fatalf("without retention the file is %s, with it %s: the test does not show the growth", mib(grown.Bytes), mib(most.Bytes))
	}
	if pruned != n-limit {
		t.Fatalf("%d executions pruned, want %d", pruned, n-limit)
	}
	last, _ := bounded.Usage(ctx)
	t.Logf("%d batch-like executions: %d bytes each; without retention %s (%s on disk with the WAL); with a limit of %d, pruned every %d, at most %s and %s at the end (%s on disk, %s free); pruned %d in %d batches at %.0f executions/s",
		n, perExecution, mib(grown.Bytes), mib(onDisk(t, filepath.Join(dir, "unbounded.db"))), limit, every, mib(most.Bytes), mib(last.Bytes), mib(onDisk(t, path)), mib(last.FreeBytes),
		pruned, batches, float64(pruned)/pruning.Seconds())
}

// TestRetainPrunesOnTheClock runs the background pruning on a virtual
// clock: the first pass, at once, keeps the newest MaxCount; a later one
// deletes by age; a RUNNING execution outlives both until it stops.
func TestRetainPrunesOnTheClock(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := open(t, filepath.Join(t.TempDir(), "x.db"))
	startedOf := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Minute) }
	for i := range 10 {
		e := copyOf(i, startedOf(i), asl.StatusSucceeded)
		if err := s.Start(ctx, e); err != nil {
			t.Fatal(err)
		}
		if i != 3 { // exec-000003 is still running
			if err := s.Finish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk := clock.NewVirtual(t0.Add(100 * time.Minute))
	r := execstore.Retention{MaxAge: 100 * time.Minute, MaxCount: 5}
	passes := make(chan execstore.Pruned, 10)
	stop, err := s.Retain(ctx, r, clk, func(p execstore.Pruned, err error) {
		if err != nil {
			t.Errorf("pass: %v", err)
		}
		passes <- p
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	kept := func() string {
		t.Helper()
		p, err := s.List(ctx, execstore.Filter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range p.Executions {
			names = append(names, strings.TrimPrefix(e.Name, "exec-00000"))
		}
		slices.Sort(names)
		return strings.Join(names, " ")
	}
	pass := func(want int) {
		t.Helper()
		select {
		case p := <-passes:
			if p.Executions != want {
				t.Fatalf("a pass deleted %d executions, want %d", p.Executions, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no pass")
		}
	}
	// advance moves the clock once the loop waits on it.
	advance := func(d time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); clk.Pending() == 0; {
			if time.Now().After(deadline) {
				t.Fatal("the pruning loop does not wait on the clock")
			}
			select {
			case <-clk.Changed():
			case <-time.After(10 * time.Millisecond):
			}
		}
		clk.Advance(d)
	}

	pass(4) // by count: the newest five stay, and the running one
	if got := kept(); got != "3 5 6 7 8 9" {
		t.Fatalf("after the first pass %q are kept, want 3 5 6 7 8 9", got)
	}
	advance(55 * time.Minute) // the age bound moves to t0+55m: exec-000005 started at t0+50m
	pass(1)
	if got := kept(); got != "3 6 7 8 9" {
		t.Fatalf("after the age pass %q are kept, want 3 6 7 8 9", got)
	}
	finishing := copyOf(3, startedOf(3), asl.StatusSucceeded)
	if err := s.Finish(ctx, finishing); err != nil {
		t.Fatal(err)
	}
	advance(execstore.PruneEvery)
	pass(1) // exec-000003 stopped: it is old enough to go
	if got := kept(); got != "6 7 8 9" {
		t.Fatalf("after it stopped %q are kept, want 6 7 8 9", got)
	}

	_, err = s.Resolve(ctx, "exec-000000")
	var nf *execstore.NotFoundError
	if !errors.Is(err, execstore.ErrNotFound) || !errors.As(err, &nf) ||
		!strings.Contains(err.Error(), "history kept 1h40m0s / 5 executions; 6 older executions pruned, the newest of them started 2026-11-25T10:50:00Z") {
		t.Fatalf("a pruned execution: %v", err)
	}
	if _, err := s.Get(ctx, execID(5)); !errors.Is(err, execstore.ErrNotFound) || !strings.Contains(err.Error(), "pruned") {
		t.Fatalf("get of a pruned execution: %v", err)
	}
	stop()
	stop2 := make(chan struct{})
	go func() { defer close(stop2); stop() }()
	select {
	case <-stop2:
	case <-time.After(10 * time.Second):
		t.Fatal("a second stop hangs")
	}
	if _, err := s.Retain(ctx, execstore.Retention{MaxAge: time.Second, MaxCount: 5}, clk, nil); err == nil {
		t.Fatal("Retain took a max age of 1s")
	}
}

// TestPruneKeepsWritesFlowing prunes a large backlog while the pipeline
// writes: no write fails, none waits for more than a few batches, and the
// running executions survive.
func TestPruneKeepsWritesFlowing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "x.db"))
	startedOf := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	backlog := 1000
	if raceEnabled {
		backlog = 300
	}
	write(t, s, 0, backlog, startedOf)
	var slowest time.Duration
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := backlog; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			e := copyOf(i, startedOf(i), asl.StatusRunning)
			began := time.Now()
			if err := s.Start(ctx, e); err != nil {
				t.Error(err)
				return
			}
			slowest = max(slowest, time.Since(began))
		}
	}()
	// Everything is old enough to go, the running executions too.
	p, err := s.Prune(ctx, startedOf(backlog).Add(2*time.Hour), execstore.Retention{MaxAge: time.Hour, MaxCount: execstore.MaxMaxCount})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if p.Executions != backlog || p.Batches < backlog/100 {
		t.Fatalf("pruned %+v, want the %d finished executions in batches", p, backlog)
	}
	u, _ := s.Usage(ctx)
	running := 0
	for cursor := "start"; cursor != ""; {
		page, err := s.List(ctx, execstore.Filter{Status: asl.StatusRunning, Limit: 1000, Before: strings.TrimPrefix(cursor, "start")})
		if err != nil {
			t.Fatal(err)
		}
		running, cursor = running+len(page.Executions), page.NextCursor
	}
	if u.Executions != running || running == 0 {
		t.Fatalf("%d executions left, %d of them running: only the running ones should be", u.Executions, running)
	}
	t.Logf("pruned %d executions in %d batches; the slowest write meanwhile waited %s", backlog, p.Batches, slowest)
}

// TestCompactConvertsAnOldFile: a file written before the store returned
// space keeps its size after pruning, until Compact prunes and rewrites it;
// after that, pruning shrinks it.
func TestCompactConvertsAnOldFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	startedOf := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	s := open(t, path)
	write(t, s, 0, 200, startedOf)
	s.Close()
	// The file as the store wrote it before: no auto-vacuum.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`PRAGMA auto_vacuum = NONE`, `VACUUM`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Close()

	s = open(t, path)
	r := execstore.Retention{MaxAge: execstore.DefaultMaxAge, MaxCount: 60}
	full, _ := s.Usage(ctx)
	if _, err := s.Prune(ctx, startedOf(200), execstore.Retention{MaxAge: execstore.DefaultMaxAge, MaxCount: 150}); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Usage(ctx); u.Bytes != full.Bytes || u.FreeBytes == 0 {
		t.Fatalf("an old file went from %s to %s (%s free) by pruning alone", mib(full.Bytes), mib(u.Bytes), mib(u.FreeBytes))
	}
	c, err := s.Compact(ctx, startedOf(200), r)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := s.Usage(ctx)
	if !c.Vacuumed || c.Executions != 90 || u.Executions != 60 || u.Bytes*2 > full.Bytes || c.After != u.Bytes {
		t.Fatalf("compact %+v left %+v of a %s file", c, u, mib(full.Bytes))
	}
	if again, err := s.Compact(ctx, startedOf(200), r); err != nil || again.Vacuumed {
		t.Fatalf("a second compact: %+v %v", again, err)
	}
	if _, err := s.Prune(ctx, startedOf(200), execstore.Retention{MaxAge: execstore.DefaultMaxAge, MaxCount: 6}); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.Usage(ctx); after.Bytes*4 > u.Bytes || after.FreeBytes > after.Bytes/4 {
		t.Fatalf("after compacting, pruning to 6 of 60 left %s of %s (%s free)", mib(after.Bytes), mib(u.Bytes), mib(after.FreeBytes))
	}
}

func TestRetentionValidates(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r    execstore.Retention
		want string
	}{
		{execstore.Retention{MaxAge: 30 * time.Second, MaxCount: 10}, "history max age 30s is outside 1m0s..3650 days"},
		{execstore.Retention{MaxAge: time.Hour, MaxCount: 0}, "history max count 0 is outside 1..10000000"},
		{execstore.Retention{MaxAge: 11 * 365 * 24 * time.Hour, MaxCount: -1}, "history max age 4015 days"},
	} {
		if err := c.r.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
	if err := (execstore.Retention{}).OrDefaults().Validate(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	if got := (execstore.Retention{}).OrDefaults().String(); got != "7 days / 10000 executions" {
		t.Fatalf("the defaults read %q", got)
	}
	s := open(t, filepath.Join(t.TempDir(), "x.db"))
	if _, err := s.Prune(context.Background(), t0, execstore.Retention{MaxAge: time.Hour}); err == nil {
		t.Fatal("pruned with no count limit")
	}
}
