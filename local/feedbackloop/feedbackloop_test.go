package feedbackloop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflow/mailflow/local/feedbackloop"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/workflow"
)

const (
	events = "events"
	dlq    = "events-dlq"
)

// queues opens a store with an events queue whose redrive policy moves a
// message to the dead-letter queue after maxReceive receives.
func queues(t testing.TB, visibility, maxReceive int) *sqsstore.Store {
	t.Helper()
	s, err := sqsstore.Open(filepath.Join(t.TempDir(), "q.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if err := s.CreateQueue(ctx, dlq, nil, nil); err != nil {
		t.Fatal(err)
	}
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": s.QueueARN(dlq), "maxReceiveCount": maxReceive})
	if err := s.CreateQueue(ctx, events, map[string]string{
		"VisibilityTimeout": fmt.Sprint(visibility), "RedrivePolicy": string(redrive),
	}, nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func send(t *testing.T, s *sqsstore.Store, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := s.Send(context.Background(), events, sqsstore.SendParams{Body: b}); err != nil {
			t.Fatal(err)
		}
	}
}

// errMalformed stands for the handler's permanent error.
var errMalformed = errors.New("record is malformed")

func classify(err error) (string, bool) {
	if errors.Is(err, errMalformed) {
		return "the event record is malformed", true
	}
	return "", false
}

// run starts the loop and returns a stop that cancels it and waits for Run
// to return, failing the test if it does not within five seconds.
func run(t *testing.T, cfg feedbackloop.Config) (*feedbackloop.Loop, func()) {
	t.Helper()
	cfg.Queue, cfg.DeadLetterQueue = events, dlq
	if cfg.Classify == nil {
		cfg.Classify = classify
	}
	if cfg.OnError == nil {
		cfg.OnError = func(err error) { t.Errorf("OnError: %v", err) }
	}
	l, err := feedbackloop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return l, stop
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func counts(t *testing.T, s *sqsstore.Store, queue string) sqsstore.Counts {
	t.Helper()
	c, err := s.QueueCounts(context.Background(), queue)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRecordsAndDeletes(t *testing.T) {
	t.Parallel()
	s := queues(t, 30, 5)
	var mu sync.Mutex
	got := map[string]int{}
	l, stop := run(t, feedbackloop.Config{Queues: s, Record: func(_ context.Context, body []byte) error {
		mu.Lock()
		got[string(body)]++
		mu.Unlock()
		return nil
	}})
	for i := range 25 {
		send(t, s, fmt.Sprintf("event-%d", i))
	}
	eventually(t, "25 processed", func() bool { return l.Counts().Processed == 25 })
	stop()
	if c := l.Counts(); c != (feedbackloop.Counts{Received: 25, Processed: 25}) {
		t.Fatalf("counts %+v", c)
	}
	for i := range 25 {
		if n := got[fmt.Sprintf("event-%d", i)]; n != 1 {
			t.Errorf("event-%d recorded %d times", i, n)
		}
	}
	if c := counts(t, s, events); c.Visible+c.InFlight != 0 {
		t.Fatalf("events queue still holds %+v", c)
	}
}

// A malformed record goes to the dead-letter queue at once, body unchanged
// and with its reason, and the records behind it are still recorded.
func TestMalformedDeadLetteredAndLoopContinues(t *testing.T) {
	t.Parallel()
	s := queues(t, 30, 5)
	var calls atomic.Int64
	l, stop := run(t, feedbackloop.Config{Queues: s, Record: func(_ context.Context, body []byte) error {
		calls.Add(1)
		if strings.HasPrefix(string(body), "bad") {
			return fmt.Errorf("decode %q: %w", body, errMalformed)
		}
		return nil
	}})
	send(t, s, "bad-1", "good-1", "bad-2", "good-2", "good-3")
	eventually(t, "all settled", func() bool { c := l.Counts(); return c.Processed == 3 && c.DeadLettered == 2 })
	stop()
	if calls.Load() != 5 {
		t.Fatalf("recorder called %d times, want 5 (no retry of a malformed record)", calls.Load())
	}
	wait := 0
	msgs, err := s.Receive(context.Background(), dlq, sqsstore.ReceiveParams{MaxMessages: 10, WaitTimeSeconds: &wait})
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]sqsstore.Message{}
	for _, m := range msgs {
		bodies[m.Body] = m
	}
	for _, b := range []string{"bad-1", "bad-2"} {
		m, ok := bodies[b]
		if !ok {
			t.Fatalf("%s not in the dead-letter queue (got %d messages)", b, len(msgs))
		}
		if r := m.Attributes[workflow.DLQAttrReason].StringValue; r != "the event record is malformed" {
			t.Errorf("%s: reason %q", b, r)
		}
		if c := m.Attributes[feedbackloop.AttrCause].StringValue; !strings.Contains(c, "record is malformed") || !strings.Contains(c, b) {
			t.Errorf("%s: cause %q", b, c)
		}
		if id := m.Attributes[workflow.DLQAttrMessageID].StringValue; id == "" {
			t.Errorf("%s: no source message id", b)
		}
	}
	if c := counts(t, s, events); c.Visible+c.InFlight != 0 {
		t.Fatalf("events queue still holds %+v", c)
	}
}

// Any other error leaves the message for redelivery after the visibility
// timeout; one that keeps failing is moved by the queue's redrive policy.
func TestTransientRedelivered(t *testing.T) {
	t.Parallel()
	s := queues(t, 1, 3)
	var mu sync.Mutex
	tries := map[string]int{}
	l, stop := run(t, feedbackloop.Config{Queues: s, Record: func(_ context.Context, body []byte) error {
		mu.Lock()
		defer mu.Unlock()
		tries[string(body)]++
		if string(body) == "always" || tries[string(body)] < 2 {
			return errors.New("table busy")
		}
		return nil
	}})
	send(t, s, "flaky", "always")
	eventually(t, "flaky recorded", func() bool { return l.Counts().Processed == 1 })
	eventually(t, "always moved by the redrive", func() bool { return counts(t, s, dlq).Visible == 1 })
	stop()
	mu.Lock()
	defer mu.Unlock()
	if tries["flaky"] != 2 || tries["always"] != 3 {
		t.Fatalf("tries %v, want flaky 2 and always 3 (maxReceiveCount)", tries)
	}
	if c := l.Counts(); c.DeadLettered != 0 || c.Failed != 4 {
		t.Fatalf("counts %+v: the loop dead-letters nothing itself, 4 failures", c)
	}
	wait := 0
	msgs, _ := s.Receive(context.Background(), dlq, sqsstore.ReceiveParams{WaitTimeSeconds: &wait})
	if len(msgs) != 1 || msgs[0].Body != "always" || msgs[0].DeadLetterQueueSourceArn != s.QueueARN(events) {
		t.Fatalf("dead-letter queue %+v", msgs)
	}
}

// A recorder that panics leaves the message in the queue, and the loop
// keeps going.
func TestPanicLeavesMessage(t *testing.T) {
	t.Parallel()
	s := queues(t, 30, 5)
	l, stop := run(t, feedbackloop.Config{Queues: s, Record: func(_ context.Context, body []byte) error {
		if string(body) == "boom" {
			panic("nil map")
		}
		return nil
	}, Classify: func(error) (string, bool) { return "everything is permanent", true }})
	send(t, s, "boom", "fine")
	eventually(t, "fine recorded", func() bool { return l.Counts().Processed == 1 })
	eventually(t, "boom failed", func() bool { return l.Counts().Failed == 1 })
	stop()
	if c := counts(t, s, events); c.InFlight != 1 {
		t.Fatalf("events queue %+v, want the panicking message in flight", c)
	}
	if c := counts(t, s, dlq); c.Visible != 0 {
		t.Fatalf("dead-letter queue %+v: a panic is not a malformed record", c)
	}
}

func TestConcurrencyBounded(t *testing.T) {
	t.Parallel()
	s := queues(t, 30, 5)
	var active, peak atomic.Int64
	release := make(chan struct{})
	l, stop := run(t, feedbackloop.Config{Queues: s, Concurrency: 4, Record: func(ctx context.Context, body []byte) error {
		n := active.Add(1)
		defer active.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		return nil
	}})
	for i := range 12 {
		send(t, s, fmt.Sprint(i))
	}
	eventually(t, "4 under way", func() bool { return active.Load() == 4 })
	time.Sleep(50 * time.Millisecond)
	if p := peak.Load(); p != 4 {
		t.Fatalf("peak %d under way, want 4", p)
	}
	close(release)
	eventually(t, "12 processed", func() bool { return l.Counts().Processed == 12 })
	stop()
	if p := peak.Load(); p != 4 {
		t.Fatalf("peak %d under way, want 4", p)
	}
}

// Cancel stops the loop: Run returns only once every recorder call has
// returned, and the message under way stays in the queue.
func TestCancelStopsCleanly(t *testing.T) {
	t.Parallel()
	s := queues(t, 30, 5)
	var active atomic.Int64
	started := make(chan struct{}, 1)
	l, stop := run(t, feedbackloop.Config{Queues: s, Record: func(ctx context.Context, body []byte) error {
		active.Add(1)
		defer active.Add(-1)
		started <- struct{}{}
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // still running when cancel returns
		return ctx.Err()
	}})
	send(t, s, "slow")
	<-started
	stop()
	if n := active.Load(); n != 0 {
		t.Fatalf("%d recorder calls still running after Run returned", n)
	}
	if c := l.Counts(); c.Failed != 1 || c.DeadLettered != 0 {
		t.Fatalf("counts %+v", c)
	}
	if c := counts(t, s, events); c.InFlight != 1 {
		t.Fatalf("events queue %+v, want the message left in flight", c)
	}
}

// An idle loop, long-polling, stops at once too.
func TestCancelWhileIdle(t *testing.T) {
	t.Parallel()
	s := queues(t, 30, 5)
	_, stop := run(t, feedbackloop.Config{Queues: s, Record: func(context.Context, []byte) error { return nil }})
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	stop()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("stop took %v", d)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	s := queues(t, 30, 5)
	rec := func(context.Context, []byte) error { return nil }
	cases := map[string]struct {
		cfg  feedbackloop.Config
		want string
	}{
		"no store":    {feedbackloop.Config{Queue: events, DeadLetterQueue: dlq, Record: rec, Classify: classify}, "queue store is required"},
		"no queue":    {feedbackloop.Config{Queues: s, DeadLetterQueue: dlq, Record: rec, Classify: classify}, `got "" and "events-dlq"`},
		"same queue":  {feedbackloop.Config{Queues: s, Queue: events, DeadLetterQueue: events, Record: rec, Classify: classify}, `not be the queue itself ("events")`},
		"no recorder": {feedbackloop.Config{Queues: s, Queue: events, DeadLetterQueue: dlq, Classify: classify}, "recorder (Record) and a classifier (Classify)"},
		"concurrency": {feedbackloop.Config{Queues: s, Queue: events, DeadLetterQueue: dlq, Record: rec, Classify: classify, Concurrency: 101}, "(Concurrency) 101 is outside 1..100"},
	}
	for name, c := range cases {
		if _, err := feedbackloop.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}

// RecordBatch takes each receive whole: what it records is deleted, what
// it calls malformed is dead-lettered, the rest and a panicking batch come
// back.
func TestRecordBatch(t *testing.T) {
	t.Parallel()
	s := queues(t, 1, 5)
	var mu sync.Mutex
	var sizes []int
	panicOnce := atomic.Bool{}
	l, stop := run(t, feedbackloop.Config{Queues: s, RecordBatch: func(_ context.Context, bodies [][]byte) []error {
		mu.Lock()
		sizes = append(sizes, len(bodies))
		mu.Unlock()
		errs := make([]error, len(bodies))
		for i, b := range bodies {
			switch {
			case string(b) == "panic" && panicOnce.CompareAndSwap(false, true):
				panic("recorder bug")
			case strings.HasPrefix(string(b), "bad"):
				errs[i] = fmt.Errorf("decode %q: %w", b, errMalformed)
			}
		}
		return errs
	}})
	send(t, s, "good-1", "bad-1", "good-2", "panic", "good-3")
	eventually(t, "all settled", func() bool { c := l.Counts(); return c.Processed == 4 && c.DeadLettered == 1 })
	stop()
	if c := counts(t, s, events); c.Visible+c.InFlight != 0 {
		t.Fatalf("events queue still holds %+v", c)
	}
	if c := counts(t, s, dlq); c.Visible != 1 {
		t.Fatalf("dead-letter queue %+v, want the malformed record", c)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range sizes {
		if n < 1 || n > 10 {
			t.Fatalf("batch sizes %v", sizes)
		}
	}
}

// While Busy says so, a worker pauses after its work so that recording
// takes at most BusyShare of its time; once not busy, it goes at full
// speed.
func TestBusyYields(t *testing.T) {
	t.Parallel()
	s := queues(t, 30, 5)
	var busy atomic.Bool
	busy.Store(true)
	const work = 20 * time.Millisecond
	l, stop := run(t, feedbackloop.Config{Queues: s, Concurrency: 1, Busy: busy.Load, BusyShare: 0.25,
		Record: func(context.Context, []byte) error { time.Sleep(work); return nil }})
	start := time.Now()
	send(t, s, "1", "2", "3", "4")
	eventually(t, "4 processed", func() bool { return l.Counts().Processed == 4 })
	// Four messages of 20 ms each at a quarter share: at least 3 pauses of
	// 60 ms follow the first three.
	if took := time.Since(start); took < 4*work+3*3*work {
		t.Fatalf("4 messages took %s while busy, want at least %s", took, 4*work+3*3*work)
	}
	if y := l.Counts().Yielded; y < 3 {
		t.Fatalf("%d pauses, want at least 3", y)
	}
	busy.Store(false)
	yielded := l.Counts().Yielded
	send(t, s, "5", "6")
	eventually(t, "6 processed", func() bool { return l.Counts().Processed == 6 })
	if y := l.Counts().Yielded; y != yielded {
		t.Fatalf("paused %d times while not busy", y-yielded)
	}
	stop()
}

func TestBusyShareValidated(t *testing.T) {
	t.Parallel()
	_, err := feedbackloop.New(feedbackloop.Config{Queues: queues(t, 30, 5), Queue: events, DeadLetterQueue: dlq,
		Record: func(context.Context, []byte) error { return nil }, Classify: classify, Busy: func() bool { return true }, BusyShare: 0})
	if err == nil || !strings.Contains(err.Error(), "BusyShare 0") {
		t.Fatalf("err = %v", err)
	}
}
