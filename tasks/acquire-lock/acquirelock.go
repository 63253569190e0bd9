// Package acquirelock is the AcquireLock task: it validates the queue body
// against the message contract and checks the dedup lock for its mailId,
// before anything is built or sent.
//
// Input (from the state machine): {"messageId", "body", "owner"}; output:
// {"outcome": "acquired" | "already-sent", "mailId", "owner"}. Errors:
// Mail.InvalidMessage, Mail.IdempotencyConflict, Mail.LockBusy,
// Mail.OutcomeUnknown, Mail.Suppressed, Mail.Transient.
//
// Decisions where the architecture is silent:
//   - The task reads the lock record and writes nothing: one eventually
//     consistent read (lock.Table.Peek), and a consistent one only before
//     it refuses the mail (busy, conflict, outcome unknown), so a moment's
//     lag can delay a mail but never dead-letter it. The lock is taken by
//     the Send task, in the same conditional write that records its send
//     attempt (lock.AttemptParams.ContentHash), under the conditions the
//     architecture gives the acquire. That saves a
//     write per mail, and nothing is held while the message is built: a
//     crash or a failure before the send leaves no lease to wait out. The
//     outcome keeps its name, "acquired": the mail may go ahead. Two
//     executions of the same mail may both pass here; the attempt write
//     lets one of them send and answers the other as this task would
//     (already-sent, Mail.LockBusy, Mail.IdempotencyConflict,
//     Mail.OutcomeUnknown), so a mail is still sent at most once.
//   - A different content hash wins over every other state: the same mailId
//     with other content is a producer bug, reported as
//     Mail.IdempotencyConflict even when the first content was already sent
//     or its lease ran out, rather than silently answered "already-sent".
//   - A record whose send attempt has no recorded answer (the mail may have
//     gone out) is Mail.OutcomeUnknown once its lease has run out, or when
//     it is this owner's own, naming the attempt's time: a redelivery, a
//     producer's resend or a replay never sends such a mail again. While
//     another owner's lease runs the attempt may still be answered, so it
//     is Mail.LockBusy as any live lease. This owner's own lease, a lease
//     that ran out with no attempt, and an expired record let the mail go
//     ahead.
//   - With a suppression list (Deps.Suppressions), every recipient (to, cc
//     and bcc, compared as suppression.Normalize makes them) is looked up
//     once the lock says the mail may go ahead, and one listed recipient
//     fails the whole mail with Mail.Suppressed, naming each listed
//     address, its reason, since when and what listed it. The whole mail,
//     because it is one message whose to and cc every recipient sees:
//     sending it to the rest would deliver a different mail than the
//     producer asked for under the same mailId, and record it as sent; the
//     producer decides whether to send it again without the address. The
//     check comes after the lock so that a mail already sent answers
//     already-sent even when its own bounce listed a recipient since. A
//     failed lookup is Mail.Transient.
//   - With an events queue (Deps.Events), a mail that may go ahead (and
//     that no suppressed recipient stopped) is told to the
//     delivery-feedback consumer as accepted. Best effort, bounded to
//     EventTimeout: a failure is logged and the mail goes on, since the
//     record is a notification, not part of sending. The task sends it
//     rather than a state of its own in the definition: a Task state per
//     mail costs the local interpreter a quarter of its throughput, and on
//     AWS a state transition and its latency, where one SendMessage from
//     the function that knows the answer costs neither.
//   - The content hash is SHA-256 over the parsed message's canonical JSON,
//     so whitespace and key order do not matter (taskkit.ContentHash; the
//     Send task computes the same one for its attempt).
//   - A key outside the attachment prefix is a contract violation here
//     (Mail.InvalidMessage, nothing is locked); FetchAttachments, which
//     reads the keys, names the same thing Mail.AttachmentForbidden.
//
// [New] builds the handler from ports; tasks/acquire-lock/lambda wires it to
// DynamoDB.
package acquirelock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/eventqueue"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/workflow"
)

// In is the task input.
type In struct {
	MessageID string `json:"messageId"`
	Body      string `json:"body"`
	Owner     string `json:"owner"`
}

// Outcomes of the task.
const (
	// Acquired: the mail may go ahead (the Send task's attempt takes the
	// lock).
	Acquired = "acquired"
	// AlreadySent is spelled as the record outcome it leads to.
	AlreadySent = string(workflow.OutcomeAlreadySent)
)

// Out is the task output.
type Out struct {
	Outcome string `json:"outcome"`
	MailID  string `json:"mailId"`
	Owner   string `json:"owner"`
}

// Config is the task configuration.
type Config struct {
	Limits    workflow.Limits
	Lease     time.Duration // > 5 minutes, the longest Express execution
	Retention time.Duration // how long a SENT record deduplicates
}

// ConfigFromEnv reads ATTACHMENT_PREFIX, ALLOWED_SENDERS, DEFAULT_SENDER,
// MAX_BODY_BYTES, LOCK_LEASE and LOCK_RETENTION.
func ConfigFromEnv(env taskkit.Env) (Config, error) {
	var p taskkit.Problems
	c := Config{
		Limits:    taskkit.Limits(env, &p),
		Lease:     taskkit.Duration(env, &p, taskkit.EnvLease, taskkit.DefaultLease, taskkit.MinLease),
		Retention: taskkit.Duration(env, &p, taskkit.EnvRetention, taskkit.DefaultRetention, taskkit.MinRetention),
	}
	return c, p.Err()
}

// Deps are the ports the handler uses.
type Deps struct {
	Locks lock.Table
	// Suppressions is checked for every recipient of a mail that may go
	// ahead; nil checks nothing.
	Suppressions suppression.List
	// Events receives the accepted record of every mail that may go
	// ahead; nil tells nobody.
	Events eventqueue.Queue
	Clock  clock.Clock  // default clock.Wall
	Log    *slog.Logger // default slog.Default()
}

// Handler is the AcquireLock task.
type Handler struct {
	cfg  Config
	deps Deps
}

// New checks the configuration and returns the handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	if cfg.Lease < taskkit.MinLease {
		return nil, fmt.Errorf("acquirelock: lease %s is shorter than %s", cfg.Lease, taskkit.MinLease)
	}
	if cfg.Retention < taskkit.MinRetention {
		return nil, fmt.Errorf("acquirelock: retention %s is shorter than %s", cfg.Retention, taskkit.MinRetention)
	}
	if deps.Locks == nil {
		return nil, errors.New("acquirelock: no lock table")
	}
	deps.Clock = clock.Or(deps.Clock)
	return &Handler{cfg: cfg, deps: deps}, nil
}

// Handle runs the task.
func (h *Handler) Handle(ctx context.Context, in In) (out Out, err error) {
	log := taskkit.Logger(ctx, h.deps.Log, "AcquireLock", in.MessageID, in.Owner, "")
	defer func() { taskkit.LogResult(log, err, slog.String("outcome", out.Outcome)) }()

	if err := taskkit.CheckOwner(in.Owner); err != nil {
		return Out{}, err
	}
	m, err := workflow.Parse([]byte(in.Body), h.cfg.Limits)
	if err != nil {
		if id := taskkit.ClaimedMailID(in.Body); id != "" {
			log = log.With(slog.String("mailId", id))
		}
		return Out{}, workflow.Wrap(workflow.InvalidMessage, err)
	}
	log = log.With(slog.String("mailId", m.MailID))
	hash := taskkit.ContentHash(&m)
	var recipients []string
	if h.deps.Suppressions != nil {
		if recipients, err = normalizedRecipients(&m); err != nil {
			return Out{}, workflow.Wrap(workflow.InvalidMessage, err)
		}
	}

	// A read, not a write: the Send task's attempt takes the lock in the
	// write that records the attempt, so nothing is held while the
	// message is built and a mail costs one lock write fewer. What the
	// read finds answers here what the write would refuse there. The read
	// may lag a moment (lock.Table.Peek, half the price): a stale "go
	// ahead" is settled by Send's write, and a refusal, which ends the
	// mail's execution here, is read again consistently before it is
	// given.
	now := h.deps.Clock.Now()
	cur, found, err := h.deps.Locks.Peek(ctx, m.MailID)
	if err != nil {
		return Out{}, workflow.Errorf(workflow.Transient, "reading the lock: %w", err)
	}
	if out, decided, refused := h.judge(log, in, m.MailID, hash, cur, found, now); decided {
		if refused == nil {
			return out, nil
		}
		if cur, found, err = h.deps.Locks.Get(ctx, m.MailID); err != nil {
			return Out{}, workflow.Errorf(workflow.Transient, "reading the lock: %w", err)
		}
		if out, decided, refused := h.judge(log, in, m.MailID, hash, cur, found, now); decided {
			return out, refused
		}
	}
	if err := h.checkSuppressed(ctx, m.MailID, recipients); err != nil {
		return Out{}, err
	}
	h.tellAccepted(ctx, log, in, m.MailID, now)
	return Out{Outcome: Acquired, MailID: m.MailID, Owner: in.Owner}, nil
}

// judge answers from the lock record: decided is false when the mail may
// go ahead (no live record, this owner's own lease, or a lease that ran
// out with no attempt).
func (h *Handler) judge(log *slog.Logger, in In, mailID, hash string, cur lock.Record, found bool, now time.Time) (out Out, decided bool, refused error) {
	if !found || !cur.Live(now) {
		return Out{}, false, nil
	}
	switch {
	case cur.ContentHash != hash:
		return Out{}, true, workflow.Errorf(workflow.IdempotencyConflict,
			"mailId %q was already used for other content (%s, status %s)", mailID, cur.ContentHash, cur.Status)
	case cur.Status == lock.Sent:
		log.Info("already sent", slog.String("sesMessageId", cur.SESMessageID))
		return Out{Outcome: AlreadySent, MailID: mailID, Owner: in.Owner}, true, nil
	case cur.OutcomeUnknown() && (!cur.LeaseLive(now) || cur.Owner == in.Owner):
		return Out{}, true, taskkit.OutcomeUnknownError(cur, nil)
	case cur.LeaseLive(now) && cur.Owner != in.Owner:
		return Out{}, true, workflow.Errorf(workflow.LockBusy, "mailId %q is being sent by %s until %s",
			mailID, cur.Owner, cur.LeaseUntil.UTC().Format(time.RFC3339))
	}
	return Out{}, false, nil
}

// EventTimeout bounds telling the events queue of an accepted mail.
const EventTimeout = 2 * time.Second

// tellAccepted sends the accepted record; a failure is only logged.
func (h *Handler) tellAccepted(ctx context.Context, log *slog.Logger, in In, mailID string, at time.Time) {
	if h.deps.Events == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, EventTimeout)
	defer cancel()
	err := h.deps.Events.Send(ctx, workflow.PipelineEvent{
		Source: workflow.PipelineEventSource, Type: workflow.EventAccepted, MessageID: in.MessageID,
		ExecutionID: taskkit.ExecutionID(in.Owner, in.MessageID), Time: at.UTC().Format(time.RFC3339Nano), MailID: mailID,
	})
	if err != nil {
		log.Warn("the events queue was not told the mail was accepted", slog.String("error", err.Error()))
	}
}

// normalizedRecipients returns the to, cc and bcc addresses of m as the
// suppression list compares them, each once.
func normalizedRecipients(m *workflow.Message) ([]string, error) {
	var out []string
	for _, list := range [][]string{m.To, m.Cc, m.Bcc} {
		for _, a := range list {
			b, err := workflow.ParseMailbox(a)
			if err != nil {
				return nil, fmt.Errorf("recipient %q: %w", a, err)
			}
			n, err := suppression.Normalize(b.Address())
			if err != nil {
				return nil, fmt.Errorf("recipient %q: %w", a, err)
			}
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// checkSuppressed looks the recipients up and returns the task's error
// for a listed recipient or a failed lookup.
func (h *Handler) checkSuppressed(ctx context.Context, mailID string, recipients []string) error {
	if h.deps.Suppressions == nil {
		return nil
	}
	listed, err := h.deps.Suppressions.Lookup(ctx, recipients)
	if err != nil {
		return workflow.Errorf(workflow.Transient, "looking the recipients up on the suppression list: %w", err)
	}
	if len(listed) == 0 {
		return nil
	}
	why := make([]string, len(listed))
	for i, e := range listed {
		why[i] = describe(e)
	}
	return workflow.Errorf(workflow.Suppressed, "mailId %q was not sent: %s", mailID, strings.Join(why, "; "))
}

// describe says why an address is on the list.
func describe(e suppression.Entry) string {
	by := fmt.Sprintf("mail %q (SES message %s)", e.MailID, e.SESMessageID)
	if e.MailID == "" && e.SESMessageID == "" {
		by = "an operator's entry"
		if e.Note != "" {
			by += fmt.Sprintf(" (%q)", e.Note)
		}
	}
	return fmt.Sprintf("recipient %s is suppressed (%s since %s, after %s)",
		e.Address, e.Reason, e.At.UTC().Format(time.RFC3339), by)
}
