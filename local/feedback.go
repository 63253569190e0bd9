package local

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/local/feedbackloop"
	"github.com/mailflow/mailflow/local/sqsstore"
)

// sesEventQueue is the SES simulator's event sink: each record goes to the
// events queue wrapped as EventBridge delivers it on AWS (source aws.ses,
// the configuration set's ARN as resource), so the consumer reads the same
// body in both places. As on AWS, publishing is apart from sending: the
// simulator hands a record over and goes on, and one goroutine wraps the
// records and sends what has gathered, up to ten per SendBatch. A full
// buffer makes the simulator wait rather than drop a record.
type sesEventQueue struct {
	store           *sqsstore.Store
	queue           string
	account, region string
	clock           clock.Clock
	// onError reports a record not sent, with the log attributes of
	// its mail (mailId, sesMessageId) when it concerns one.
	onError func(err error, attrs ...any)
	records chan sesevent.Event
	done    chan struct{}
}

// sesEventBuffer is how many records may wait for the queue.
const sesEventBuffer = 4096

func newSESEventQueue(q sesEventQueue) *sesEventQueue {
	q.records, q.done = make(chan sesevent.Event, sesEventBuffer), make(chan struct{})
	go q.run()
	return &q
}

func (q *sesEventQueue) publish(e sesevent.Event) { q.records <- e }

// Close sends what is buffered and stops; the simulator must be closed
// first, so that nothing is published afterwards.
func (q *sesEventQueue) Close() error {
	close(q.records)
	<-q.done
	return nil
}

func (q *sesEventQueue) run() {
	defer close(q.done)
	for e := range q.records {
		batch := []sesevent.Event{e}
	more:
		for len(batch) < 10 {
			select {
			case e, ok := <-q.records:
				if !ok {
					break more
				}
				batch = append(batch, e)
			default:
				break more
			}
		}
		q.send(batch)
	}
}

// send wraps a batch and sends it, best effort as SES's publishing to
// EventBridge is: a record that cannot be sent is reported and dropped.
func (q *sesEventQueue) send(batch []sesevent.Event) {
	var entries []sqsstore.SendBatchEntry
	for i, e := range batch {
		arn := ""
		if sets := e.Mail.Tags["ses:configuration-set"]; len(sets) == 1 {
			arn = fmt.Sprintf("arn:aws:ses:%s:%s:configuration-set/%s", q.region, q.account, sets[0])
		}
		env, err := sesevent.NewEnvelope(e, uuid.NewString(), q.account, q.region, arn, clock.Or(q.clock).Now())
		if err != nil {
			q.onError(fmt.Errorf("local: SES %s event of %s: %w", e.EventType, e.Mail.MessageID, err), eventAttrs(e)...)
			continue
		}
		body, err := json.Marshal(env)
		if err != nil {
			q.onError(fmt.Errorf("local: SES %s event of %s: %w", e.EventType, e.Mail.MessageID, err), eventAttrs(e)...)
			continue
		}
		entries = append(entries, sqsstore.SendBatchEntry{ID: fmt.Sprint(i), SendParams: sqsstore.SendParams{Body: string(body)}})
	}
	if len(entries) == 0 {
		return
	}
	res, err := q.store.SendBatch(context.Background(), q.queue, entries)
	if err != nil {
		q.onError(fmt.Errorf("local: %d SES events to %s: %w", len(entries), q.queue, err))
		return
	}
	for _, r := range res {
		if r.Err != nil {
			var attrs []any
			if i, err := strconv.Atoi(r.ID); err == nil && i >= 0 && i < len(batch) {
				attrs = eventAttrs(batch[i])
			}
			q.onError(fmt.Errorf("local: SES event to %s: %w", q.queue, r.Err), attrs...)
		}
	}
}

// eventAttrs are the log attributes of the mail an SES event is about.
func eventAttrs(e sesevent.Event) []any {
	mailID, _ := sesevent.MailID(e)
	return []any{"mailId", mailID, "sesMessageId", e.Mail.MessageID}
}

// startFeedback is the step that routes delivery feedback: the SES
// simulator's records go to the events queue (unless Config.SES.Events
// already has a sink), and a loop drains that queue into record (or
// recordBatch, a receive at a time), dead-lettering what classify calls
// permanent into the events dead-letter queue. It runs after the queues exist and before openSES,
// which reads the sink; the loop stops when the runtime closes, before the
// queue store does.
func (r *Runtime) startFeedback(ctx context.Context, record feedbackloop.Recorder, recordBatch feedbackloop.BatchRecorder, classify feedbackloop.Classify) error {
	cfg := r.cfg
	loop, err := feedbackloop.New(feedbackloop.Config{
		Queues: r.queues, Queue: cfg.EventsQueue, DeadLetterQueue: cfg.EventsDeadLetterQueue,
		// One worker: recording is bookkeeping beside the send path, and on
		// a small machine more workers only take CPU from the sends
		// (BENCHMARKS.md, delivery feedback).
		Record: record, RecordBatch: recordBatch, Classify: classify, Clock: cfg.Clock, Concurrency: 1,
		// While mail is being sent, recording takes at most a fifth of
		// the loop's time: the sends come first, the events wait in the
		// queue and are recorded at full speed once the burst is over.
		Busy: func() bool { return r.executions.Load() > 0 }, BusyShare: 0.2,
		OnError: func(err error) { cfg.Log.Error("delivery feedback", "err", err) },
	})
	if err != nil {
		return err
	}
	var sink *sesEventQueue
	if r.cfg.SES.Events == nil {
		sink = newSESEventQueue(sesEventQueue{
			store: r.queues, queue: cfg.EventsQueue, account: cfg.Account, region: cfg.Region, clock: cfg.Clock,
			onError: func(err error, attrs ...any) { cfg.Log.Error("SES event", append(attrs, "err", err)...) },
		})
		r.cfg.SES.Events = sink.publish
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		loop.Run(lctx)
	}()
	r.closers = append(r.closers, closerFunc(func() error {
		cancel()
		<-done
		return nil
	}))
	if sink != nil {
		// Closed before the loop and after the simulator (closers run
		// last first): what the simulator published still reaches the
		// queue.
		r.closers = append(r.closers, sink)
	}
	return nil
}
