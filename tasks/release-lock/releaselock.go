// Package releaselock is the ReleaseLock task: after a failure, it deletes
// the dedup lock if this execution attempt still holds it, so a redelivered
// message can acquire it at once instead of waiting for the lease.
//
// Input: {"messageId", "body", "owner"}; output: {"released", "reason"}.
// Releasing is best effort and never loops: a lock that is gone, SENT,
// held by another attempt, or outcome-unknown (a send started and its
// answer was never recorded; kept, so the mail is not sent again) is a
// success whose reason says so. Only a failure
// to reach the lock table is an error (Mail.Transient).
//
// Decisions where the architecture is silent:
//   - The body is not validated against the full contract: the task runs
//     after failures, including invalid messages. It needs only the mailId,
//     read leniently; a body without a well-formed mailId has nothing to
//     release (reason "no-mail-id").
//   - An empty owner likewise has nothing to release (reason "no-owner").
package releaselock

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/workflow"
)

// In is the task input.
type In struct {
	MessageID string `json:"messageId"`
	Body      string `json:"body"`
	Owner     string `json:"owner"`
}

// Out says what happened.
type Out struct {
	Released bool   `json:"released"`
	Reason   string `json:"reason"`
}

// Reasons.
const (
	ReasonReleased    = "released"
	ReasonNotFound    = "not-found"                         // no lock (never taken, already released, or expired)
	ReasonAlreadySent = string(workflow.OutcomeAlreadySent) // SENT locks are kept: they deduplicate
	ReasonOtherOwner  = "other-owner"                       // another attempt holds the lease
	// A send attempt has no recorded answer: the record is kept so that
	// no later attempt sends the mail again.
	ReasonOutcomeUnknown = "outcome-unknown"
	ReasonNoMailID       = "no-mail-id" // the body has no usable mailId
	ReasonNoOwner        = "no-owner"
)

// Deps are the ports the handler uses.
type Deps struct {
	Locks lock.Table
	Clock clock.Clock // nil: clock.Wall
	Log   *slog.Logger
}

// Handler is the ReleaseLock task.
type Handler struct{ deps Deps }

// New returns the handler. The task needs no configuration beyond its
// adapter's (LOCK_TABLE).
func New(deps Deps) (*Handler, error) {
	if deps.Locks == nil {
		return nil, errors.New("releaselock: no lock table")
	}
	deps.Clock = clock.Or(deps.Clock)
	return &Handler{deps: deps}, nil
}

var mailIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:@/-]{1,200}$`)

// MailIDOf reads the mailId from a queue body without validating the rest.
func MailIDOf(body string) (string, bool) {
	var v struct {
		MailID any `json:"mailId"`
	}
	if json.Unmarshal([]byte(body), &v) != nil {
		return "", false
	}
	id, ok := v.MailID.(string)
	return id, ok && mailIDPattern.MatchString(id)
}

// Handle runs the task.
func (h *Handler) Handle(ctx context.Context, in In) (out Out, err error) {
	mailID, ok := MailIDOf(in.Body)
	log := taskkit.Logger(ctx, h.deps.Log, "ReleaseLock", in.MessageID, in.Owner, mailID)
	defer func() {
		taskkit.LogResult(log, err, slog.Bool("released", out.Released), slog.String("reason", out.Reason))
	}()
	switch {
	case !ok:
		return Out{Reason: ReasonNoMailID}, nil
	case in.Owner == "":
		return Out{Reason: ReasonNoOwner}, nil
	}
	err = h.deps.Locks.Release(ctx, lock.ReleaseParams{MailID: mailID, Owner: in.Owner, Now: h.deps.Clock.Now()})
	if err == nil {
		return Out{Released: true, Reason: ReasonReleased}, nil
	}
	ce := lock.AsCondition(err)
	switch {
	case ce == nil:
		return Out{}, workflow.Errorf(workflow.Transient, "releasing the lock: %w", err)
	case ce.Current == nil:
		return Out{Reason: ReasonNotFound}, nil
	case ce.Current.Status == lock.Sent:
		return Out{Reason: ReasonAlreadySent}, nil
	case ce.Current.OutcomeUnknown():
		log.Warn("kept: a send attempt has no recorded answer", slog.Time("attemptedAt", ce.Current.AttemptedAt))
		return Out{Reason: ReasonOutcomeUnknown}, nil
	default:
		return Out{Reason: ReasonOtherOwner}, nil
	}
}
