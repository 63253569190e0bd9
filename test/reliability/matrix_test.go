package reliability

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/testkit/faults"
	"github.com/mailflow/mailflow/workflow"
)

// matrixFault is one column of the fault matrix.
type matrixFault struct {
	name  string
	fault faults.Fault
}

var matrixFaults = []matrixFault{
	{"fail once", faults.Fault{Kind: faults.Fail}},
	{"fail 4x", faults.Fault{Kind: faults.Fail, Times: 4}},
	{"delay 5s", faults.Fault{Kind: faults.Delay, Delay: 5 * time.Second}},
	// A step that takes 300 s outlasts every task's TimeoutSeconds (30 to
	// 120 s) and the execution's (290 s): the task times out on the
	// runtime's clock, as it would on AWS, and its record takes the
	// retry-later path (or, in a step the state machine runs itself, the
	// execution times out and the whole batch returns to the queue).
	{"exec timeout", faults.Fault{Kind: faults.Delay, Delay: 300 * time.Second}},
	{"crash+restart", faults.Fault{Kind: faults.Crash}},
}

// duplicateWindow is where a mail may go out twice: SES accepted it and
// the SENT mark is not written yet.
func duplicateWindow(p faults.Point) bool { return p == faults.SESAccepted || p == faults.MarkSent }

// cellResult is the outcome of one cell, for the report.
type cellResult struct {
	point        faults.Point
	fault        string
	delivered    int // good mails delivered (once, or more in the window)
	duplicates   int // extra deliveries
	deadLetter   int // copies of the bad mail in the DLQ
	restarts     int
	struck       int
	sent         []int // deliveries of each good mail
	timedOut     int   // executions that timed out
	taskTimedOut int   // tasks that timed out
}

// String is "sent a+b · DLQ n": how often each good mail was delivered,
// how many copies of the bad one are in the DLQ, "restart" after a crash,
// "timed out" when an execution timed out and "task timed out" when a task
// did.
func (c cellResult) String() string {
	counts := make([]string, len(c.sent))
	for i, n := range c.sent {
		counts[i] = fmt.Sprint(n)
	}
	s := fmt.Sprintf("sent %s · DLQ %d", strings.Join(counts, "+"), c.deadLetter)
	if c.timedOut > 0 {
		s += " · timed out"
	}
	if c.taskTimedOut > 0 {
		s += " · task timed out"
	}
	if c.restarts > 0 {
		s += " · restart"
	}
	return s
}

// TestFaultMatrix strikes every fault at every step boundary while three
// mails go through: one with an attachment, one without, and one whose
// attachment is missing (a permanent failure, so the release and
// dead-letter steps are reached). Each cell checks that no mail is lost:
// the good mails are delivered exactly once (twice only when the fault
// struck between SES accepting and the SENT mark, and then counted), and
// the bad one is in the DLQ with its error name and cause, never sent.
func TestFaultMatrix(t *testing.T) {
	var mu sync.Mutex
	var results []cellResult
	t.Run("cells", func(t *testing.T) {
		for _, pt := range faults.Points {
			for _, mf := range matrixFaults {
				t.Run(string(pt)+"/"+strings.ReplaceAll(mf.name, " ", "_"), func(t *testing.T) {
					t.Parallel()
					r := runCell(t, pt, mf)
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				})
			}
		}
	})
	if t.Failed() {
		return
	}
	table := matrixTable(results)
	t.Logf("fault matrix:\n%s", table)
	if out := os.Getenv("MAILFLOW_MATRIX_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runCell(t *testing.T, pt faults.Point, mf matrixFault) cellResult {
	w := newWorld(t, local.Config{MapConcurrency: 3})
	plan := faults.New(faults.At(pt, mf.fault), faults.WithClock(w.clock))
	w.start(plan)

	good := []string{"m-attach", "m-plain"}
	const bad = "m-missing"
	if _, err := w.client().Send(context.Background(), client.Mail{
		MailID: good[0], To: []string{"ann@example.org"}, Subject: "reliability", Text: "hello",
		Headers:     map[string]string{"X-Test-Id": good[0]},
		Attachments: []client.Attachment{{Filename: "a.txt", ContentType: "text/plain", Content: []byte("attached")}},
	}); err != nil {
		t.Fatal(err)
	}
	w.enqueue(body(good[1]), body(bad, "attachments/missing/none.bin"))

	if crashed := w.settle(60 * time.Second); crashed {
		w.restart(faults.New(faults.WithClock(w.clock)))
		if w.settle(60 * time.Second) {
			t.Fatal("the fault-free runtime crashed")
		}
	}
	if plan.StruckTotal() == 0 {
		t.Fatalf("the fault never struck at %s (hits %d)", pt, plan.Hits(pt))
	}
	// A step inside the execution that outlasts its timeout times out its
	// task, or the execution.
	timedOut := w.statuses()[string(asl.StatusTimedOut)]
	if inExecution := pt != faults.QueueReceive && pt != faults.QueueDelete; mf.name == "exec timeout" && inExecution && timedOut == 0 && w.taskTimeouts() == 0 {
		t.Errorf("neither a task nor an execution timed out")
	}

	res := cellResult{point: pt, fault: mf.name, restarts: w.restarts, struck: plan.StruckTotal(), timedOut: timedOut, taskTimedOut: w.taskTimeouts()}
	got := w.deliveries()
	for _, id := range good {
		res.sent = append(res.sent, got[id])
		switch n := got[id]; {
		case n == 1:
			res.delivered++
		case n > 1 && duplicateWindow(pt):
			// Every lost answer after SES accepted is one more copy.
			res.delivered++
			res.duplicates += n - 1
			t.Logf("%s delivered %d times: the fault struck in the duplicate window", id, n)
		default:
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if n := got[bad]; n != 0 {
		t.Errorf("%s (missing attachment) delivered %d times", bad, n)
	}
	dl := w.deadLetters()
	for _, d := range dl {
		if d.MailID != bad {
			t.Errorf("%s is in the DLQ (%s): %s", d.MailID, d.Error, d.Failure)
			continue
		}
		res.deadLetter++
		if d.Error != string(workflow.AttachmentMissing) || !strings.Contains(d.Failure, `"Cause"`) || !strings.Contains(d.Failure, "none.bin") {
			t.Errorf("%s dead-lettered without its reason: error %q, failure %q", bad, d.Error, d.Failure)
		}
	}
	// A dead-lettered record whose source message is not deleted (the
	// delete failed, or the execution timed out after the DLQ send) is
	// dead-lettered again when it returns: extra copies, never a loss.
	if res.deadLetter < 1 {
		t.Errorf("%s is not in the DLQ", bad)
	}
	if t.Failed() {
		t.Logf("faults: %s", plan.Summary())
	}
	return res
}

// matrixTable renders the results as a Markdown table: one row per step,
// one column per fault.
func matrixTable(results []cellResult) string {
	byCell := map[string]cellResult{}
	for _, r := range results {
		byCell[string(r.point)+"|"+r.fault] = r
	}
	var b strings.Builder
	b.WriteString("| step |")
	for _, f := range matrixFaults {
		b.WriteString(" " + f.name + " |")
	}
	b.WriteString("\n|---|")
	for range matrixFaults {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	total := map[string]int{}
	for _, pt := range faults.Points {
		b.WriteString("| " + string(pt) + " |")
		for _, f := range matrixFaults {
			r := byCell[string(pt)+"|"+f.name]
			b.WriteString(" " + r.String() + " |")
			total["duplicates"] += r.duplicates
			total["dlq copies"] += r.deadLetter - 1
			total["cells"]++
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n%d cells, 0 lost, %d extra deliveries (all in the SES-accepted/mark-sent window), %d extra DLQ copies\n",
		total["cells"], total["duplicates"], total["dlq copies"])
	return b.String()
}

// TestPersistentTransientFailure: a step that fails on every attempt
// (S3 down for longer than five visibility timeouts) does not lose the
// mail either: on its last receive before the queue's redrive policy would
// move it without a reason, the state machine dead-letters it itself, with
// the error name and cause as attributes.
func TestPersistentTransientFailure(t *testing.T) {
	w := newWorld(t, local.Config{})
	w.start(faults.New(faults.At(faults.Fetch, faults.Fault{Kind: faults.Fail, Times: 1 << 30}), faults.WithClock(w.clock)))
	if _, err := w.client().Send(context.Background(), client.Mail{
		MailID: "m-persistent", To: []string{"ann@example.org"}, Subject: "reliability", Text: "hello",
		Headers:     map[string]string{"X-Test-Id": "m-persistent"},
		Attachments: []client.Attachment{{Filename: "a.txt", ContentType: "text/plain", Content: []byte("attached")}},
	}); err != nil {
		t.Fatal(err)
	}
	w.enqueue(body("m-plain"))
	if w.settle(2 * time.Minute) {
		t.Fatal("crashed without a crash fault")
	}
	if got := w.deliveries(); got["m-persistent"] != 0 || got["m-plain"] != 1 {
		t.Fatalf("deliveries %v", got)
	}
	dl := w.deadLetters()
	if len(dl) != 1 || dl[0].MailID != "m-persistent" {
		t.Fatalf("DLQ %+v, want m-persistent dead-lettered on its last receive", dl)
	}
	if dl[0].Error != string(workflow.Transient) || !strings.Contains(dl[0].Failure, "Cause") {
		t.Fatalf("dead letter without its reason: error %q, failure %q", dl[0].Error, dl[0].Failure)
	}
	items, err := w.rt.Executions().ItemsByMail(context.Background(), "m-persistent")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != local.DefaultMaxReceiveCount {
		t.Errorf("%d attempts recorded, want %d", len(items), local.DefaultMaxReceiveCount)
	}
	// Newest first: the last receive dead-lettered, the earlier ones went
	// back to the queue.
	for i, it := range items {
		want := workflow.OutcomeRetryLater
		if i == 0 {
			want = workflow.OutcomeDeadLettered
		}
		if it.Item.Outcome != want || it.Item.Error != string(workflow.Transient) {
			t.Errorf("attempt %+v: want %s with %s", it.Item, want, workflow.Transient)
		}
	}
	t.Logf("dead-lettered on attempt %d with %s", len(items), dl[0].Error)
}
