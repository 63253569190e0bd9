package recordevent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/mailflow/mailflow/lock"
)

// LockResolver is the part of the lock table the task uses.
type LockResolver interface {
	Get(ctx context.Context, mailID string) (lock.Record, bool, error)
	ResolveSent(ctx context.Context, p lock.ResolveParams) (lock.Record, error)
}

// attemptSkew is how much earlier than the recorded attempt SES may say
// it took the mail and still be answering that attempt: the two clocks
// differ a little. An operator forces a new attempt only after the old
// one's lease ran out (minutes), so an older acceptance is the old one's.
const attemptSkew = time.Minute

// resolve marks an outcome-unknown lock SENT: SES's event proves it took
// the mail. The lock is read first, so the common case (already SENT)
// costs a read, not a write. A record that is not outcome-unknown, that
// changed in between, or whose attempt started after SES took the mail
// (acceptedAt: the event answers an earlier attempt, one an operator
// chose to send again) is left as it is.
func (h *Handler) resolve(ctx context.Context, mailID, sesMessageID string, acceptedAt time.Time) (bool, error) {
	if h.deps.Locks == nil {
		return false, nil
	}
	rec, ok, err := h.deps.Locks.Get(ctx, mailID)
	if err != nil {
		return false, fmt.Errorf("recordevent: reading the lock of %s: %w", mailID, err)
	}
	now := h.deps.Clock.Now()
	if !ok || !rec.Live(now) || !rec.OutcomeUnknown() {
		return false, nil
	}
	if acceptedAt.Before(rec.AttemptedAt.Add(-attemptSkew)) {
		h.deps.Log.WarnContext(ctx, "SES's event answers an earlier send attempt than the one recorded; the lock stays outcome-unknown",
			slog.String("mailId", mailID), slog.String("sesMessageId", sesMessageID),
			slog.Time("acceptedAt", acceptedAt), slog.Time("attemptedAt", rec.AttemptedAt))
		return false, nil
	}
	_, err = h.deps.Locks.ResolveSent(ctx, lock.ResolveParams{
		MailID: mailID, SESMessageID: sesMessageID, Now: now, ExpiresAt: rec.ExpiresAt,
	})
	if lock.AsCondition(err) != nil {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("recordevent: resolving the lock of %s: %w", mailID, err)
	}
	h.deps.Log.InfoContext(ctx, "outcome-unknown mail resolved as sent by SES's event",
		slog.String("mailId", mailID), slog.String("sesMessageId", sesMessageID))
	return true, nil
}
