// Package pipes emulates an EventBridge Pipe with an SQS source and a
// synchronous (REQUEST_RESPONSE) Step Functions target, as the local runtime
// needs it.
//
// Pollers receive up to BatchSize messages within the batching window, build
// the records exactly as Pipes hands them to a Step Functions target (a JSON
// array, even for one record), invoke the target and wait for it, then delete
// the messages that succeeded. Failed messages are not touched: they reappear
// when their visibility timeout ends, as with the real pipe.
//
// What counts as success follows AWS's partial-batch rules:
//   - a FAILED or TIMED_OUT execution fails the whole batch;
//   - an output of null, {}, or a null or empty batchItemFailures list means
//     every record succeeded;
//   - otherwise each listed itemIdentifier fails its record; an output that
//     is not a JSON object, an entry without a non-empty string
//     itemIdentifier, or an identifier that is not in the batch fails the
//     whole batch.
//
// Decisions where AWS is silent or where the emulation goes further:
//
//   - Size is counted as the target sees it. Each record is encoded once, and
//     the execution input is those exact bytes joined into the array, so what
//     is measured is what the interpreter receives (a test checks the input
//     the target gets byte for byte). The limit is the Step Functions input
//     limit, 262144 bytes of UTF-8 ([DefaultPayloadLimit], the number the
//     interpreter enforces with States.DataLimitExceeded).
//   - The encoding escapes only what JSON requires: '"', '\' and control
//     characters, not '<', '>' and '&' (Go's default HTML escaping, which
//     would make each of them six bytes). No AWS document names the encoder
//     Pipes uses; AWS's JSON encoders (Jackson) do not escape HTML or
//     non-ASCII characters (the SNS notifications an SQS subscriber receives
//     carry '&' in their URLs as it is), so the local pipe does the same.
//     Were AWS to escape more, a batch could pass here that fails there; the
//     infra budget (infra/config) bounds a batch for the worst case of this
//     encoding.
//   - A batch whose records do not fit together is split into several
//     executions, in order, each as large as fits.
//   - A record that cannot fit even alone is never executed: the pipe moves it
//     to the dead-letter queue at once with Mail.TooLarge and a cause naming
//     its encoded size and the limit, with the attributes the state machine's
//     DeadLetter state writes (workflow.DLQAttr*), then deletes it from the
//     source. Without a dead-letter queue it is left to the redrive policy.
//   - An execution that fails as a whole (FAILED or TIMED_OUT) does not make
//     its healthy records pay: each of its records runs again at once, alone,
//     in an execution of its own (at most isolateConcurrency at a time), and
//     settles by that execution's answer. This happens at most once per
//     failed batch: a record that runs alone is never isolated again, so a
//     batch of n records costs at most n extra executions. A record whose own
//     execution fails as a whole is the culprit: it goes back to the queue,
//     and on its last receive (MaxReceiveCount) the pipe dead-letters it with
//     the execution's error and cause and its execution id, instead of
//     leaving the redrive policy to move it without a reason. An ABORTED
//     execution, a target that could not be invoked and an output that breaks
//     the partial-batch rules fail the batch as before, without isolation:
//     running the records again would fail the same way.
//   - A record that is dead-lettered and then not deleted (the delete fails)
//     reappears and may be dead-lettered again: a second copy with the same
//     reason, as with the state machine's own DeadLetter state.
//
// On shutdown (the Run context ends) pollers stop receiving; a batch already
// received still runs to completion and is settled, isolated runs included,
// so nothing in flight is lost. A process that dies instead leaves its
// messages to reappear after their visibility timeout.
package pipes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/workflow"
)

// Message is one message received from the source queue.
type Message struct {
	MessageID         string
	ReceiptHandle     string
	Body              string
	MD5OfBody         string
	Attributes        map[string]string // system attributes (ApproximateReceiveCount, ...)
	MessageAttributes map[string]workflow.MessageAttribute
}

// Source is the queue a pipe drains.
type Source interface {
	// Receive returns up to max messages (1..10), waiting up to wait for the
	// first one. An empty result is not an error.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	// Delete removes received messages by receipt handle.
	Delete(ctx context.Context, receiptHandles []string) error
}

// Outcome is what a synchronous execution answered.
type Outcome struct {
	ExecutionID string
	Status      asl.Status // SUCCEEDED, FAILED or TIMED_OUT
	Output      []byte     // JSON, when SUCCEEDED
	Error       string
	Cause       string
}

// Target runs one batch synchronously. An error means the target could not
// be invoked at all; the batch then fails as a whole.
type Target interface {
	Invoke(ctx context.Context, input []byte) (Outcome, error)
}

// DeadLetterQueue takes the records the pipe gives up on itself.
type DeadLetterQueue interface {
	// Send puts body on the queue with the given String message attributes.
	Send(ctx context.Context, body string, attributes map[string]string) error
}

// TargetFunc adapts a function to Target.
type TargetFunc func(ctx context.Context, input []byte) (Outcome, error)

// Invoke calls f.
func (f TargetFunc) Invoke(ctx context.Context, input []byte) (Outcome, error) { return f(ctx, input) }

// Limits of the pipe settings, as AWS accepts them.
const (
	MaxBatchSize   = 10000
	MaxBatchWindow = 300 * time.Second
	MaxConcurrency = 100
	// DefaultPayloadLimit is the Step Functions execution input limit,
	// 262144 bytes of UTF-8: the number the interpreter (asl) enforces with
	// States.DataLimitExceeded; TestPayloadLimitIsTheInterpreters holds them
	// together.
	DefaultPayloadLimit   = 256 * 1024
	sqsMaxReceive         = 10
	sqsMaxWait            = 20 * time.Second
	DefaultSourceRegion   = "us-east-1"
	defaultSettleDeadline = 30 * time.Second
	// isolateConcurrency bounds the executions that run the records of a
	// failed batch one by one: as many as a Map state runs by default.
	isolateConcurrency = 10
)

// Config sets up a pipe.
type Config struct {
	BatchSize    int           // 1..10000; default 10
	BatchWindow  time.Duration // 0..300s
	Concurrency  int           // pollers, 1..100; default 1
	SourceARN    string        // the queue's ARN, the records' eventSourceARN
	Region       string        // the records' awsRegion; default us-east-1
	PayloadLimit int           // bytes of one target input; default 256 KiB
	// DeadLetters is where the pipe moves the records it gives up on itself:
	// one too large for any execution, and a record whose own execution
	// failed as a whole on its last receive. Nil leaves them to the source
	// queue's redrive policy.
	DeadLetters DeadLetterQueue
	// MaxReceiveCount is the source queue's redrive maxReceiveCount, which
	// tells a record's last receive; 0 when the queue has none.
	MaxReceiveCount int
	OnBatch         func(BatchReport)
	OnError         func(error)   // source errors; the poller backs off and goes on
	Clock           clock.Clock   // times batches and their windows; default clock.Wall
	ErrorBackoff    time.Duration // pause after a source error; default 1s
	SettleDeadline  time.Duration // bound on deleting after shutdown; default 30s
}

func (c *Config) validate() error {
	var errs []error
	if c.BatchSize == 0 {
		c.BatchSize = 10
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatchSize {
		errs = append(errs, fmt.Errorf("pipes: BatchSize %d is outside 1..%d", c.BatchSize, MaxBatchSize))
	}
	if c.BatchWindow < 0 || c.BatchWindow > MaxBatchWindow {
		errs = append(errs, fmt.Errorf("pipes: BatchWindow %s is outside 0..%s", c.BatchWindow, MaxBatchWindow))
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("pipes: Concurrency %d is outside 1..%d", c.Concurrency, MaxConcurrency))
	}
	if c.SourceARN == "" {
		errs = append(errs, errors.New("pipes: SourceARN is required"))
	}
	if c.Region == "" {
		c.Region = DefaultSourceRegion
	}
	if c.PayloadLimit == 0 {
		c.PayloadLimit = DefaultPayloadLimit
	}
	if c.PayloadLimit < 1024 {
		errs = append(errs, fmt.Errorf("pipes: PayloadLimit %d is below 1024 bytes", c.PayloadLimit))
	}
	if c.MaxReceiveCount < 0 || c.MaxReceiveCount > 1000 {
		errs = append(errs, fmt.Errorf("pipes: MaxReceiveCount %d is outside 0..1000", c.MaxReceiveCount))
	}
	c.Clock = clock.Or(c.Clock)
	if c.ErrorBackoff <= 0 {
		c.ErrorBackoff = time.Second
	}
	if c.SettleDeadline <= 0 {
		c.SettleDeadline = defaultSettleDeadline
	}
	return errors.Join(errs...)
}

// BatchReport tells what happened to one batch.
type BatchReport struct {
	ExecutionID string
	Status      asl.Status // the execution's status, or "" when it could not be invoked
	Error       string
	Cause       string
	Records     int
	Succeeded   []string // message ids deleted from the queue
	Failed      []string // message ids left to reappear
	// DeadLettered are the message ids the pipe moved to the dead-letter
	// queue itself and deleted from the source.
	DeadLettered []string
	Reason       string // why the whole batch failed, or why a record was dead-lettered
	// Isolated marks the execution of one record of a batch that failed as
	// a whole; Isolating marks that failed batch, whose records run next.
	Isolated  bool
	Isolating bool
	Started   time.Time
	Duration  time.Duration
}

// Pipe drains a source into a target.
type Pipe struct {
	src Source
	tgt Target
	cfg Config
}

// New checks the configuration and returns a pipe ready to Run.
func New(src Source, tgt Target, cfg Config) (*Pipe, error) {
	if src == nil || tgt == nil {
		return nil, errors.New("pipes: a source and a target are required")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Pipe{src: src, tgt: tgt, cfg: cfg}, nil
}

// Run polls until ctx ends, then waits for in-flight batches to settle.
func (p *Pipe) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range p.cfg.Concurrency {
		wg.Go(func() { p.poll(ctx) })
	}
	wg.Wait()
	return nil
}

func (p *Pipe) poll(ctx context.Context) {
	for ctx.Err() == nil {
		msgs, err := p.collect(ctx)
		if err != nil && p.cfg.OnError != nil {
			p.cfg.OnError(err)
		}
		if err != nil && len(msgs) == 0 {
			if p.cfg.Clock.Sleep(ctx, p.cfg.ErrorBackoff) != nil {
				return
			}
			continue
		}
		if len(msgs) > 0 {
			// The batch was received: finish it even when shutting down.
			p.process(context.WithoutCancel(ctx), msgs)
		}
	}
}

// collect receives one batch: up to BatchSize messages within the window
// that starts with the first message.
func (p *Pipe) collect(ctx context.Context) ([]Message, error) {
	var out []Message
	var deadline time.Time
	for len(out) < p.cfg.BatchSize {
		wait := sqsMaxWait
		if len(out) > 0 {
			if p.cfg.BatchWindow == 0 {
				break
			}
			wait = deadline.Sub(p.cfg.Clock.Now())
			if wait <= 0 {
				break
			}
			wait = min(wait, sqsMaxWait)
		}
		n := min(sqsMaxReceive, p.cfg.BatchSize-len(out))
		msgs, err := p.src.Receive(ctx, n, wait)
		if err != nil {
			if ctx.Err() != nil {
				return out, nil // shutting down: not a source failure
			}
			return out, err
		}
		if len(out) == 0 && len(msgs) > 0 {
			deadline = p.cfg.Clock.Now().Add(p.cfg.BatchWindow)
		}
		out = append(out, msgs...)
		if len(out) == 0 && ctx.Err() != nil {
			return nil, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return out, nil
}

// process runs one received batch: records too large for any execution
// are dead-lettered, the others go to the target in as few executions as
// the payload limit allows, in order.
func (p *Pipe) process(ctx context.Context, msgs []Message) {
	fits := make([]encoded, 0, len(msgs))
	for _, m := range msgs {
		rec, err := p.encode(m)
		switch {
		case err != nil:
			p.report(BatchReport{Records: 1, Failed: []string{m.MessageID}, Reason: "record: " + err.Error(), Started: p.cfg.Clock.Now()})
		case inputSize(len(rec.json)) > p.cfg.PayloadLimit:
			p.tooLarge(ctx, m, inputSize(len(rec.json)))
		default:
			fits = append(fits, rec)
		}
	}
	for len(fits) > 0 {
		n := p.fit(fits)
		p.run(ctx, fits[:n], false)
		fits = fits[n:]
	}
}

// fit returns how many of recs, from the first, fit in one input (at least
// one: each fits alone).
func (p *Pipe) fit(recs []encoded) int {
	size := 1 // [
	for i, r := range recs {
		size += len(r.json) + 1 // the record and a comma or ]
		if size > p.cfg.PayloadLimit && i > 0 {
			return i
		}
	}
	return len(recs)
}

func (p *Pipe) record(m Message) workflow.Record {
	attrs := m.MessageAttributes
	if attrs == nil {
		attrs = map[string]workflow.MessageAttribute{}
	}
	sys := m.Attributes
	if sys == nil {
		sys = map[string]string{}
	}
	return workflow.Record{
		MessageID:         m.MessageID,
		ReceiptHandle:     m.ReceiptHandle,
		Body:              m.Body,
		Attributes:        sys,
		MessageAttributes: attrs,
		MD5OfBody:         m.MD5OfBody,
		EventSource:       workflow.EventSourceSQS,
		EventSourceARN:    p.cfg.SourceARN,
		AWSRegion:         p.cfg.Region,
	}
}

// Records builds the target input for msgs, as Pipes would: the bytes a
// batch of them is invoked with.
func (p *Pipe) Records(msgs []Message) ([]byte, error) {
	recs := make([]encoded, len(msgs))
	for i, m := range msgs {
		var err error
		if recs[i], err = p.encode(m); err != nil {
			return nil, err
		}
	}
	return input(recs), nil
}

func (p *Pipe) run(ctx context.Context, batch []encoded, isolated bool) {
	start := p.cfg.Clock.Now()
	report := BatchReport{Records: len(batch), Started: start, Isolated: isolated}
	msgs := make([]Message, len(batch))
	for i, r := range batch {
		msgs[i] = r.msg
	}
	out, invokeErr := p.tgt.Invoke(ctx, input(batch))
	report.ExecutionID, report.Status, report.Error, report.Cause = out.ExecutionID, out.Status, out.Error, out.Cause
	var failed map[string]bool
	switch {
	case invokeErr != nil:
		report.Reason = "invoke: " + invokeErr.Error()
	case out.Status != asl.StatusSucceeded:
		report.Reason = "execution " + string(out.Status)
	default:
		var err error
		if failed, err = FailedItems(out.Output, msgs); err != nil {
			report.Reason = err.Error()
		}
	}
	// The execution ran and failed as a whole (not aborted by a shutdown).
	whole := invokeErr == nil && (out.Status == asl.StatusFailed || out.Status == asl.StatusTimedOut)
	if whole && len(batch) > 1 {
		// Run every record alone, so only the culprit fails again.
		for _, m := range msgs {
			report.Failed = append(report.Failed, m.MessageID)
		}
		report.Isolating = true
		report.Duration = p.cfg.Clock.Now().Sub(start)
		p.report(report)
		p.isolate(ctx, batch)
		return
	}
	var handles []string
	for _, m := range msgs {
		switch {
		case report.Reason == "" && !failed[m.MessageID]:
			handles = append(handles, m.ReceiptHandle)
			report.Succeeded = append(report.Succeeded, m.MessageID)
		case whole && p.lastReceive(m) && p.deadLetter(ctx, m, failureOf(out), out.ExecutionID):
			// Its own execution failed on its last receive: the culprit.
			handles = append(handles, m.ReceiptHandle)
			report.DeadLettered = append(report.DeadLettered, m.MessageID)
		default:
			report.Failed = append(report.Failed, m.MessageID)
		}
	}
	p.delete(ctx, handles, "after batch")
	report.Duration = p.cfg.Clock.Now().Sub(start)
	p.report(report)
}

// isolate runs each record of a batch that failed as a whole in an
// execution of its own.
func (p *Pipe) isolate(ctx context.Context, batch []encoded) {
	slots := make(chan struct{}, isolateConcurrency)
	var wg sync.WaitGroup
	for _, r := range batch {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			p.run(ctx, []encoded{r}, true)
		})
	}
	wg.Wait()
}

func (p *Pipe) report(r BatchReport) {
	if p.cfg.OnBatch != nil {
		p.cfg.OnBatch(r)
	}
}

func (p *Pipe) delete(ctx context.Context, handles []string, when string) {
	if len(handles) == 0 {
		return
	}
	// A wall-clock bound on the store's I/O, not simulated time.
	dctx, cancel := context.WithTimeout(ctx, p.cfg.SettleDeadline)
	err := p.src.Delete(dctx, handles)
	cancel()
	if err != nil && p.cfg.OnError != nil {
		// Undeleted messages reappear and the lock makes the second run harmless.
		p.cfg.OnError(fmt.Errorf("pipes: delete %s: %w", when, err))
	}
}

// FailedItems interprets a target's output under the partial-batch rules and
// returns the message ids to redeliver. An error means the whole batch failed.
func FailedItems(output []byte, batch []Message) (map[string]bool, error) {
	if len(output) == 0 {
		return nil, nil
	}
	var raw any
	if err := json.Unmarshal(output, &raw); err != nil {
		return nil, fmt.Errorf("output is not JSON: %v", err)
	}
	if raw == nil {
		return nil, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("output is not a JSON object")
	}
	list, present := obj["batchItemFailures"]
	if !present || list == nil {
		return nil, nil
	}
	items, ok := list.([]any)
	if !ok {
		return nil, errors.New("batchItemFailures is not a list")
	}
	inBatch := make(map[string]bool, len(batch))
	for _, m := range batch {
		inBatch[m.MessageID] = true
	}
	failed := make(map[string]bool, len(items))
	for i, it := range items {
		entry, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("batchItemFailures[%d] is not an object", i)
		}
		id, ok := entry["itemIdentifier"].(string)
		if !ok || id == "" {
			return nil, fmt.Errorf("batchItemFailures[%d] has no itemIdentifier", i)
		}
		if !inBatch[id] {
			return nil, fmt.Errorf("batchItemFailures[%d]: %q is not a message of the batch", i, id)
		}
		failed[id] = true
	}
	return failed, nil
}
