package pipes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/workflow"
)

// memDLQ is a dead-letter queue in memory.
type memDLQ struct {
	mu   sync.Mutex
	msgs []deadLetter
	err  error // Send fails with it when set
}

type deadLetter struct {
	body  string
	attrs map[string]string
}

func (d *memDLQ) Send(ctx context.Context, body string, attrs map[string]string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	d.msgs = append(d.msgs, deadLetter{body: body, attrs: attrs})
	return nil
}

func (d *memDLQ) all() []deadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.msgs)
}

// inputs records every target input and answers with answer.
type inputs struct {
	mu     sync.Mutex
	got    [][]byte
	answer func(input []byte) pipes.Outcome
}

func (in *inputs) Invoke(ctx context.Context, input []byte) (pipes.Outcome, error) {
	in.mu.Lock()
	in.got = append(in.got, bytes.Clone(input))
	n := len(in.got)
	in.mu.Unlock()
	out := pipes.Outcome{Status: asl.StatusSucceeded, Output: []byte(`{"batchItemFailures":[]}`)}
	if in.answer != nil {
		out = in.answer(input)
	}
	out.ExecutionID = fmt.Sprintf("exec-%d", n)
	return out, nil
}

func (in *inputs) all() [][]byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.got)
}

// messageIDs reads the messageIds of a target input.
func messageIDs(t *testing.T, input []byte) []string {
	t.Helper()
	var recs []workflow.Record
	if err := json.Unmarshal(input, &recs); err != nil {
		t.Fatalf("input is not a batch of records: %v", err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.MessageID
	}
	return ids
}

// TestTheInputIsTheMeasuredBytes checks that the target gets the bytes the
// pipe builds for the batch, within the limit, with '<', '>' and '&' as
// they are (not the six bytes of Go's HTML escaping).
func TestTheInputIsTheMeasuredBytes(t *testing.T) {
	t.Parallel()
	q := newQueue(3, func(i int) string { return fmt.Sprintf(`{"html":"<p>a & b</p>","n":%d}`, i) })
	tgt := &inputs{}
	cfg := pipes.Config{BatchSize: 3, BatchWindow: time.Second, SourceARN: "arn:aws:sqs:us-east-1:000000000000:mail"}
	runUntil(t, q, tgt, cfg, totalRecords(3))
	got := tgt.all()
	if len(got) != 1 {
		t.Fatalf("%d invocations, want 1", len(got))
	}
	p, err := pipes.New(q, tgt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	q2 := newQueue(3, func(i int) string { return fmt.Sprintf(`{"html":"<p>a & b</p>","n":%d}`, i) })
	want, err := p.Records(q2.visible)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[0], want) {
		t.Fatalf("the target got other bytes than the pipe builds:\n got %s\nwant %s", got[0], want)
	}
	if !json.Valid(got[0]) || !bytes.Contains(got[0], []byte(`<p>a & b</p>`)) || bytes.Contains(got[0], []byte(`\u003c`)) {
		t.Fatalf("input is not plain JSON with '<', '>' and '&' as they are: %s", got[0])
	}
}

// TestPayloadLimitIsTheInterpreters holds DefaultPayloadLimit to the input
// limit asl enforces: an input of exactly the limit runs, one byte more
// fails with States.DataLimitExceeded.
func TestPayloadLimitIsTheInterpreters(t *testing.T) {
	t.Parallel()
	def, err := asl.Parse([]byte(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, extra := range []int{0, 1} {
		size := pipes.DefaultPayloadLimit + extra
		input := []byte(`["` + strings.Repeat("x", size-4) + `"]`)
		res, err := asl.Execute(context.Background(), def, input, asl.Options{StateMachineType: "EXPRESS"})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case extra == 0 && res.Status != asl.StatusSucceeded:
			t.Errorf("an input of %d bytes: %s %s, want it to run", size, res.Status, res.Error)
		case extra == 1 && res.Error != asl.ErrDataLimitExceeded:
			t.Errorf("an input of %d bytes: %s %q, want %s", size, res.Status, res.Error, asl.ErrDataLimitExceeded)
		}
	}
}

// quotes is a body of n bytes that doubles when encoded: every '"' becomes
// '\"'.
func quotes(n int) string { return strings.Repeat(`"`, n) }

func TestRecordTooLargeAfterEncodingIsDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	// 140,000 bytes fit SQS's 256 KiB; encoded, the body alone is 280,002.
	q := newQueue(3, func(i int) string {
		if i == 1 {
			return quotes(140_000)
		}
		return "{}"
	})
	tgt := &inputs{}
	dlq := &memDLQ{}
	reports := runUntil(t, q, tgt, pipes.Config{BatchSize: 3, BatchWindow: time.Second, DeadLetters: dlq, MaxReceiveCount: 5}, totalRecords(3))
	for _, in := range tgt.all() {
		if slices.Contains(messageIDs(t, in), "m-001") {
			t.Fatal("the record too large for any execution was executed")
		}
		if len(in) > pipes.DefaultPayloadLimit {
			t.Fatalf("input of %d bytes", len(in))
		}
	}
	if got := q.deletedIDs(); !slices.Equal(got, []string{"m-000", "m-001", "m-002"}) {
		t.Fatalf("deleted %v, want all three (reports %+v)", got, reports)
	}
	dl := dlq.all()
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dl))
	}
	a := dl[0].attrs
	if dl[0].body != quotes(140_000) || a[workflow.DLQAttrError] != string(workflow.TooLarge) || a[workflow.DLQAttrMessageID] != "m-001" {
		t.Fatalf("dead letter %.80q, attributes %v", dl[0].body, a)
	}
	if _, ok := a[workflow.DLQAttrExecutionID]; ok {
		t.Errorf("no execution ran, yet %s is %q", workflow.DLQAttrExecutionID, a[workflow.DLQAttrExecutionID])
	}
	var f struct{ Error, Cause string }
	if err := json.Unmarshal([]byte(a[workflow.DLQAttrFailure]), &f); err != nil {
		t.Fatalf("%s is not JSON: %v", workflow.DLQAttrFailure, err)
	}
	size := inputSizeOf(t, newQueue(2, func(int) string { return quotes(140_000) }).visible[1])
	if f.Error != string(workflow.TooLarge) || !strings.Contains(f.Cause, fmt.Sprint(size)) || !strings.Contains(f.Cause, "262144") {
		t.Fatalf("failure %+v: want %s naming the encoded size %d and the limit 262144", f, workflow.TooLarge, size)
	}
}

// inputSizeOf is the size of the input holding m alone, as the pipe
// encodes it.
func inputSizeOf(t *testing.T, m pipes.Message) int {
	t.Helper()
	p, err := pipes.New(newQueue(0, nil), pipes.TargetFunc(succeedAll), pipes.Config{SourceARN: "arn:aws:sqs:us-east-1:000000000000:mail"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.Records([]pipes.Message{m})
	if err != nil {
		t.Fatal(err)
	}
	return len(in)
}

func TestRecordTooLargeWithoutDeadLetterQueueIsLeft(t *testing.T) {
	t.Parallel()
	q := newQueue(2, func(i int) string {
		if i == 0 {
			return quotes(140_000)
		}
		return "{}"
	})
	tgt := &inputs{}
	reports := runUntil(t, q, tgt, pipes.Config{BatchSize: 2, BatchWindow: time.Second}, totalRecords(2))
	if got := q.deletedIDs(); !slices.Equal(got, []string{"m-001"}) {
		t.Fatalf("deleted %v, want only the record that fits (reports %+v)", got, reports)
	}
	if len(tgt.all()) != 1 {
		t.Fatalf("%d invocations, want 1: the record too large is never executed", len(tgt.all()))
	}
}

func TestBatchSplitByEncodedSize(t *testing.T) {
	t.Parallel()
	// Five bodies of 60,000 bytes fit four to an input as raw bytes, but
	// only two once encoded (120,000 bytes each).
	q := newQueue(5, func(int) string { return quotes(60_000) })
	tgt := &inputs{}
	runUntil(t, q, tgt, pipes.Config{BatchSize: 5, BatchWindow: time.Second}, totalRecords(5))
	var sizes []int
	for _, in := range tgt.all() {
		sizes = append(sizes, len(messageIDs(t, in)))
		if len(in) > pipes.DefaultPayloadLimit {
			t.Fatalf("input of %d bytes", len(in))
		}
	}
	if !slices.Equal(sizes, []int{2, 2, 1}) || len(q.deletedIDs()) != 5 {
		t.Fatalf("records per execution %v, want [2 2 1]; deleted %v", sizes, q.deletedIDs())
	}
}

// failWith answers every input that holds culprit with a whole failure.
func failWith(t *testing.T, culprit string, status asl.Status, name string) func([]byte) pipes.Outcome {
	return func(input []byte) pipes.Outcome {
		if slices.Contains(messageIDs(t, input), culprit) {
			return pipes.Outcome{Status: status, Error: name, Cause: "injected for " + culprit}
		}
		return pipes.Outcome{Status: asl.StatusSucceeded, Output: []byte(`{}`)}
	}
}

func isolatedRuns(n int) func([]pipes.BatchReport) bool {
	return func(rs []pipes.BatchReport) bool {
		k := 0
		for _, r := range rs {
			if r.Isolated {
				k++
			}
		}
		return k >= n
	}
}

func TestWholeFailureRunsEachRecordAlone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status asl.Status
		name   string
	}{{asl.StatusFailed, asl.ErrRuntime}, {asl.StatusTimedOut, asl.ErrTimeout}} {
		t.Run(string(tc.status), func(t *testing.T) {
			t.Parallel()
			q := newQueue(4, func(int) string { return "{}" })
			tgt := &inputs{answer: failWith(t, "m-002", tc.status, tc.name)}
			dlq := &memDLQ{}
			reports := runUntil(t, q, tgt, pipes.Config{BatchSize: 4, BatchWindow: time.Second, DeadLetters: dlq, MaxReceiveCount: 5}, isolatedRuns(4))
			if got := q.deletedIDs(); !slices.Equal(got, []string{"m-000", "m-001", "m-003"}) {
				t.Fatalf("deleted %v, want the three healthy records (reports %+v)", got, reports)
			}
			if n := len(tgt.all()); n != 5 {
				t.Fatalf("%d executions, want 5: the batch, then each record once alone", n)
			}
			if !reports[0].Isolating || reports[0].Records != 4 || len(reports[0].Succeeded) != 0 {
				t.Fatalf("first report %+v: want the failed batch, isolating", reports[0])
			}
			if dl := dlq.all(); len(dl) != 0 {
				t.Fatalf("dead-lettered on its first receive: %v", dl)
			}
		})
	}
}

func TestCulpritIsDeadLetteredWithTheExecutionsErrorOnItsLastReceive(t *testing.T) {
	t.Parallel()
	q := newQueue(3, func(i int) string { return fmt.Sprintf(`{"n":%d}`, i) })
	for i := range q.visible {
		q.visible[i].Attributes[workflow.AttrApproximateReceiveCount] = "5"
	}
	tgt := &inputs{answer: failWith(t, "m-001", asl.StatusTimedOut, asl.ErrTimeout)}
	dlq := &memDLQ{}
	reports := runUntil(t, q, tgt, pipes.Config{BatchSize: 3, BatchWindow: time.Second, DeadLetters: dlq, MaxReceiveCount: 5}, isolatedRuns(3))
	if got := q.deletedIDs(); !slices.Equal(got, []string{"m-000", "m-001", "m-002"}) {
		t.Fatalf("deleted %v, want all three (reports %+v)", got, reports)
	}
	dl := dlq.all()
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want the culprit only", len(dl))
	}
	// The culprit's own execution: the one whose input holds it alone.
	var alone string
	for i, in := range tgt.all() {
		if slices.Equal(messageIDs(t, in), []string{"m-001"}) {
			alone = fmt.Sprintf("exec-%d", i+1)
		}
	}
	a := dl[0].attrs
	if dl[0].body != `{"n":1}` || a[workflow.DLQAttrError] != asl.ErrTimeout || a[workflow.DLQAttrMessageID] != "m-001" || a[workflow.DLQAttrExecutionID] != alone {
		t.Fatalf("dead letter %q with %v; want the culprit, %s, execution %s", dl[0].body, a, asl.ErrTimeout, alone)
	}
	if a[workflow.DLQAttrFailure] != `{"Error":"States.Timeout","Cause":"injected for m-001"}` {
		t.Fatalf("%s = %s", workflow.DLQAttrFailure, a[workflow.DLQAttrFailure])
	}
}

func TestIsolationIsBoundedToOneRunPerRecord(t *testing.T) {
	t.Parallel()
	q := newQueue(6, func(int) string { return "{}" })
	tgt := &inputs{answer: func([]byte) pipes.Outcome { return pipes.Outcome{Status: asl.StatusFailed, Error: asl.ErrRuntime} }}
	reports := runUntil(t, q, tgt, pipes.Config{BatchSize: 6, BatchWindow: time.Second}, isolatedRuns(6))
	// Let any further execution happen before counting.
	time.Sleep(50 * time.Millisecond)
	if n := len(tgt.all()); n != 7 {
		t.Fatalf("%d executions, want 7 (the batch and each record alone once); reports %+v", n, reports)
	}
	if got := q.deletedIDs(); len(got) != 0 {
		t.Fatalf("deleted %v", got)
	}
}

func TestNoIsolationWhenRunningAgainCannotHelp(t *testing.T) {
	t.Parallel()
	for name, answer := range map[string]func([]byte) pipes.Outcome{
		"aborted":     func([]byte) pipes.Outcome { return pipes.Outcome{Status: asl.StatusAborted} },
		"wrong shape": func([]byte) pipes.Outcome { return pipes.Outcome{Status: asl.StatusSucceeded, Output: []byte(`[]`)} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := newQueue(3, func(int) string { return "{}" })
			tgt := &inputs{answer: answer}
			reports := runUntil(t, q, tgt, pipes.Config{BatchSize: 3, BatchWindow: time.Second}, totalRecords(3))
			time.Sleep(50 * time.Millisecond)
			if n := len(tgt.all()); n != 1 || reports[0].Isolating {
				t.Fatalf("%d executions (report %+v), want the one batch only", n, reports[0])
			}
		})
	}
}

func TestDeadLetterFailureLeavesTheRecord(t *testing.T) {
	t.Parallel()
	q := newQueue(1, func(int) string { return quotes(140_000) })
	dlq := &memDLQ{err: errors.New("queue unreachable")}
	var mu sync.Mutex
	var errs []error
	cfg := pipes.Config{DeadLetters: dlq, OnError: func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }}
	reports := runUntil(t, q, &inputs{}, cfg, totalRecords(1))
	if len(q.deletedIDs()) != 0 || !slices.Equal(reports[0].Failed, []string{"m-000"}) {
		t.Fatalf("report %+v, deleted %v: a record not in the DLQ must stay on the source", reports[0], q.deletedIDs())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "queue unreachable") || !strings.Contains(errs[0].Error(), string(workflow.TooLarge)) {
		t.Fatalf("errors %v", errs)
	}
}

func TestMaxReceiveCountValidation(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, 1001} {
		_, err := pipes.New(newQueue(0, nil), pipes.TargetFunc(succeedAll), pipes.Config{SourceARN: "a", MaxReceiveCount: n})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprint(n)) {
			t.Errorf("MaxReceiveCount %d: %v", n, err)
		}
	}
}
