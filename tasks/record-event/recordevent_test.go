package recordevent_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/memdelivery"
	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/memlock"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/suppression/memsuppression"
	recordevent "github.com/mailflow/mailflow/tasks/record-event"
	"github.com/mailflow/mailflow/workflow"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 12_000_000, time.UTC)

// recorder is a notify.Publisher that keeps what it is given and fails
// while failing is set.
type recorder struct {
	mu      sync.Mutex
	events  []workflow.OutcomeEvent
	failing bool
	calls   int
}

func (r *recorder) Publish(_ context.Context, events []workflow.OutcomeEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failing {
		return errors.New("bus unavailable")
	}
	for _, e := range events {
		// Every published event passes the schema's rules.
		if _, err := json.Marshal(e); err != nil {
			return err
		}
	}
	r.events = append(r.events, events...)
	return nil
}

func (r *recorder) types() []workflow.OutcomeEventType {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []workflow.OutcomeEventType
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

type world struct {
	h    *recordevent.Handler
	del  *memdelivery.Store
	sup  *memsuppression.List
	pub  *recorder
	now  time.Time
	ctx  context.Context
	test *testing.T
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{del: memdelivery.New(), sup: memsuppression.New(), pub: &recorder{}, ctx: context.Background(), test: t}
	clk := clock.NewVirtual(t0.Add(time.Minute))
	h, err := recordevent.New(recordevent.Config{}, recordevent.Deps{
		Deliveries: w.del, Suppressions: w.sup, Publisher: w.pub, Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.h, w.now = h, clk.Now()
	return w
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func sesMail(mailID string, to ...string) sesevent.Mail {
	tags := map[string][]string{"ses:configuration-set": {"mailflow"}}
	if mailID != "" {
		tags[sesevent.MailIDTag] = []string{sesevent.MailIDTagValue(mailID)}
	}
	return sesevent.Mail{Timestamp: ts(t0), MessageID: "0102-" + mailID, Source: "noreply@shop.example", Destination: to, Tags: tags}
}

// wrap puts an SES record into the EventBridge event the rule delivers.
func wrap(t *testing.T, e sesevent.Event) []byte {
	t.Helper()
	env, err := sesevent.NewEnvelope(e, "ev-1", "111122223333", "eu-west-1", "arn:aws:ses:eu-west-1:111122223333:configuration-set/mailflow", t0)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// wrapLoosely builds the envelope by hand, so that a record NewEnvelope
// would refuse can still be sent.
func wrapLoosely(t *testing.T, e sesevent.Event) []byte {
	t.Helper()
	detail, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"version": "0", "id": "ev-1", "detail-type": "Email Delivered", "source": recordevent.SESSource,
		"account": "111122223333", "time": "2026-03-02T10:00:00Z", "region": "eu-west-1", "resources": []string{}, "detail": json.RawMessage(detail),
	})
	return body
}

func send(mailID string, to ...string) sesevent.Event {
	return sesevent.Event{EventType: sesevent.TypeSend, Mail: sesMail(mailID, to...), Send: &sesevent.Send{}}
}

func delivered(mailID string, at time.Time, to ...string) sesevent.Event {
	return sesevent.Event{EventType: sesevent.TypeDelivery, Mail: sesMail(mailID, to...), Delivery: &sesevent.Delivery{
		Timestamp: ts(at), Recipients: to, SMTPResponse: "250 2.6.0 Message received",
	}}
}

func bounced(mailID, bounceType string, at time.Time, to string) sesevent.Event {
	return sesevent.Event{EventType: sesevent.TypeBounce, Mail: sesMail(mailID, to), Bounce: &sesevent.Bounce{
		BounceType: bounceType, BounceSubType: "General", Timestamp: ts(at), FeedbackID: "fb-" + mailID,
		BouncedRecipients: []sesevent.BouncedRecipient{{EmailAddress: to, Action: "failed", Status: "5.1.1", DiagnosticCode: "smtp; 550 5.1.1 user unknown"}},
	}}
}

func complained(mailID string, at time.Time, to string) sesevent.Event {
	return sesevent.Event{EventType: sesevent.TypeComplaint, Mail: sesMail(mailID, to), Complaint: &sesevent.Complaint{
		ComplainedRecipients: []sesevent.Recipient{{EmailAddress: to}}, Timestamp: ts(at), FeedbackID: "fc-" + mailID,
		ComplaintFeedbackType: "abuse",
	}}
}

func (w *world) handle(body []byte) recordevent.Result {
	w.test.Helper()
	res, err := w.h.Handle(w.ctx, body)
	if err != nil {
		w.test.Fatalf("Handle: %v", err)
	}
	return res
}

func (w *world) mail(mailID string) delivery.Mail {
	w.test.Helper()
	m, ok, err := w.del.Get(w.ctx, mailID, w.now)
	if err != nil || !ok {
		w.test.Fatalf("no delivery record for %s: %v", mailID, err)
	}
	return m
}

func TestDeliveredMailIsRecordedAndPublished(t *testing.T) {
	w := newWorld(t)
	w.handle(wrap(t, send("order-1", "ada@example.org")))
	res := w.handle(wrap(t, delivered("order-1", t0.Add(2*time.Second), "ada@example.org")))
	if res.MailID != "order-1" || len(res.New) != 1 {
		t.Fatalf("result %+v", res)
	}
	m := w.mail("order-1")
	r, ok := m.Recipient("ada@example.org")
	if !ok || r.State != workflow.EventDelivered || m.State != workflow.EventSent || m.SESMessageID != "0102-order-1" {
		t.Fatalf("record %+v", m)
	}
	if got := w.pub.types(); len(got) != 2 || got[0] != workflow.EventSent || got[1] != workflow.EventDelivered {
		t.Fatalf("published %v", got)
	}
	if e := w.pub.events[1]; e.Recipient != "ada@example.org" || e.SESMessageID != "0102-order-1" || !e.Time.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("published %+v", e)
	}
}

func TestPermanentBounceSuppresses(t *testing.T) {
	w := newWorld(t)
	res := w.handle(wrap(t, bounced("order-2", sesevent.BouncePermanent, t0.Add(time.Second), "Bob@Example.org")))
	if len(res.Suppressed) != 1 || res.Suppressed[0] != "bob@example.org" {
		t.Fatalf("suppressed %v", res.Suppressed)
	}
	got, err := w.sup.Lookup(w.ctx, []string{"bob@example.org"})
	if err != nil || len(got) != 1 {
		t.Fatalf("lookup %v %v", got, err)
	}
	e := got[0]
	if e.Reason != suppression.Bounce || e.MailID != "order-2" || e.Bounce == nil || e.Bounce.DiagnosticCode != "smtp; 550 5.1.1 user unknown" {
		t.Fatalf("entry %+v", e)
	}
	r, _ := w.mail("order-2").Recipient("Bob@Example.org")
	if r.State != workflow.EventBounced || r.Bounce.Type != sesevent.BouncePermanent {
		t.Fatalf("recipient %+v", r)
	}
}

func TestTransientBounceDoesNotSuppress(t *testing.T) {
	w := newWorld(t)
	res := w.handle(wrap(t, bounced("order-3", sesevent.BounceTransient, t0.Add(time.Second), "carol@example.org")))
	if len(res.Suppressed) != 0 {
		t.Fatalf("suppressed %v", res.Suppressed)
	}
	if got, _ := w.sup.Lookup(w.ctx, []string{"carol@example.org"}); len(got) != 0 {
		t.Fatalf("listed: %v", got)
	}
}

func TestComplaintSuppresses(t *testing.T) {
	w := newWorld(t)
	w.handle(wrap(t, delivered("order-4", t0.Add(time.Second), "dan@example.org")))
	res := w.handle(wrap(t, complained("order-4", t0.Add(time.Hour), "dan@example.org")))
	if len(res.Suppressed) != 1 {
		t.Fatalf("suppressed %v", res.Suppressed)
	}
	r, _ := w.mail("order-4").Recipient("dan@example.org")
	if r.State != workflow.EventComplained || r.Complaint.FeedbackType != "abuse" {
		t.Fatalf("recipient %+v", r)
	}
	if got := w.pub.events[len(w.pub.events)-1]; got.Type != workflow.EventComplained || got.Complaint.FeedbackType != "abuse" {
		t.Fatalf("published %+v", got)
	}
}

func TestDuplicatesAreIdempotentAndOperatorRemovalSticks(t *testing.T) {
	w := newWorld(t)
	body := wrap(t, bounced("order-5", sesevent.BouncePermanent, t0.Add(time.Second), "erin@example.org"))
	w.handle(body)
	if _, err := w.sup.Delete(w.ctx, "erin@example.org"); err != nil {
		t.Fatal(err)
	}
	res := w.handle(body)
	if len(res.New) != 0 || len(res.Suppressed) != 0 {
		t.Fatalf("duplicate changed something: %+v", res)
	}
	if got, _ := w.sup.Lookup(w.ctx, []string{"erin@example.org"}); len(got) != 0 {
		t.Fatal("a late duplicate suppressed the address again")
	}
	if n := len(w.mail("order-5").History); n != 1 {
		t.Fatalf("history has %d events", n)
	}
	// The duplicate is published again, with the same ID: at least once.
	if e := w.pub.events; len(e) != 2 || e[0].ID != e[1].ID {
		t.Fatalf("published %+v", e)
	}
}

func TestOutOfOrderEventsResolveByTime(t *testing.T) {
	w := newWorld(t)
	w.handle(wrap(t, complained("order-6", t0.Add(time.Hour), "fay@example.org")))
	w.handle(wrap(t, delivered("order-6", t0.Add(time.Second), "fay@example.org")))
	w.handle(wrap(t, send("order-6", "fay@example.org")))
	m := w.mail("order-6")
	r, _ := m.Recipient("fay@example.org")
	if r.State != workflow.EventComplained || m.State != workflow.EventSent {
		t.Fatalf("record %+v", m)
	}
	if h := m.History; len(h) != 3 || h[0].Type != workflow.EventSent || h[2].Type != workflow.EventComplained {
		t.Fatalf("history not in time order: %+v", h)
	}
}

func TestEventWithoutMailTagIsUnknown(t *testing.T) {
	w := newWorld(t)
	res := w.handle(wrap(t, delivered("", t0, "gus@example.org")))
	if !res.Unknown || len(w.pub.events) != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestMalformedRecords(t *testing.T) {
	w := newWorld(t)
	bad := delivered("order-7", t0, "hal@example.org")
	bad.Delivery.Timestamp = "yesterday"
	noObject := send("order-7", "hal@example.org")
	noObject.Send = nil
	for name, body := range map[string][]byte{
		"not JSON":        []byte("{"),
		"no source":       []byte(`{"detail":{}}`),
		"other source":    []byte(`{"source":"aws.s3","detail":{}}`),
		"no detail":       []byte(`{"source":"aws.ses"}`),
		"bad timestamp":   wrapLoosely(t, bad),
		"missing object":  wrapLoosely(t, noObject),
		"pipeline broken": []byte(`{"source":"mailflow.pipeline","type":"accepted","messageId":"m","time":"2026-03-02T10:00:00Z","mailId":"bad id"}`),
	} {
		_, err := w.h.Handle(w.ctx, body)
		reason, ok := recordevent.Malformed(err)
		if !ok || reason == "" {
			t.Errorf("%s: error %v is not malformed", name, err)
		}
	}
	if len(w.pub.events) != 0 {
		t.Fatal("a malformed record published something")
	}
}

func TestPublishFailureIsRetriedWithTheSameEvents(t *testing.T) {
	w := newWorld(t)
	body := wrap(t, delivered("order-8", t0.Add(time.Second), "ivy@example.org"))
	w.pub.failing = true
	if _, err := w.h.Handle(w.ctx, body); err == nil {
		t.Fatal("a failed publish was not reported")
	} else if _, ok := recordevent.Malformed(err); ok {
		t.Fatal("a failed publish is not transient")
	}
	w.pub.failing = false
	w.handle(body) // the queue's redelivery
	if got := w.pub.types(); len(got) != 1 || got[0] != workflow.EventDelivered {
		t.Fatalf("published %v after the retry", got)
	}
}

func pipelineRecord(t *testing.T, p workflow.PipelineEvent) []byte {
	t.Helper()
	p.Source = workflow.PipelineEventSource
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPipelineRecords(t *testing.T) {
	w := newWorld(t)
	w.handle(pipelineRecord(t, workflow.PipelineEvent{Type: workflow.EventAccepted, MessageID: "sqs-1",
		ExecutionID: "arn:exec:1", Time: ts(t0), MailID: "order-9"}))
	res := w.handle(pipelineRecord(t, workflow.PipelineEvent{Type: workflow.EventDeadLettered, MessageID: "sqs-1",
		ExecutionID: "arn:exec:1", Time: ts(t0.Add(time.Second)), Body: `{"mailId":"order-9","to":["x"]}`,
		Error: &workflow.PipelineError{Error: string(workflow.Suppressed), Cause: `{"errorType":"Mail.Suppressed","errorMessage":"jo@example.org is suppressed"}`}}))
	if res.MailID != "order-9" || len(res.New) != 1 {
		t.Fatalf("result %+v", res)
	}
	m := w.mail("order-9")
	if m.State != workflow.EventDeadLettered || len(m.History) != 2 {
		t.Fatalf("record %+v", m)
	}
	if d := m.DeadLetter; d == nil || d.MessageID != "sqs-1" || d.ExecutionID != "arn:exec:1" || d.Error != string(workflow.Suppressed) ||
		d.Cause != "jo@example.org is suppressed" || len(d.Recipients) != 1 || d.Recipients[0] != "x" || !d.At.Equal(t0.Add(time.Second)) {
		t.Fatalf("dead-letter entry %+v", m.DeadLetter)
	}
	last := w.pub.events[len(w.pub.events)-1]
	if last.Type != workflow.EventDeadLettered || last.Reason.Error != string(workflow.Suppressed) || last.Reason.Cause != "jo@example.org is suppressed" {
		t.Fatalf("published %+v", last)
	}
	// A body that names no mail: nothing to record, not malformed.
	res = w.handle(pipelineRecord(t, workflow.PipelineEvent{Type: workflow.EventDeadLettered, MessageID: "sqs-2",
		ExecutionID: "arn:exec:2", Time: ts(t0), Body: "not json", Error: &workflow.PipelineError{Error: string(workflow.InvalidMessage)}}))
	if !res.Unknown {
		t.Fatalf("result %+v", res)
	}
}

func TestSendEventResolvesAnOutcomeUnknownMail(t *testing.T) {
	ctx := context.Background()
	locks := memlock.New()
	clk := clock.NewVirtual(t0)
	now := clk.Now()
	if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: "order-10", Owner: "exec/1", ContentHash: "h",
		Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.StartAttempt(ctx, lock.AttemptParams{MailID: "order-10", Owner: "exec/1", Now: now}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute) // the lease ran out: the outcome is unknown
	h, err := recordevent.New(recordevent.Config{}, recordevent.Deps{Deliveries: memdelivery.New(), Locks: locks, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Handle(ctx, wrap(t, send("order-10", "kim@example.org")))
	if err != nil || !res.Resolved {
		t.Fatalf("result %+v, %v", res, err)
	}
	rec, _, _ := locks.Get(ctx, "order-10")
	if rec.Status != lock.Sent || rec.SESMessageID != "0102-order-10" {
		t.Fatalf("lock %+v", rec)
	}
	// A redelivery of the mail now answers already sent instead of
	// Mail.OutcomeUnknown, and the next event resolves nothing.
	res, _ = h.Handle(ctx, wrap(t, delivered("order-10", t0.Add(time.Second), "kim@example.org")))
	if res.Resolved {
		t.Fatal("resolved twice")
	}
}

func TestHandleBatchPublishesOnceForTheBatch(t *testing.T) {
	w := newWorld(t)
	bodies := [][]byte{
		wrap(t, delivered("order-11", t0.Add(time.Second), "lea@example.org")),
		[]byte("{"),
		wrap(t, complained("order-12", t0.Add(time.Hour), "max@example.org")),
	}
	_, errs := w.h.HandleBatch(w.ctx, bodies)
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("errors %v", errs)
	}
	if _, ok := recordevent.Malformed(errs[1]); !ok {
		t.Fatalf("body 1: %v, want malformed", errs[1])
	}
	if got := w.pub.types(); w.pub.calls != 1 || len(got) != 2 || got[0] != workflow.EventDelivered || got[1] != workflow.EventComplained {
		t.Fatalf("%d publish calls of %v", w.pub.calls, got)
	}
	// A failed publish fails every recorded body, so all come back.
	w.pub.failing = true
	_, errs = w.h.HandleBatch(w.ctx, bodies)
	for _, i := range []int{0, 2} {
		if errs[i] == nil {
			t.Errorf("body %d: no error after a failed publish", i)
		} else if _, ok := recordevent.Malformed(errs[i]); ok {
			t.Errorf("body %d: a failed publish is not transient", i)
		}
	}
	if _, ok := recordevent.Malformed(errs[1]); !ok {
		t.Errorf("body 1: %v, want malformed still", errs[1])
	}
}

// An event from an attempt older than the recorded one (an operator forced
// a new send since) does not mark the new attempt sent.
func TestEventOfAnEarlierAttemptDoesNotResolve(t *testing.T) {
	ctx := context.Background()
	locks := memlock.New()
	attempt := t0.Add(30 * time.Minute) // SES took the old attempt at t0
	clk := clock.NewVirtual(attempt)
	now := clk.Now()
	if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: "order-13", Owner: "exec/2", ContentHash: "h",
		Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.StartAttempt(ctx, lock.AttemptParams{MailID: "order-13", Owner: "exec/2", Now: now}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	h, err := recordevent.New(recordevent.Config{}, recordevent.Deps{Deliveries: memdelivery.New(), Locks: locks, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Handle(ctx, wrap(t, send("order-13", "kim@example.org")))
	if err != nil || res.Resolved {
		t.Fatalf("result %+v, %v", res, err)
	}
	if rec, _, _ := locks.Get(ctx, "order-13"); !rec.OutcomeUnknown() {
		t.Fatalf("lock %+v, want still outcome-unknown", rec)
	}
}
