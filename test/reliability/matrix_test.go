package reliability

import (
	"context"
	"fmt"
	"os"
	"slices"
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

// extraCell is a cell outside the grid: a fault at a point, or a fourth
// mail that is itself the fault (mail set, point empty).
type extraCell struct {
	point faults.Point
	fault matrixFault
	mail  *faultyMail
}

// faultyMail is a mail that breaks its batch's execution, and the error it
// must be dead-lettered with; its batch-mates must be delivered as usual.
type faultyMail struct {
	id, body string
	want     workflow.ErrorName
	// target, when set, wraps the pipe's target (the fault itself).
	target *failHolding
}

// extraCells: the SENT write failing on every try, so the record stays
// outcome-unknown although the mail went out; a mail that fits SQS but not
// the execution input once encoded; a mail whose every execution fails as
// a whole.
var extraCells = []extraCell{
	{point: faults.MarkSent, fault: matrixFault{"fail always", faults.Fault{Kind: faults.Fail, Times: 1 << 20}}},
	{fault: matrixFault{name: "too large once encoded"}, mail: &faultyMail{
		id: "m-huge", body: rawBody("m-huge", map[string]any{"text": strings.Repeat(`"`, 70_000)}), want: workflow.TooLarge}},
	{fault: matrixFault{name: "whole-execution failure"}, mail: &faultyMail{
		id: "m-culprit", body: body("m-culprit"), want: workflow.ErrorName(asl.ErrRuntime),
		target: &failHolding{culprits: map[string]bool{"m-culprit": true}}}},
}

// name is the cell's label in test names and the report.
func (c extraCell) name() string {
	if c.mail != nil {
		return c.fault.name
	}
	return string(c.point) + ", " + c.fault.name
}

// answerWindow is where a mail's outcome can become unknown: SES accepted
// it and the SENT mark is not written yet. A fault there dead-letters the
// mail as Mail.OutcomeUnknown (it was delivered once); it never sends it
// again.
func answerWindow(p faults.Point) bool { return p == faults.SESAccepted || p == faults.MarkSent }

// cellResult is the outcome of one cell, for the report.
type cellResult struct {
	point        faults.Point
	fault        string
	delivered    int // good mails delivered once
	unknown      int // DLQ copies of good mails as outcome-unknown
	lockUnknown  int // good mails whose lock ends outcome-unknown
	cutOff       int // good mails whose send a crash cut off in flight
	faulty       int // DLQ copies of the cell's faulty mail
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
	if c.unknown > 0 {
		s += fmt.Sprintf(" · unknown %d", c.unknown)
	}
	if c.cutOff > 0 {
		s += fmt.Sprintf(" · cut off %d", c.cutOff)
	}
	if c.faulty > 0 {
		s += fmt.Sprintf(" · faulty mail in DLQ %d", c.faulty)
	}
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
// dead-letter steps are reached). Then the producer sends both good mails
// again with the same mail ids. Each cell checks that no mail is lost and
// none is sent twice: each good mail is delivered exactly once, whatever
// struck and however often it is sent; a good mail may also be in the DLQ,
// only as Mail.OutcomeUnknown and only when the fault struck between SES
// accepting and the SENT mark, or when a crash cut off its own send in
// flight (its attempt recorded in the dead process, no answer): such a
// mail is delivered at most once and must be in the DLQ as
// Mail.OutcomeUnknown, for an operator to settle. The bad one is in the
// DLQ with its error name and cause, never sent.
func TestFaultMatrix(t *testing.T) {
	var mu sync.Mutex
	var results []cellResult
	t.Run("cells", func(t *testing.T) {
		for _, pt := range faults.Points {
			for _, mf := range matrixFaults {
				t.Run(string(pt)+"/"+strings.ReplaceAll(mf.name, " ", "_"), func(t *testing.T) {
					t.Parallel()
					r := runCell(t, pt, mf, nil)
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				})
			}
		}
		for _, c := range extraCells {
			t.Run(strings.ReplaceAll(c.name(), " ", "_"), func(t *testing.T) {
				t.Parallel()
				r := runCell(t, c.point, c.fault, c.mail)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			})
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

func runCell(t *testing.T, pt faults.Point, mf matrixFault, fm *faultyMail) cellResult {
	w := newWorld(t, local.Config{MapConcurrency: 3})
	// When the process dies, a send of another mail may be in flight: its
	// attempt is recorded and its answer never will be.
	var crashMu sync.Mutex
	var crashedAt time.Time
	onCrash := faults.OnCrash(func(faults.Point) {
		crashMu.Lock()
		crashedAt = w.clock.Now()
		crashMu.Unlock()
	})
	plan := faults.New(faults.WithClock(w.clock), onCrash)
	if pt != "" {
		plan = faults.New(faults.At(pt, mf.fault), faults.WithClock(w.clock), onCrash)
	}
	if fm != nil && fm.target != nil {
		w.wrapTarget = fm.target.on
	}
	w.start(plan)

	good := []string{"m-attach", "m-plain"}
	const bad = "m-missing"
	withAttachment := client.Mail{
		MailID: good[0], To: []string{"ann@example.org"}, Subject: "reliability", Text: "hello",
		Headers: map[string]string{"X-Test-Id": good[0]},
		// Larger than the inline bound, so this mail is staged even where
		// small messages travel inline (the runtime stages every message
		// by default).
		Attachments: []client.Attachment{{Filename: "a.txt", ContentType: "text/plain", Content: []byte(strings.Repeat("attached ", 10000))}},
	}
	if _, err := w.client().Send(context.Background(), withAttachment); err != nil {
		t.Fatal(err)
	}
	bodies := []string{body(good[1]), body(bad, "attachments/missing/none.bin")}
	if fm != nil {
		bodies = append(bodies, fm.body)
	}
	w.enqueue(bodies...)

	if crashed := w.settle(60 * time.Second); crashed {
		w.restart(faults.New(faults.WithClock(w.clock)))
		if w.settle(60 * time.Second) {
			t.Fatal("the fault-free runtime crashed")
		}
	}
	switch {
	case pt != "" && plan.StruckTotal() == 0:
		t.Fatalf("the fault never struck at %s (hits %d)", pt, plan.Hits(pt))
	case fm != nil && fm.target != nil && fm.target.failed.Load() == 0:
		t.Fatalf("no execution holding %s failed", fm.id)
	}
	// A step inside the execution that outlasts its timeout times out its
	// task, or the execution.
	timedOut := w.statuses()[string(asl.StatusTimedOut)]
	if inExecution := pt != faults.QueueReceive && pt != faults.QueueDelete; mf.name == "exec timeout" && inExecution && timedOut == 0 && w.taskTimeouts() == 0 {
		t.Errorf("neither a task nor an execution timed out")
	}

	// The producer retries both good mails with the same ids (the bodies
	// the pipeline saw): nothing may be sent again.
	// (Uploads are content-addressed, so the body is the same.)
	if _, err := w.client().Send(context.Background(), withAttachment); err != nil {
		t.Fatal(err)
	}
	w.enqueue(body(good[1]))
	if w.settle(60 * time.Second) {
		t.Fatal("the runtime crashed on the resend")
	}

	res := cellResult{point: pt, fault: mf.name, restarts: w.restarts, struck: plan.StruckTotal(), timedOut: timedOut, taskTimedOut: w.taskTimeouts()}
	got := w.deliveries()
	// cutOff: good mails whose send attempt the crash cut off (recorded
	// in the dead process, never answered). Whether SES got the mail is
	// unknown, so it may be delivered once or not at all; either way it
	// must be in the DLQ as outcome-unknown, and never sent twice.
	cutOff := map[string]bool{}
	for _, id := range good {
		res.sent = append(res.sent, got[id])
		rec, ok, _ := w.rt.Locks().Get(context.Background(), id)
		crashMu.Lock()
		cut := ok && rec.OutcomeUnknown() && !crashedAt.IsZero() && !rec.AttemptedAt.After(crashedAt)
		crashMu.Unlock()
		if cut {
			cutOff[id] = true
		}
		switch n := got[id]; {
		case n == 1:
			res.delivered++
		case n == 0 && cut:
		default:
			t.Errorf("%s delivered %d times:%s", id, n, w.history(id))
		}
		if ok && rec.OutcomeUnknown() {
			res.lockUnknown++
		}
	}
	if n := got[bad]; n != 0 {
		t.Errorf("%s (missing attachment) delivered %d times", bad, n)
	}
	dl := w.deadLetters()
	for _, d := range dl {
		if fm != nil && d.MailID == fm.id {
			res.faulty++
			if d.Error != string(fm.want) || !strings.Contains(d.Failure, `"Cause"`) {
				t.Errorf("%s dead-lettered as %q (%s), want %s with its cause", fm.id, d.Error, d.Failure, fm.want)
			}
			continue
		}
		if d.MailID != bad {
			if d.Error == string(workflow.OutcomeUnknown) && (answerWindow(pt) || cutOff[d.MailID]) && strings.Contains(d.Failure, "--force") {
				res.unknown++
				continue
			}
			t.Errorf("%s is in the DLQ (%s): %s%s", d.MailID, d.Error, d.Failure, w.history(d.MailID))
			continue
		}
		res.deadLetter++
		if d.Error != string(workflow.AttachmentMissing) || !strings.Contains(d.Failure, `"Cause"`) || !strings.Contains(d.Failure, "none.bin") {
			t.Errorf("%s dead-lettered without its reason: error %q, failure %q", bad, d.Error, d.Failure)
		}
	}
	// A record left outcome-unknown is dead-lettered when the producer
	// resends it, never sent.
	if fm != nil {
		if n := got[fm.id]; n != 0 {
			t.Errorf("%s delivered %d times", fm.id, n)
		}
		if res.faulty == 0 {
			t.Errorf("%s is not in the DLQ", fm.id)
		}
	}
	res.cutOff = len(cutOff)
	for id := range cutOff {
		if !slices.ContainsFunc(dl, func(d deadLetter) bool { return d.MailID == id && d.Error == string(workflow.OutcomeUnknown) }) {
			t.Errorf("%s: its send was cut off by the crash, and it is not in the DLQ as %s:%s", id, workflow.OutcomeUnknown, w.history(id))
		}
	}
	if res.lockUnknown > 0 && res.unknown < res.lockUnknown {
		t.Errorf("%d good mails are outcome-unknown in the lock, %d in the DLQ", res.lockUnknown, res.unknown)
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
	count := func(r cellResult) {
		total["unknown"] += r.unknown
		total["cut off"] += r.cutOff
		total["dlq copies"] += r.deadLetter - 1
		total["cells"]++
	}
	for _, pt := range faults.Points {
		b.WriteString("| " + string(pt) + " |")
		for _, f := range matrixFaults {
			r := byCell[string(pt)+"|"+f.name]
			b.WriteString(" " + r.String() + " |")
			count(r)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, c := range extraCells {
		r := byCell[string(c.point)+"|"+c.fault.name]
		fmt.Fprintf(&b, "- %s: %s\n", c.name(), r)
		count(r)
	}
	fmt.Fprintf(&b, "\n%d cells, 0 lost, 0 sent twice; %d DLQ copies of good mails as Mail.OutcomeUnknown (in the SES-accepted/mark-sent window, or the %d sends a crash cut off in flight), %d extra DLQ copies of the bad mail\n",
		total["cells"], total["unknown"], total["cut off"], total["dlq copies"])
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
