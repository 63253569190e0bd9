package local

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/local/feedbackloop"
	"github.com/mailflow/mailflow/local/sqsstore"
)

// sesEventQueue is the SES simulator's event sink: each record goes to the
// events queue wrapped as EventBridge delivers it on AWS (source aws.ses,
// the configuration set's ARN as resource), so the consumer reads the same
// body in both places.
type sesEventQueue struct {
	store           *sqsstore.Store
	queue           string
	account, region string
	clock           clock.Clock
	onError         func(error)
}

func (q sesEventQueue) publish(e sesevent.Event) {
	arn := ""
	if sets := e.Mail.Tags["ses:configuration-set"]; len(sets) == 1 {
		arn = fmt.Sprintf("arn:aws:ses:%s:%s:configuration-set/%s", q.region, q.account, sets[0])
	}
	env, err := sesevent.NewEnvelope(e, uuid.NewString(), q.account, q.region, arn, clock.Or(q.clock).Now())
	if err != nil {
		q.onError(fmt.Errorf("local: SES %s event of %s: %w", e.EventType, e.Mail.MessageID, err))
		return
	}
	body, err := json.Marshal(env)
	if err != nil {
		q.onError(fmt.Errorf("local: SES %s event of %s: %w", e.EventType, e.Mail.MessageID, err))
		return
	}
	// Best effort, as SES's publishing to EventBridge is.
	if _, err := q.store.Send(context.Background(), q.queue, sqsstore.SendParams{Body: string(body)}); err != nil {
		q.onError(fmt.Errorf("local: SES %s event of %s to %s: %w", e.EventType, e.Mail.MessageID, q.queue, err))
	}
}

// startFeedback is the step that routes delivery feedback: the SES
// simulator's records go to the events queue (unless Config.SES.Events
// already has a sink), and a loop drains that queue into record,
// dead-lettering what classify calls permanent into the events
// dead-letter queue. It runs after the queues exist and before openSES,
// which reads the sink; the loop stops when the runtime closes, before the
// queue store does.
func (r *Runtime) startFeedback(ctx context.Context, record feedbackloop.Recorder, classify feedbackloop.Classify) error {
	cfg := r.cfg
	if r.cfg.SES.Events == nil {
		r.cfg.SES.Events = sesEventQueue{
			store: r.queues, queue: cfg.EventsQueue, account: cfg.Account, region: cfg.Region, clock: cfg.Clock,
			onError: func(err error) { cfg.Log.Error("SES event", "err", err) },
		}.publish
	}
	loop, err := feedbackloop.New(feedbackloop.Config{
		Queues: r.queues, Queue: cfg.EventsQueue, DeadLetterQueue: cfg.EventsDeadLetterQueue,
		Record: record, Classify: classify, Clock: cfg.Clock,
		OnError: func(err error) { cfg.Log.Error("delivery feedback", "err", err) },
	})
	if err != nil {
		return err
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
	return nil
}
