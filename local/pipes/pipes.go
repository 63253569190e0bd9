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
// A batch is also bounded by the target's payload limit (256 KiB for Step
// Functions): records that would overflow it go into a following invocation
// of the same poller rather than being dropped.
//
// On shutdown (the Run context ends) pollers stop receiving; a batch already
// received still runs to completion and is settled, so nothing in flight is
// lost. A process that dies instead leaves its messages to reappear after
// their visibility timeout.
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

// TargetFunc adapts a function to Target.
type TargetFunc func(ctx context.Context, input []byte) (Outcome, error)

// Invoke calls f.
func (f TargetFunc) Invoke(ctx context.Context, input []byte) (Outcome, error) { return f(ctx, input) }

// Limits of the pipe settings, as AWS accepts them.
const (
	MaxBatchSize          = 10000
	MaxBatchWindow        = 300 * time.Second
	MaxConcurrency        = 100
	DefaultPayloadLimit   = 256 * 1024
	sqsMaxReceive         = 10
	sqsMaxWait            = 20 * time.Second
	DefaultSourceRegion   = "us-east-1"
	defaultSettleDeadline = 30 * time.Second
)

// Config sets up a pipe.
type Config struct {
	BatchSize      int           // 1..10000; default 10
	BatchWindow    time.Duration // 0..300s
	Concurrency    int           // pollers, 1..100; default 1
	SourceARN      string        // the queue's ARN, the records' eventSourceARN
	Region         string        // the records' awsRegion; default us-east-1
	PayloadLimit   int           // bytes of one target input; default 256 KiB
	OnBatch        func(BatchReport)
	OnError        func(error)   // source errors; the poller backs off and goes on
	Clock          clock.Clock   // times batches and their windows; default clock.Wall
	ErrorBackoff   time.Duration // pause after a source error; default 1s
	SettleDeadline time.Duration // bound on deleting after shutdown; default 30s
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
	Reason      string   // why the whole batch failed, when it did
	Started     time.Time
	Duration    time.Duration
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
	var carry []Message
	for {
		msgs := carry
		carry = nil
		if len(msgs) == 0 {
			if ctx.Err() != nil {
				return
			}
			var err error
			msgs, err = p.collect(ctx)
			if err != nil && p.cfg.OnError != nil {
				p.cfg.OnError(err)
			}
			if err != nil && len(msgs) == 0 {
				if p.cfg.Clock.Sleep(ctx, p.cfg.ErrorBackoff) != nil {
					return
				}
				continue
			}
		}
		if len(msgs) == 0 {
			continue
		}
		batch, rest := p.fit(msgs)
		carry = rest
		// The batch was received: finish it even when shutting down.
		p.run(context.WithoutCancel(ctx), batch)
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

// fit splits msgs into the largest prefix whose records fit the payload
// limit (at least one record) and the rest.
func (p *Pipe) fit(msgs []Message) ([]Message, []Message) {
	size := 2 // [ ]
	for i, m := range msgs {
		b, _ := json.Marshal(p.record(m))
		size += len(b)
		if i > 0 {
			size++ // comma
		}
		if size > p.cfg.PayloadLimit && i > 0 {
			return msgs[:i], msgs[i:]
		}
	}
	return msgs, nil
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

// Records builds the target input for msgs, as Pipes would.
func (p *Pipe) Records(msgs []Message) ([]byte, error) {
	recs := make(workflow.Batch, len(msgs))
	for i, m := range msgs {
		recs[i] = p.record(m)
	}
	return json.Marshal(recs)
}

func (p *Pipe) run(ctx context.Context, batch []Message) {
	start := p.cfg.Clock.Now()
	report := BatchReport{Records: len(batch), Started: start}
	input, err := p.Records(batch)
	var failed map[string]bool
	if err != nil {
		report.Reason = "records: " + err.Error()
	} else {
		out, err := p.tgt.Invoke(ctx, input)
		report.ExecutionID, report.Status, report.Error, report.Cause = out.ExecutionID, out.Status, out.Error, out.Cause
		switch {
		case err != nil:
			report.Reason = "invoke: " + err.Error()
		case out.Status != asl.StatusSucceeded:
			report.Reason = "execution " + string(out.Status)
		default:
			failed, err = FailedItems(out.Output, batch)
			if err != nil {
				report.Reason = err.Error()
			}
		}
	}
	var handles []string
	for _, m := range batch {
		if report.Reason == "" && !failed[m.MessageID] {
			handles = append(handles, m.ReceiptHandle)
			report.Succeeded = append(report.Succeeded, m.MessageID)
		} else {
			report.Failed = append(report.Failed, m.MessageID)
		}
	}
	if len(handles) > 0 {
		// A wall-clock bound on the store's I/O, not simulated time.
		dctx, cancel := context.WithTimeout(ctx, p.cfg.SettleDeadline)
		err := p.src.Delete(dctx, handles)
		cancel()
		if err != nil && p.cfg.OnError != nil {
			// Undeleted messages reappear and the lock makes the second run harmless.
			p.cfg.OnError(fmt.Errorf("pipes: delete after batch: %w", err))
		}
	}
	report.Duration = p.cfg.Clock.Now().Sub(start)
	if p.cfg.OnBatch != nil {
		p.cfg.OnBatch(report)
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
