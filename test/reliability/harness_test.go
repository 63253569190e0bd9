package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/testkit/faults"
	"github.com/mailflow/mailflow/workflow"
)

// scale is how much faster than the wall clock the runtime's clock runs in
// these tests: the six-minute lease, the seven-minute visibility timeout
// and the 290-second execution timeout keep their proportions but take
// seconds.
const scale = 200

// world is one data directory and the runtime serving it, restarted after
// a crash.
type world struct {
	t     *testing.T
	data  string
	clock *clock.Scaled
	cfg   local.Config
	rt    *local.Runtime
	plan  *faults.Plan
	plans []*faults.Plan
	// restarts counts runtimes started after a crash.
	restarts int
	// wrapTarget, when set, wraps the pipe's target in every runtime.
	wrapTarget func(pipes.Target) pipes.Target

	mu       sync.Mutex
	statusOf map[string]int // executions by status
	timeouts int            // tasks that outlasted their TimeoutSeconds
}

// statuses counts the executions of every runtime by status.
func (w *world) statuses() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.statusOf))
	for k, v := range w.statusOf {
		out[k] = v
	}
	return out
}

// taskTimeouts counts the tasks that timed out (TaskTimedOut events).
func (w *world) taskTimeouts() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.timeouts
}

func newWorld(t *testing.T, cfg local.Config) *world {
	t.Helper()
	clk, err := clock.NewScaled(scale)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, data: t.TempDir(), clock: clk, cfg: cfg, statusOf: map[string]int{}}
	t.Cleanup(func() { w.close() })
	return w
}

// start runs a runtime on the world's data directory with plan's faults.
func (w *world) start(plan *faults.Plan) {
	w.t.Helper()
	cfg := w.cfg
	cfg.DataDir = w.data
	cfg.Addr = "127.0.0.1:0"
	cfg.Clock = w.clock
	if cfg.BatchWindow == 0 {
		cfg.BatchWindow = 10 * time.Millisecond
	}
	if cfg.SES.MaxSendRate == 0 {
		cfg.DisablePacing = true
	}
	next := cfg.OnExecution
	cfg.OnExecution = func(e execstore.Execution, items []execstore.Item) {
		w.mu.Lock()
		w.statusOf[string(e.Status)]++
		w.mu.Unlock()
		if next != nil {
			next(e, items)
		}
	}
	nextEvent := cfg.OnEvent
	cfg.OnEvent = func(id string, ev execstore.Event) {
		if ev.Type == string(asl.TaskTimedOut) {
			w.mu.Lock()
			w.timeouts++
			w.mu.Unlock()
		}
		if nextEvent != nil {
			nextEvent(id, ev)
		}
	}
	hooks := plan.Hooks()
	hooks.WrapTarget = w.wrapTarget
	rt, err := local.StartWith(context.Background(), cfg, hooks)
	if err != nil {
		w.t.Fatal(err)
	}
	w.rt, w.plan = rt, plan
	w.plans = append(w.plans, plan)
}

// sdk returns SQS and S3 clients of the runtime's endpoint.
func (w *world) sdk() (*sqs.Client, *s3.Client) {
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	c := w.rt.Config()
	return sqs.New(sqs.Options{Region: c.Region, BaseEndpoint: aws.String(w.rt.Endpoint()), Credentials: creds}),
		s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(w.rt.Endpoint()), UsePathStyle: true, Credentials: creds})
}

// outboxCount is the number of delivered mails.
func (w *world) outboxCount() int {
	entries, err := os.ReadDir(filepath.Join(w.data, "outbox"))
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") {
			n++
		}
	}
	return n
}

// close stops the runtime; after a crash its executions end quickly, as
// every call they make fails.
func (w *world) close() {
	if w.rt == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.rt.Close(ctx); err != nil {
		w.t.Errorf("closing the runtime: %v", err)
	}
	w.rt = nil
}

// restart models kill -9 and a new process on the same data directory.
func (w *world) restart(plan *faults.Plan) {
	w.t.Helper()
	w.close()
	w.restarts++
	w.start(plan)
}

func (w *world) client() *client.Client {
	w.t.Helper()
	c := w.rt.Config()
	sqsc, s3c := w.sdk()
	cl, err := client.New(client.Config{
		QueueURL: w.rt.QueueURL(c.SourceQueue), Bucket: c.Bucket,
		Limits: workflow.Limits{AttachmentPrefix: c.AttachmentPrefix, AllowedSenders: c.AllowedSenders, DefaultSender: c.DefaultSender},
		SQS:    sqsc, S3: s3c,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return cl
}

// enqueue puts raw bodies on the source queue.
func (w *world) enqueue(bodies ...string) {
	w.t.Helper()
	q := w.rt.Queues()
	for start := 0; start < len(bodies); start += 10 {
		var entries []sqsstore.SendBatchEntry
		for i, b := range bodies[start:min(start+10, len(bodies))] {
			entries = append(entries, sqsstore.SendBatchEntry{ID: strconv.Itoa(i), SendParams: sqsstore.SendParams{Body: b}})
		}
		res, err := q.SendBatch(context.Background(), w.rt.Config().SourceQueue, entries)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				w.t.Fatal(r.Err)
			}
		}
	}
}

// depth is visible + in flight + delayed messages of a queue.
func (w *world) depth(queue string) int {
	w.t.Helper()
	attrs, err := w.rt.Queues().GetQueueAttributes(context.Background(), queue, []string{"All"})
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, k := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
		v, _ := strconv.Atoi(attrs[k])
		n += v
	}
	return n
}

// deliveries counts delivered mail per X-Test-Id header in the outbox.
func (w *world) deliveries() map[string]int {
	w.t.Helper()
	counts := map[string]int{}
	files, err := filepath.Glob(filepath.Join(w.data, "outbox", "*.eml"))
	if err != nil {
		w.t.Fatal(err)
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			w.t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				break
			}
			if id, ok := strings.CutPrefix(line, "X-Test-Id: "); ok {
				counts[id]++
				break
			}
		}
		fh.Close()
	}
	return counts
}

// deadLetter is one message of the DLQ.
type deadLetter struct {
	MailID, Error, Failure, Body string
}

// deadLetters reads every message of the DLQ, then makes them visible
// again, so the read can be repeated.
func (w *world) deadLetters() []deadLetter {
	w.t.Helper()
	q := w.rt.Queues()
	name := w.rt.Config().DeadLetterQueue
	zero, hide := 0, 43200
	var out []deadLetter
	var handles []sqsstore.BatchEntry
	for {
		msgs, err := q.Receive(context.Background(), name, sqsstore.ReceiveParams{MaxMessages: 10, WaitTimeSeconds: &zero, VisibilityTimeout: &hide})
		if err != nil {
			w.t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			var body struct {
				MailID string `json:"mailId"`
			}
			_ = json.Unmarshal([]byte(m.Body), &body)
			out = append(out, deadLetter{Body: m.Body, MailID: body.MailID, Error: m.Attributes["mailflow.error"].StringValue, Failure: m.Attributes["mailflow.failure"].StringValue})
			handles = append(handles, sqsstore.BatchEntry{ID: strconv.Itoa(len(handles) % 10), ReceiptHandle: m.ReceiptHandle})
		}
	}
	for start := 0; start < len(handles); start += 10 {
		if _, err := q.ChangeVisibilityBatch(context.Background(), name, handles[start:min(start+10, len(handles))]); err != nil {
			w.t.Fatal(err)
		}
	}
	return out
}

// settle waits until the source queue is empty (nothing visible, nothing
// in flight) or the plan crashes; it reports which.
func (w *world) settle(limit time.Duration) (crashed bool) {
	w.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if w.plan.IsCrashed() {
			return true
		}
		if w.depth(w.rt.Config().SourceQueue) == 0 {
			return false
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the source queue did not drain within %s (%d left); faults: %s", limit, w.depth(w.rt.Config().SourceQueue), w.plan.Summary())
		}
		select {
		case <-w.plan.Crashed():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// body is a valid message body for a mail with a test id.
func body(mailID string, attachmentKeys ...string) string {
	m := map[string]any{
		"version": 1, "mailId": mailID, "to": []string{"ann@example.org"}, "subject": "reliability " + mailID,
		"text": "hello", "headers": map[string]string{"X-Test-Id": mailID},
	}
	if len(attachmentKeys) > 0 {
		var atts []map[string]any
		for i, k := range attachmentKeys {
			atts = append(atts, map[string]any{"key": k, "filename": fmt.Sprintf("a%d.txt", i), "contentType": "text/plain"})
		}
		m["attachments"] = atts
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// history describes what the executions did with a mail, and its lock.
func (w *world) history(mailID string) string {
	items, err := w.rt.Executions().ItemsByMail(context.Background(), mailID)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "\n  %+v", it)
	}
	rec, ok, err := w.rt.Locks().Get(context.Background(), mailID)
	fmt.Fprintf(&b, "\n  lock: %+v %v %v", rec, ok, err)
	if ok && rec.SESMessageID != "" {
		raw, err := os.ReadFile(filepath.Join(w.data, "outbox", rec.SESMessageID+".eml"))
		if len(raw) > 2000 {
			raw = raw[:2000]
		}
		fmt.Fprintf(&b, "\n  outbox file: %v\n%s", err, raw)
	}
	return b.String()
}

// struckSummary adds up the faults that struck in every runtime, by kind.
func (w *world) struckSummary() string {
	byKind := map[string]int{}
	for _, p := range w.plans {
		for k, v := range p.Struck() {
			_, kind, _ := strings.Cut(k, "/")
			byKind[kind] += v
		}
	}
	keys := make([]string, 0, len(byKind))
	for k := range byKind {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, byKind[k]))
	}
	return strings.Join(parts, ", ")
}
