// Package recordevent is the RecordEvent task: the delivery-feedback
// consumer. It takes one record of the events queue — an SES event as
// EventBridge delivers it, or the state machine's own record of a mail it
// accepted or dead-lettered — and
//
//   - records it with the mail's delivery state (delivery.Store), per
//     recipient, idempotently and in any order;
//   - suppresses the address of a permanent bounce or a complaint
//     (suppression.List), so that the next mail to it fails with
//     Mail.Suppressed before SES is called;
//   - resolves a mail whose send outcome was unknown: an SES Send or
//     Delivery event proves SES took it, so its lock is marked SENT and it
//     is never sent again;
//   - publishes the producer-facing outcome events (notify.Publisher).
//
// Decisions where the design is silent:
//   - The mail is found by its mailflow-mail-id message tag, never by an
//     index. An SES event without it (mail sent by something else through
//     the same configuration set) is counted as unknown, logged and
//     dropped: it is not malformed, and retrying cannot help.
//   - Event IDs are derived from the record (a hash of the SES message id,
//     the kind, the recipient, SES's feedback id and time), so a
//     duplicated SES record yields the same IDs and changes nothing.
//   - Every outcome event the record yields is published each time the
//     record is handled, not only the new ones: if publishing fails after
//     the record was stored, the queue redelivers it and the events go out
//     then. Receivers drop IDs they have seen (at-least-once).
//   - An SES event resolves an outcome-unknown lock only if SES took the
//     mail no earlier than a minute before the recorded attempt started:
//     an older acceptance answers an attempt an operator has since chosen
//     to send again (replay --force), not the one the lock records.
//   - Suppression follows only events that are new to the mail's record,
//     so an operator's removal is not undone by a late duplicate.
//   - A delivery record is kept Retention (default 30 days) after its
//     latest event: complaints can arrive weeks after the send.
//   - A record that cannot be read (bad JSON, unknown source, an SES
//     record that breaks SES's documented shape) is a [*MalformedError];
//     the caller sends it to the events dead-letter queue with the reason
//     and goes on. Any other error is transient: the record is retried.
package recordevent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/notify"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/workflow"
)

// SESSource is the EventBridge source of SES's events.
const SESSource = sesevent.EnvelopeSource

// DefaultRetention is how long a delivery record is kept after its latest event.
const DefaultRetention = 30 * 24 * time.Hour

// Config is the task configuration.
type Config struct {
	Retention time.Duration // default DefaultRetention
}

// Deps are the ports the handler uses. Deliveries is required; the others
// may be nil (no suppression, no lock resolution, nothing published).
type Deps struct {
	Deliveries   delivery.Store
	Suppressions suppression.List
	Locks        LockResolver
	Publisher    notify.Publisher
	Clock        clock.Clock  // default clock.Wall
	Log          *slog.Logger // default slog.Default()
}

// Result is what one record did.
type Result struct {
	Source string // SESSource or workflow.PipelineEventSource
	MailID string // "" when the record names no mail
	// Unknown: an SES event without the mailflow-mail-id tag, or a
	// dead-lettered body without a mailId: nothing was recorded.
	Unknown bool
	// Events are the events the record yields; New those that were new
	// to the mail's record.
	Events []delivery.Event
	New    []delivery.Event
	// Resolved: an outcome-unknown lock was marked SENT.
	Resolved bool
	// Suppressed lists the addresses this record put on the list.
	Suppressed []string
}

// MalformedError is a record that cannot be read; retrying cannot help.
type MalformedError struct {
	Reason string
}

func (e *MalformedError) Error() string { return "recordevent: malformed record: " + e.Reason }

// Malformed reports whether err is a [*MalformedError], and its reason.
func Malformed(err error) (reason string, ok bool) {
	var me *MalformedError
	if errors.As(err, &me) {
		return me.Reason, true
	}
	return "", false
}

func malformed(format string, args ...any) error {
	return &MalformedError{Reason: fmt.Sprintf(format, args...)}
}

// Handler is the RecordEvent task.
type Handler struct {
	cfg  Config
	deps Deps
}

// New checks the configuration and returns the handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if deps.Deliveries == nil {
		return nil, errors.New("recordevent: no delivery store")
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Retention < time.Hour {
		return nil, fmt.Errorf("recordevent: retention %s is shorter than an hour", cfg.Retention)
	}
	deps.Clock = clock.Or(deps.Clock)
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	return &Handler{cfg: cfg, deps: deps}, nil
}

// envelope is the part of an EventBridge event (or of a pipeline record)
// that says what it is.
type envelope struct {
	Source string `json:"source"`
}

// MaxRecordBytes bounds a record: the largest SQS message.
const MaxRecordBytes = 1 << 20

// Handle records one events-queue body and publishes its outcome events.
func (h *Handler) Handle(ctx context.Context, body []byte) (Result, error) {
	res, err := h.recordBody(ctx, body)
	if err != nil {
		return Result{}, err
	}
	return res, h.publish(ctx, h.outcomes(ctx, res))
}

// HandleBatch records each body in order, then publishes the outcome
// events of all that were recorded in one call, as a batch of the events
// queue arrives. errs[i] is body i's error; when publishing fails, every
// recorded body gets that error, so the queue delivers them again
// (recording is idempotent, publishing at least once).
func (h *Handler) HandleBatch(ctx context.Context, bodies [][]byte) (results []Result, errs []error) {
	results, errs = make([]Result, len(bodies)), make([]error, len(bodies))
	var events []workflow.OutcomeEvent
	for i, body := range bodies {
		results[i], errs[i] = h.recordBody(ctx, body)
		if errs[i] == nil {
			events = append(events, h.outcomes(ctx, results[i])...)
		}
	}
	if err := h.publish(ctx, events); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return results, errs
}

// recordBody reads one events-queue body and records it, publishing nothing.
func (h *Handler) recordBody(ctx context.Context, body []byte) (Result, error) {
	if len(body) > MaxRecordBytes {
		return Result{}, malformed("%d bytes, more than %d", len(body), MaxRecordBytes)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Result{}, malformed("not a JSON object: %v", err)
	}
	switch env.Source {
	case SESSource:
		e, err := sesevent.ParseEnvelope(body)
		if err != nil {
			return Result{}, malformed("%v", err)
		}
		return h.handleSES(ctx, e.Detail)
	case workflow.PipelineEventSource:
		p, err := workflow.ParsePipelineEvent(body)
		if err != nil {
			return Result{}, malformed("%v", err)
		}
		return h.handlePipeline(ctx, p)
	case "":
		return Result{}, malformed("no source")
	default:
		return Result{}, malformed("source %q is neither %s nor %s", truncate(env.Source, 64), SESSource, workflow.PipelineEventSource)
	}
}

func (h *Handler) handleSES(ctx context.Context, e sesevent.Event) (Result, error) {
	res := Result{Source: SESSource}
	mailID, ok := sesevent.MailID(e)
	if !ok {
		res.Unknown = true
		h.deps.Log.WarnContext(ctx, "SES event for no known mail",
			slog.String("eventType", e.EventType), slog.String("sesMessageId", e.Mail.MessageID),
			slog.String("reason", "no valid "+sesevent.MailIDTag+" tag"))
		return res, nil
	}
	res.MailID = mailID
	events, err := fromSES(e)
	if err != nil {
		return Result{}, err
	}
	res.Events = events
	if err := h.record(ctx, &res); err != nil {
		return Result{}, err
	}
	if e.EventType == sesevent.TypeSend || e.EventType == sesevent.TypeDelivery {
		acceptedAt, _ := time.Parse(time.RFC3339Nano, e.Mail.Timestamp) // fromSES checked it
		resolved, err := h.resolve(ctx, mailID, e.Mail.MessageID, acceptedAt)
		if err != nil {
			return Result{}, err
		}
		res.Resolved = resolved
	}
	if err := h.suppress(ctx, &res); err != nil {
		return Result{}, err
	}
	return res, nil
}

func (h *Handler) handlePipeline(ctx context.Context, p workflow.PipelineEvent) (Result, error) {
	res := Result{Source: workflow.PipelineEventSource}
	at, _ := time.Parse(time.RFC3339Nano, p.Time)
	ev := delivery.Event{Type: p.Type, Time: at}
	switch p.Type {
	case workflow.EventAccepted:
		res.MailID = p.MailID
	case workflow.EventDeadLettered:
		id := workflow.PeekMailID(p.Body)
		if !workflow.ValidMailID(id) {
			res.Unknown = true
			h.deps.Log.WarnContext(ctx, "dead-lettered message names no mail",
				slog.String("messageId", p.MessageID), slog.String("error", p.Error.Error))
			return res, nil
		}
		res.MailID = id
		ev.Reason = &workflow.EventReason{Error: truncate(p.Error.Error, 128), Cause: causeText(p.Error.Cause)}
		// What the dead-letter index lists: SQS cannot list a queue
		// without receiving it, so the record names its copy here.
		ev.Queued = &delivery.QueuedRecord{MessageID: p.MessageID, ExecutionID: p.ExecutionID, Recipients: bodyRecipients(p.Body)}
	}
	ev.ID = eventID("pipeline", string(p.Type), res.MailID, p.ExecutionID, p.MessageID)
	res.Events = []delivery.Event{ev}
	if err := h.record(ctx, &res); err != nil {
		return Result{}, err
	}
	return res, nil
}

// record applies the events to the mail's delivery record.
func (h *Handler) record(ctx context.Context, res *Result) error {
	now := h.deps.Clock.Now()
	_, fresh, err := h.deps.Deliveries.Apply(ctx, delivery.ApplyParams{
		MailID: res.MailID, Events: res.Events, Now: now, ExpiresAt: now.Add(h.cfg.Retention),
	})
	if err != nil {
		return fmt.Errorf("recordevent: recording %s: %w", res.MailID, err)
	}
	res.New = fresh
	return nil
}

// suppress lists the addresses of new permanent bounces and complaints.
func (h *Handler) suppress(ctx context.Context, res *Result) error {
	if h.deps.Suppressions == nil {
		return nil
	}
	for _, e := range res.New {
		entry, ok := suppressionOf(res.MailID, e)
		if !ok {
			continue
		}
		if err := h.deps.Suppressions.Put(ctx, entry); err != nil {
			return fmt.Errorf("recordevent: suppressing %s: %w", entry.Address, err)
		}
		res.Suppressed = append(res.Suppressed, entry.Address)
		h.deps.Log.InfoContext(ctx, "address suppressed", slog.String("mailId", res.MailID),
			slog.String("address", entry.Address), slog.String("reason", string(entry.Reason)))
	}
	return nil
}

func suppressionOf(mailID string, e delivery.Event) (suppression.Entry, bool) {
	var reason suppression.Reason
	switch {
	case e.Type == workflow.EventBounced && e.Bounce != nil && e.Bounce.Type == sesevent.BouncePermanent:
		reason = suppression.Bounce
	case e.Type == workflow.EventComplained:
		reason = suppression.Complaint
	default:
		return suppression.Entry{}, false
	}
	addr, err := suppression.Normalize(e.Recipient)
	if err != nil {
		return suppression.Entry{}, false
	}
	return suppression.Entry{
		Address: addr, Reason: reason, At: e.Time, MailID: mailID, SESMessageID: e.SESMessageID,
		Bounce: e.Bounce, Complaint: e.Complaint,
	}, true
}

// outcomes are the producer-facing events a record yields: every one, not
// only the new ones (see the package doc), and only those the schema
// takes (the stored record keeps the others).
func (h *Handler) outcomes(ctx context.Context, res Result) []workflow.OutcomeEvent {
	if h.deps.Publisher == nil {
		return nil
	}
	out := make([]workflow.OutcomeEvent, 0, len(res.Events))
	for _, e := range res.Events {
		oe := OutcomeEvent(res.MailID, e)
		if err := oe.Validate(); err != nil {
			h.deps.Log.WarnContext(ctx, "event not published", slog.String("mailId", res.MailID),
				slog.String("type", string(e.Type)), slog.String("error", err.Error()))
			continue
		}
		out = append(out, oe)
	}
	return out
}

// publish tells producers.
func (h *Handler) publish(ctx context.Context, events []workflow.OutcomeEvent) error {
	if h.deps.Publisher == nil || len(events) == 0 {
		return nil
	}
	if err := h.deps.Publisher.Publish(ctx, events); err != nil {
		return fmt.Errorf("recordevent: publishing %d outcome events: %w", len(events), err)
	}
	return nil
}

// OutcomeEvent is the producer-facing form of a recorded event.
func OutcomeEvent(mailID string, e delivery.Event) workflow.OutcomeEvent {
	return workflow.OutcomeEvent{
		Version: workflow.OutcomeEventVersion, ID: e.ID, Type: e.Type, MailID: mailID, Time: e.Time,
		Recipient: e.Recipient, SESMessageID: e.SESMessageID,
		Reason: e.Reason, Bounce: e.Bounce, Complaint: e.Complaint,
	}
}

// fromSES turns an SES record into the events it stands for: one per
// recipient for deliveries, bounces, complaints and delays; one for the
// whole mail otherwise.
func fromSES(e sesevent.Event) ([]delivery.Event, error) {
	msgID := e.Mail.MessageID
	mailTime, err := sesTime("mail.timestamp", e.Mail.Timestamp)
	if err != nil {
		return nil, err
	}
	whole := func(t workflow.OutcomeEventType, reason *workflow.EventReason) []delivery.Event {
		return []delivery.Event{{ID: eventID("ses", string(t), msgID), Type: t, Time: mailTime, SESMessageID: msgID, Reason: reason}}
	}
	var out []delivery.Event
	add := func(t workflow.OutcomeEventType, at time.Time, recipient string, parts ...string) *delivery.Event {
		id := eventID(append([]string{"ses", string(t), msgID, strings.ToLower(recipient)}, parts...)...)
		out = append(out, delivery.Event{ID: id, Type: t, Time: at, Recipient: recipient, SESMessageID: msgID})
		return &out[len(out)-1]
	}
	switch e.EventType {
	case sesevent.TypeSend:
		return whole(workflow.EventSent, nil), nil
	case sesevent.TypeReject:
		return whole(workflow.EventRejected, &workflow.EventReason{Error: "SES.Reject", Cause: textOf(e.Reject.Reason)}), nil
	case sesevent.TypeRenderingFailure:
		return whole(workflow.EventRenderingFailed, &workflow.EventReason{Error: "SES.RenderingFailure", Cause: textOf(e.Failure.ErrorMessage)}), nil
	case sesevent.TypeDelivery:
		at, err := sesTime("delivery.timestamp", e.Delivery.Timestamp)
		if err != nil {
			return nil, err
		}
		for _, r := range e.Delivery.Recipients {
			add(workflow.EventDelivered, at, r)
		}
	case sesevent.TypeBounce:
		b := e.Bounce
		at, err := sesTime("bounce.timestamp", b.Timestamp)
		if err != nil {
			return nil, err
		}
		for _, r := range b.BouncedRecipients {
			ev := add(workflow.EventBounced, at, r.EmailAddress, b.FeedbackID)
			ev.Bounce = &workflow.EventBounce{Type: b.BounceType, SubType: b.BounceSubType, DiagnosticCode: textOf(r.DiagnosticCode)}
		}
	case sesevent.TypeComplaint:
		c := e.Complaint
		at, err := sesTime("complaint.timestamp", c.Timestamp)
		if err != nil {
			return nil, err
		}
		for _, r := range c.ComplainedRecipients {
			ev := add(workflow.EventComplained, at, r.EmailAddress, c.FeedbackID)
			ev.Complaint = &workflow.EventComplaint{FeedbackType: c.ComplaintFeedbackType}
		}
	case sesevent.TypeDeliveryDelay:
		d := e.DeliveryDelay
		at, err := sesTime("deliveryDelay.timestamp", d.Timestamp)
		if err != nil {
			return nil, err
		}
		for _, r := range d.DelayedRecipients {
			add(workflow.EventDelayed, at, r.EmailAddress, d.Timestamp)
		}
	default:
		return nil, malformed("event type %q is not handled", e.EventType)
	}
	if len(out) == 0 {
		return nil, malformed("a %s event names no recipient", e.EventType)
	}
	return out, nil
}

func sesTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, malformed("%s %q is not RFC 3339", field, truncate(v, 64))
	}
	return t, nil
}

// eventID is a stable, schema-safe ID for the parts that identify an event.
func eventID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return parts[0] + "-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// maxText bounds the free texts of an event, as the outcome schema does.
const maxText = 4096

func textOf(s string) string { return truncate(strings.ToValidUTF8(s, "\uFFFD"), maxText) }

// causeText is the readable part of a caught error's cause: a Lambda
// error's cause is a JSON object whose errorMessage says what happened.
func causeText(cause string) string {
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &lambdaErr) == nil && lambdaErr.ErrorMessage != "" {
		cause = lambdaErr.ErrorMessage
	}
	return textOf(cause)
}

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// bodyRecipients reads the to, cc and bcc addresses of a dead-lettered
// body leniently (it often broke the contract), at most
// workflow.MaxRecipients of them, each cut to 320 bytes.
func bodyRecipients(body string) []string {
	var m struct{ To, Cc, Bcc []string }
	if json.Unmarshal([]byte(body), &m) != nil {
		return nil
	}
	var out []string
	for _, list := range [][]string{m.To, m.Cc, m.Bcc} {
		for _, a := range list {
			if len(out) == workflow.MaxRecipients {
				return out
			}
			out = append(out, truncate(a, 320))
		}
	}
	return out
}
