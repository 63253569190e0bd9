package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/testkit/faults"
	"github.com/mailflow/mailflow/workflow"
)

// payloadLimit is the Step Functions execution input limit.
const payloadLimit = pipes.DefaultPayloadLimit

// sized is a world whose pipe is watched: how often each mail is received,
// and the size of every execution input.
type sized struct {
	*world
	mu       sync.Mutex
	receives map[string]int // by mailId
	inputs   []int          // bytes of each execution's input
}

// startSized starts a runtime on w with a pipe target wrapped by wrap (nil
// leaves it as it is).
func startSized(t *testing.T, cfg local.Config, wrap func(pipes.Target) pipes.Target) *sized {
	t.Helper()
	w := newWorld(t, cfg)
	s := &sized{world: w, receives: map[string]int{}}
	cfg.DataDir, cfg.Addr, cfg.Clock = w.data, "127.0.0.1:0", w.clock
	cfg.BatchWindow = 10 * time.Millisecond
	cfg.DisablePacing = true
	cfg.OnExecution = func(e execstore.Execution, _ []execstore.Item) {
		s.mu.Lock()
		s.inputs = append(s.inputs, len(e.Input))
		s.mu.Unlock()
	}
	plan := faults.New()
	hooks := plan.Hooks()
	hooks.WrapSource = func(src pipes.Source) pipes.Source { return countingSource{Source: src, s: s} }
	hooks.WrapTarget = wrap
	rt, err := local.StartWith(context.Background(), cfg, hooks)
	if err != nil {
		t.Fatal(err)
	}
	w.rt, w.plan = rt, plan
	return s
}

func (s *sized) receivesOf(mailID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.receives[mailID]
}

func (s *sized) inputSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.inputs...)
}

// listDeadLetters is what `mailflow dlq list` shows.
func (s *sized) listDeadLetters(t *testing.T) map[string]inspect.DeadLetter {
	t.Helper()
	sqsc, _ := s.sdk()
	c := s.rt.Config()
	q := &inspect.Queues{API: sqsc, SourceURL: s.rt.QueueURL(c.SourceQueue), DLQURL: s.rt.QueueURL(c.DeadLetterQueue)}
	list, err := q.DeadLetters(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]inspect.DeadLetter{}
	for _, d := range list {
		if _, dup := out[d.MailID]; dup {
			t.Errorf("%s is in the DLQ twice", d.MailID)
		}
		out[d.MailID] = d
	}
	return out
}

// countingSource counts the receives of each mail.
type countingSource struct {
	pipes.Source
	s *sized
}

func (c countingSource) Receive(ctx context.Context, max int, wait time.Duration) ([]pipes.Message, error) {
	msgs, err := c.Source.Receive(ctx, max, wait)
	c.s.mu.Lock()
	for _, m := range msgs {
		c.s.receives[workflow.PeekMailID(m.Body)]++
	}
	c.s.mu.Unlock()
	return msgs, err
}

// rawBody is a valid message body with extra fields, encoded without Go's
// HTML escaping, so its bytes are the ones given.
func rawBody(mailID string, fields map[string]any) string {
	m := map[string]any{"version": 1, "mailId": mailID, "to": []string{"ann@example.org"}, "subject": "size " + mailID,
		"text": "hello", "headers": map[string]string{"X-Test-Id": mailID}}
	for k, v := range fields {
		m[k] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// TestTooLargeAfterEncodingIsDeadLetteredAtOnce: a mail that fits SQS but
// not the execution input once encoded (each '\"' of its body becomes four
// bytes) goes to the DLQ on its first receive with Mail.TooLarge and its
// sizes; the healthy mails of its batch are delivered once.
func TestTooLargeAfterEncodingIsDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	s := startSized(t, local.Config{BatchSize: 10}, nil)
	big := rawBody("size-big", map[string]any{"text": strings.Repeat(`"`, 70_000)})
	if len(big) > 256*1024 || len(big) < 140_000 {
		t.Fatalf("the big body is %d bytes; it must fit SQS and outgrow the input once encoded", len(big))
	}
	s.enqueue(rawBody("size-ok-1", nil), big, rawBody("size-ok-2", nil), rawBody("size-ok-3", nil))
	s.settle(time.Minute)

	got := s.deliveries()
	for _, id := range []string{"size-ok-1", "size-ok-2", "size-ok-3"} {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times, want once", id, got[id])
		}
	}
	if got["size-big"] != 0 {
		t.Errorf("size-big delivered")
	}
	if n := s.receivesOf("size-big"); n != 1 {
		t.Errorf("size-big received %d times, want once: dead-lettered at once", n)
	}
	for _, n := range s.inputSizes() {
		if n > payloadLimit {
			t.Errorf("an execution input of %d bytes", n)
		}
	}
	items, err := s.rt.Executions().ItemsByMail(context.Background(), "size-big")
	if err != nil || len(items) != 0 {
		t.Errorf("size-big reached %d executions (%v), want none", len(items), err)
	}
	dl := s.listDeadLetters(t)
	d, ok := dl["size-big"]
	if len(dl) != 1 || !ok {
		t.Fatalf("DLQ %v, want size-big only", dl)
	}
	if d.Error != string(workflow.TooLarge) || !strings.Contains(d.Cause, strconv.Itoa(payloadLimit)) || d.Body != big {
		t.Fatalf("dead letter %s: %q; want %s naming its size and the limit, with the body", d.Error, d.Cause, workflow.TooLarge)
	}
	var size int
	if _, err := fmt.Sscanf(d.Cause, "the record is %d bytes", &size); err != nil || size <= payloadLimit || size > 2*len(big)+4096 {
		t.Fatalf("cause %q does not name an encoded size over the limit (%v)", d.Cause, err)
	}
	t.Logf("body %d bytes, %d as encoded: %s", len(big), size, d.Cause)
}

// TestBatchOverTheLimitIsSplit: mails that each fit the execution input but
// not all together run in several executions, and all are delivered once.
// Their '<', '>' and '&' go into the input as they are: with Go's HTML
// escaping (six bytes each) none of them would fit at all.
func TestBatchOverTheLimitIsSplit(t *testing.T) {
	t.Parallel()
	s := startSized(t, local.Config{BatchSize: 10}, nil)
	var ids, bodies []string
	for i := range 5 {
		id := fmt.Sprintf("size-split-%d", i)
		ids = append(ids, id)
		bodies = append(bodies, rawBody(id, map[string]any{"html": strings.Repeat("<&>", 20_000)}))
	}
	s.enqueue(bodies...)
	s.settle(time.Minute)

	got := s.deliveries()
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times, want once", id, got[id])
		}
	}
	if dl := s.deadLetters(); len(dl) != 0 {
		t.Errorf("DLQ %d messages, want none", len(dl))
	}
	sizes := s.inputSizes()
	if len(sizes) < 2 {
		t.Fatalf("%d executions for %d bytes of mail, want the batch split", len(sizes), 5*len(bodies[0]))
	}
	for _, n := range sizes {
		if n > payloadLimit {
			t.Errorf("an execution input of %d bytes", n)
		}
	}
	t.Logf("5 bodies of %d bytes ran in executions of %v bytes", len(bodies[0]), sizes)
}

// failWhenHolding is a pipe target that fails an execution as a whole, with
// status and error, whenever its input holds the mail culprit; other inputs
// run as they are.
type failWhenHolding struct {
	next    pipes.Target
	culprit string
	status  asl.Status
	error   string
	mu      sync.Mutex
	failed  int
}

func (f *failWhenHolding) Invoke(ctx context.Context, input []byte) (pipes.Outcome, error) {
	var recs []workflow.Record
	if err := json.Unmarshal(input, &recs); err != nil {
		return pipes.Outcome{}, err
	}
	for _, r := range recs {
		if workflow.PeekMailID(r.Body) == f.culprit {
			f.mu.Lock()
			f.failed++
			n := f.failed
			f.mu.Unlock()
			return pipes.Outcome{
				ExecutionID: fmt.Sprintf("arn:aws:states:us-east-1:000000000000:express:mailflow:injected-%d:0", n),
				Status:      f.status, Error: f.error, Cause: fmt.Sprintf("injected: the execution holding %s fails (%d)", f.culprit, n),
			}, nil
		}
	}
	return f.next.Invoke(ctx, input)
}

// TestWholeFailureSparesTheHealthyMails: an execution that fails as a
// whole because of one mail does not make the others of its batch pay.
// They run again alone and are delivered once, on their first receive; the
// culprit fails alone too, returns to the queue, and on its last receive is
// dead-lettered with the execution's error and cause. Nothing is lost.
func TestWholeFailureSparesTheHealthyMails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status asl.Status
		error  string
	}{{asl.StatusFailed, asl.ErrRuntime}, {asl.StatusTimedOut, asl.ErrTimeout}} {
		t.Run(string(tc.status), func(t *testing.T) {
			t.Parallel()
			var target *failWhenHolding
			s := startSized(t, local.Config{BatchSize: 10}, func(next pipes.Target) pipes.Target {
				target = &failWhenHolding{next: next, culprit: "whole-culprit", status: tc.status, error: tc.error}
				return target
			})
			healthy := []string{"whole-ok-1", "whole-ok-2", "whole-ok-3", "whole-ok-4"}
			var bodies []string
			for i, id := range healthy {
				bodies = append(bodies, body(id))
				if i == 1 {
					bodies = append(bodies, body("whole-culprit"))
				}
			}
			s.enqueue(bodies...)
			s.settle(2 * time.Minute)

			got := s.deliveries()
			for _, id := range healthy {
				if got[id] != 1 || s.receivesOf(id) != 1 {
					t.Errorf("%s delivered %d times after %d receives, want once after one", id, got[id], s.receivesOf(id))
				}
			}
			dl := s.listDeadLetters(t)
			d, ok := dl["whole-culprit"]
			if got["whole-culprit"] != 0 || len(dl) != 1 || !ok {
				t.Fatalf("culprit delivered %d times; DLQ %v; want the culprit in the DLQ only", got["whole-culprit"], dl)
			}
			if n := s.receivesOf("whole-culprit"); n != local.DefaultMaxReceiveCount {
				t.Errorf("culprit received %d times, want %d (dead-lettered on its last receive)", n, local.DefaultMaxReceiveCount)
			}
			if d.Error != tc.error || !strings.Contains(d.Cause, "injected") || !strings.Contains(d.ExecutionID, "injected-") || d.SourceMessageID == "" {
				t.Fatalf("dead letter %+v; want %s with the execution's cause and id", d, tc.error)
			}
			raw := s.deadLetters()[0]
			var f struct{ Error, Cause string }
			if err := json.Unmarshal([]byte(raw.Failure), &f); err != nil || f.Error != tc.error || f.Cause != d.Cause {
				t.Fatalf("%s = %q (%v); want {\"Error\",\"Cause\"} of the execution", workflow.DLQAttrFailure, raw.Failure, err)
			}
			// Each failure of the culprit is one batch run and one run alone
			// on its first receive, then one run alone per receive after:
			// isolation happens once per failed batch.
			target.mu.Lock()
			failed := target.failed
			target.mu.Unlock()
			if failed != local.DefaultMaxReceiveCount+1 {
				t.Errorf("%d failed executions, want %d", failed, local.DefaultMaxReceiveCount+1)
			}
			if lost := len(healthy) + 1 - len(got) - len(dl); lost != 0 {
				t.Errorf("%d mails lost", lost)
			}
			t.Logf("%s: %s, %q, execution %s", tc.status, d.Error, d.Cause, d.ExecutionID)
		})
	}
}
