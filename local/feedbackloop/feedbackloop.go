// Package feedbackloop drains the local events queue into the delivery
// feedback's recorder, as the RecordEvent Lambda's SQS event source does
// on AWS.
//
// Rules:
//   - One long poll at a time receives as many messages as there are free
//     workers (at most Concurrency, at most 10 per receive); each message
//     is handed to the Recorder on a worker of its own.
//   - A message recorded without error is deleted.
//   - An error Classify calls permanent (the body can never be recorded)
//     dead-letters the message at once: its body, unchanged, goes to the
//     dead-letter queue with workflow.DLQAttrReason (Classify's reason), AttrCause (the
//     error's text) and workflow.DLQAttrMessageID, then it is deleted. A
//     record that cannot be read gains nothing from maxReceiveCount tries.
//   - Any other error, and a Recorder that panics, leave the message in the
//     queue: it returns after the visibility timeout, and the queue's
//     redrive policy moves it to the dead-letter queue after
//     maxReceiveCount receives.
//   - No message stops the loop. A failed receive is reported to OnError
//     and retried after a second on the clock.
//   - Run returns once ctx is done and every worker has returned. A record
//     under way when ctx is cancelled sees the cancelled context; its error
//     then leaves the message in the queue rather than dead-lettering it.
//     A record that succeeded is still deleted, so that it is not recorded
//     twice for nothing.
package feedbackloop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/workflow"
)

// Recorder records one queue message's body.
type Recorder func(ctx context.Context, body []byte) error

// BatchRecorder records a whole receive at once (one publish for the
// batch, say); errs[i] is body i's error, as a Recorder's.
type BatchRecorder func(ctx context.Context, bodies [][]byte) (errs []error)

// Classify tells whether a Recorder's error is permanent, and why.
type Classify func(err error) (reason string, permanent bool)

// Message attributes of a dead-lettered message, beside
// workflow.DLQAttrMessageID and workflow.DLQAttrReason (Classify's reason,
// e.g. "the record is not JSON").
const (
	// AttrCause is the Recorder's error text, cut to maxCause bytes.
	AttrCause = "mailflow.cause"
)

const (
	// DefaultConcurrency is how many messages are recorded at once.
	DefaultConcurrency = 4
	// maxReceive is SQS's limit of messages per receive.
	maxReceive = 10
	// longPoll is SQS's longest receive wait.
	longPoll       = 20
	receiveBackoff = time.Second
	maxCause       = 4096
)

// Config sets up a loop.
type Config struct {
	Queues          *sqsstore.Store
	Queue           string // the events queue
	DeadLetterQueue string // where permanent failures go
	Record          Recorder
	// RecordBatch, instead of Record, takes each receive whole, and the
	// batch counts as one worker.
	RecordBatch BatchRecorder
	Classify    Classify
	Concurrency int // 1..100; 0 means DefaultConcurrency
	// Busy, when set and true, says that more urgent work is under way:
	// after each message (or batch) the worker then pauses so that
	// recording takes at most BusyShare (0 < share ≤ 1) of its time. The
	// messages wait in the queue meanwhile, nothing is lost.
	Busy      func() bool
	BusyShare float64
	Clock     clock.Clock // waits after a failed receive, and Busy's pauses; default clock.Wall
	OnError   func(error) // receive, delete and dead-letter failures; default: dropped
}

// Counts are what a loop has done so far.
type Counts struct {
	Received     int64 // messages handed to the Recorder
	Processed    int64 // recorded and deleted
	Failed       int64 // left in the queue for redelivery
	DeadLettered int64 // sent to the dead-letter queue and deleted
	Yielded      int64 // pauses made because Busy said so
}

// Loop drains one queue.
type Loop struct {
	cfg                                              Config
	received, processed, failed, deadLetter, yielded atomic.Int64
}

// New checks the configuration.
func New(cfg Config) (*Loop, error) {
	var errs []error
	if cfg.Queues == nil {
		errs = append(errs, errors.New("a queue store is required"))
	}
	if cfg.Queue == "" || cfg.DeadLetterQueue == "" {
		errs = append(errs, fmt.Errorf("the queue and the dead-letter queue are required (got %q and %q)", cfg.Queue, cfg.DeadLetterQueue))
	} else if cfg.Queue == cfg.DeadLetterQueue {
		errs = append(errs, fmt.Errorf("the dead-letter queue must not be the queue itself (%q)", cfg.Queue))
	}
	if (cfg.Record == nil) == (cfg.RecordBatch == nil) || cfg.Classify == nil {
		errs = append(errs, errors.New("a recorder (Record) and a classifier (Classify) are required (or RecordBatch in place of Record, not both)"))
	}
	if cfg.Busy != nil && (cfg.BusyShare <= 0 || cfg.BusyShare > 1) {
		errs = append(errs, fmt.Errorf("BusyShare %v is outside (0, 1]", cfg.BusyShare))
	}
	if cfg.Concurrency < 0 || cfg.Concurrency > 100 {
		errs = append(errs, fmt.Errorf("concurrency (Concurrency) %d is outside 1..100", cfg.Concurrency))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("feedbackloop: %w", errors.Join(errs...))
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.OnError == nil {
		cfg.OnError = func(error) {}
	}
	return &Loop{cfg: cfg}, nil
}

// Counts reports what the loop has done so far.
func (l *Loop) Counts() Counts {
	return Counts{
		Received: l.received.Load(), Processed: l.processed.Load(),
		Failed: l.failed.Load(), DeadLettered: l.deadLetter.Load(), Yielded: l.yielded.Load(),
	}
}

// Run drains the queue until ctx is done, then waits for the messages under
// way and returns. It receives up to ten messages whenever a worker is
// free, hands each to a worker as one becomes free (at most Concurrency
// in all), and deletes the settled ones of each receive together, so the
// queue store pays one receive and one delete per batch rather than one
// each per message. The next receive waits until every message of the
// last one has a worker, so no message waits behind a long poll.
func (l *Loop) Run(ctx context.Context) {
	slots := make(chan struct{}, l.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		// Receive only when a worker is free.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		msgs, err := l.receive(ctx, maxReceive)
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return
			}
			l.cfg.OnError(fmt.Errorf("feedbackloop: receive from %s: %w", l.cfg.Queue, err))
			if l.cfg.Clock.Sleep(ctx, receiveBackoff) != nil {
				return
			}
			continue
		}
		if len(msgs) == 0 {
			<-slots
			continue
		}
		if l.cfg.RecordBatch != nil {
			// The batch takes the slot the receive held.
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				start := l.cfg.Clock.Now()
				l.settle(ctx, msgs, l.handleAll(ctx, msgs))
				l.yield(ctx, start)
			}()
			continue
		}
		outcomes := make([]settled, len(msgs))
		var batch sync.WaitGroup
		for i, m := range msgs {
			if i > 0 { // the first takes the slot the receive held
				slots <- struct{}{}
			}
			batch.Add(1)
			go func() {
				defer batch.Done()
				defer func() { <-slots }()
				start := l.cfg.Clock.Now()
				outcomes[i] = l.handle(ctx, m)
				l.yield(ctx, start)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch.Wait()
			l.settle(ctx, msgs, outcomes)
		}()
	}
}

func (l *Loop) receive(ctx context.Context, n int) ([]sqsstore.Message, error) {
	wait := longPoll
	return l.cfg.Queues.Receive(ctx, l.cfg.Queue, sqsstore.ReceiveParams{MaxMessages: n, WaitTimeSeconds: &wait})
}

// settled is what became of one message of a batch.
type settled int

const (
	leftForRedelivery settled = iota
	recorded
	deadLettered
)

// yield pauses a worker that started at start, while Busy says so, long
// enough that its work is at most BusyShare of its time.
func (l *Loop) yield(ctx context.Context, start time.Time) {
	if l.cfg.Busy == nil || !l.cfg.Busy() {
		return
	}
	worked := l.cfg.Clock.Now().Sub(start)
	pause := time.Duration(float64(worked) * (1/l.cfg.BusyShare - 1))
	if pause > 0 {
		l.yielded.Add(1)
		l.cfg.Clock.Sleep(ctx, pause)
	}
}

// settle deletes the settled messages of one receive and counts them. The
// deletes run even when ctx ends meanwhile: what was recorded must not
// come back.
func (l *Loop) settle(ctx context.Context, msgs []sqsstore.Message, outcomes []settled) {
	var entries []sqsstore.BatchEntry
	for i, m := range msgs {
		if outcomes[i] != leftForRedelivery {
			entries = append(entries, sqsstore.BatchEntry{ID: fmt.Sprint(i), ReceiptHandle: m.ReceiptHandle})
		}
	}
	if len(entries) > 0 {
		res, err := l.cfg.Queues.DeleteBatch(context.WithoutCancel(ctx), l.cfg.Queue, entries)
		if err != nil {
			l.cfg.OnError(fmt.Errorf("feedbackloop: delete %d settled messages: %w", len(entries), err))
		}
		for _, r := range res {
			if r.Err != nil {
				l.cfg.OnError(fmt.Errorf("feedbackloop: delete settled message %s: %w", r.ID, r.Err))
			}
		}
	}
	for _, o := range outcomes {
		switch o {
		case recorded:
			l.processed.Add(1)
		case deadLettered:
			l.deadLetter.Add(1)
		}
	}
}

// handle records one message, or dead-letters it when the recorder calls
// its error permanent, and says which.
func (l *Loop) handle(ctx context.Context, m sqsstore.Message) settled {
	l.received.Add(1)
	return l.outcomeOf(ctx, m, l.record(ctx, m.Body))
}

// handleAll records a receive with RecordBatch and says what became of
// each message.
func (l *Loop) handleAll(ctx context.Context, msgs []sqsstore.Message) []settled {
	l.received.Add(int64(len(msgs)))
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		bodies[i] = []byte(m.Body)
	}
	errs := l.recordAll(ctx, bodies)
	out := make([]settled, len(msgs))
	for i, m := range msgs {
		out[i] = l.outcomeOf(ctx, m, errs[i])
	}
	return out
}

// outcomeOf settles one message by its recorder's error: recorded,
// dead-lettered when the error is permanent, or left for redelivery.
func (l *Loop) outcomeOf(ctx context.Context, m sqsstore.Message, err error) settled {
	if err == nil {
		return recorded
	}
	reason, permanent := "", false
	if ctx.Err() == nil && !errors.As(err, new(panicked)) {
		reason, permanent = l.cfg.Classify(err)
	}
	if !permanent {
		l.failed.Add(1)
		return leftForRedelivery
	}
	attrs := map[string]sqsstore.MessageAttributeValue{
		workflow.DLQAttrReason:    {DataType: "String", StringValue: orUnknown(reason)},
		AttrCause:                 {DataType: "String", StringValue: truncate(err.Error(), maxCause)},
		workflow.DLQAttrMessageID: {DataType: "String", StringValue: m.MessageID},
	}
	if _, err := l.cfg.Queues.Send(context.WithoutCancel(ctx), l.cfg.DeadLetterQueue, sqsstore.SendParams{Body: m.Body, Attributes: attrs}); err != nil {
		// Left in the queue, it comes back and is tried again.
		l.cfg.OnError(fmt.Errorf("feedbackloop: dead-letter message %s: %w", m.MessageID, err))
		l.failed.Add(1)
		return leftForRedelivery
	}
	return deadLettered
}

// record calls the Recorder, turning a panic into an error so that one
// message cannot stop the loop.
func (l *Loop) record(ctx context.Context, body string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicked{p}
		}
	}()
	return l.cfg.Record(ctx, []byte(body))
}

// recordAll calls the BatchRecorder; a panic, or an answer of the wrong
// length, leaves every message for redelivery.
func (l *Loop) recordAll(ctx context.Context, bodies [][]byte) (errs []error) {
	defer func() {
		if p := recover(); p != nil {
			errs = nil
			for range bodies {
				errs = append(errs, panicked{p})
			}
		}
	}()
	errs = l.cfg.RecordBatch(ctx, bodies)
	if len(errs) != len(bodies) {
		panic(fmt.Sprintf("%d answers for %d bodies", len(errs), len(bodies)))
	}
	return errs
}

// panicked is a Recorder's panic: never called permanent, since it says
// more about the recorder than about the message.
type panicked struct{ value any }

func (p panicked) Error() string { return fmt.Sprintf("feedbackloop: recorder panicked: %v", p.value) }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
