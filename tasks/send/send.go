// Package send is the Send task: it sends the staged MIME message through
// the sender port (SES v2 on AWS) and marks the dedup lock SENT with the
// service's message id.
//
// Pacing: with a Pacer in Deps the task takes one token per recipient just
// before calling SES; without one it raises Mail.Throttled and sends
// nothing, and the state machine's Retry on Mail.Throttled (backoff, full
// jitter) tries again later. The pacer is told how many attempts came
// before this one, so a send refused before may wait longer for its token
// even when its retry runs on another Lambda instance: that count is the
// state's retry count (Step Functions' $$.State.RetryCount, passed as
// retryCount), not a lock write. A send the pacer refuses writes nothing on
// the lock: it is not recorded as attempted, and not counted in
// lock.Record.Renewals, which counts the attempts that reached SES's door.
//
// A batch's tokens may be reserved together before its records run
// (ReserveSends, pacer.Reserve): the input's pacing carries the batch's
// grants and index this record's place in it. A first attempt with a grant
// waits for it and writes nothing to the pacer; a grant gone stale (used
// later than pacer.Grace after it), a retry, or no grant takes its own
// tokens. A pacing that does not fit its index (no grant there) is read as
// no grant and logged: the send is paced either way.
//
// Input: {"messageId", "body", "mailId", "owner", "retryCount", "staged":
// {...}, "pacing": {"grants": [...]}, "index"}, where staged is FetchAttachments' result whole: {"key", "size",
// "sha256"} for a staged message or {"inline" (standard base64 of the raw
// MIME), "size", "sha256"} for one carried inline; output:
// {"sesMessageId", "outcome": "sent" | "already-sent"} (already-sent: another
// execution sent it, and its SES message id is given). retryCount is optional (0) and must lie in [0,
// MaxRetryCount]. Errors: Mail.Throttled,
// Mail.QuotaExhausted, Mail.SendingPaused, Mail.Rejected, Mail.Transient,
// Mail.InvalidMessage (an input that breaks the contract), Mail.LockBusy
// (another attempt holds the lease; nothing is sent),
// Mail.IdempotencyConflict (the mailId was taken for other content since
// AcquireLock read the lock), Mail.OutcomeUnknown (a send started and its
// answer is not known).
//
// Idempotency across retries of this task: just before calling SES (after
// the pacer gave its tokens) the handler makes one conditional write
// (lock.Table.StartAttempt with the lease and the content hash) that takes
// the dedup lock (AcquireLock only read it) or renews this owner's lease,
// and records on the lock that a send is starting. If the record is
// already SENT (by this owner, or by another attempt), it returns the
// stored SES message id and sends nothing. If another attempt holds the
// lease, it fails with Mail.LockBusy and sends nothing.
// If the write's answer is lost, the mark is read back and taken back (SES
// was not called). So a successful send costs two lock-table writes here:
// this one and the SENT mark. Then:
//   - SES accepts: the SENT mark with the SES message id is written, tried
//     MarkSentAttempts times with backoff inside this step. If it never
//     lands, the task still succeeds (the mail did go out) and the record
//     stays outcome-unknown: any later attempt is dead-lettered, not sent.
//   - SES refuses (sender.Refused: an answer, or a request that never left):
//     the attempt is cleared and the error is returned as before, so
//     throttling and transient refusals are retried normally.
//   - No answer (a lost connection, a timeout after the request left): the
//     mail may have gone out. The attempt stays recorded and the task fails
//     with Mail.OutcomeUnknown, which the state machine dead-letters with
//     the attempt's time; only an operator's replay --force sends again.
//   - The process dies anywhere after the attempt is recorded: every later
//     attempt (a Lambda retry with this owner, a redelivery, a producer's
//     resend, a restart) finds the outcome-unknown record and fails with
//     Mail.OutcomeUnknown instead of sending.
//
// So no path sends a mail twice on its own. What remains is the window
// between SES answering and the SENT mark landing: a crash there leaves a
// sent mail in the dead-letter queue as Mail.OutcomeUnknown (never a
// second copy), and a duplicate only follows if an operator forces it.
// SES has no idempotency token, so this is as far as any design on top of
// it can go.
//
// Every mail carries the SES message tag sesevent.MailIDTag with its
// mailId after the producer's tags (which may not use that name), so each
// SES event can be traced back to the mail.
//
// The staged object is read whole into memory (SES v2 takes raw content
// inline), after checking its key lies under the staging prefix, and its
// size and SHA-256 are verified against the input. A missing or altered
// staged object is Mail.Transient: the message is rebuilt on redelivery.
// An inline message is decoded and verified the same way; one that does
// not decode or match is Mail.InvalidMessage (the input itself is wrong,
// and a retry would carry the same input). Both forms at once, or neither,
// is Mail.InvalidMessage naming staged.key / staged.inline.
package send

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/tasks/internal/mailmime"
	"github.com/mailflow/mailflow/workflow"
)

// Staged names the built message (FetchAttachments' output).
type Staged struct {
	Key    string `json:"key,omitempty"`
	Inline string `json:"inline,omitempty"` // standard base64 of the raw message
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// In is the task input.
type In struct {
	MessageID string `json:"messageId"`
	Body      string `json:"body"`
	MailID    string `json:"mailId"`
	Owner     string `json:"owner"`
	// RetryCount is how many times the state machine retried this task
	// for this mail before ($$.State.RetryCount): the pacer's count of
	// earlier attempts.
	RetryCount int    `json:"retryCount"`
	Staged     Staged `json:"staged"`
	// Pacing is the batch's reservation and Index this record's place in
	// it (both optional).
	Pacing Pacing `json:"pacing"`
	Index  int    `json:"index"`
}

// Pacing is ReserveSends' answer for the batch: one grant per record, the
// Unix microseconds from which its send may go, 0 for none.
type Pacing struct {
	Grants []int64 `json:"grants,omitempty"`
}

// grant is the record's reserved time, zero for none; ok is false when
// the pacing does not fit the index.
func (in In) grant() (at time.Time, ok bool) {
	if len(in.Pacing.Grants) == 0 {
		return time.Time{}, true
	}
	if in.Index < 0 || in.Index >= len(in.Pacing.Grants) || in.Pacing.Grants[in.Index] < 0 {
		return time.Time{}, false
	}
	if us := in.Pacing.Grants[in.Index]; us > 0 {
		return time.UnixMicro(us), true
	}
	return time.Time{}, true
}

// MaxRetryCount bounds In.RetryCount: far above any Retry the state
// machine declares, so a larger value is a broken input.
const MaxRetryCount = 1000

// Out is the task output.
type Out struct {
	SESMessageID string `json:"sesMessageId"`
	// Outcome is the item's: "sent", or "already-sent" when another
	// execution sent the mail (its SES message id is SESMessageID).
	Outcome string `json:"outcome"`
}

// Outcomes of a successful send, spelled as the item outcomes they are.
const (
	Sent        = string(workflow.OutcomeSent)
	AlreadySent = string(workflow.OutcomeAlreadySent)
)

// Config is the task configuration.
type Config struct {
	Limits        workflow.Limits
	StagingPrefix string
	Lease         time.Duration
	Retention     time.Duration
	MaxBytes      int64  // 0 = 40 MB
	ConfigSet     string // default SES configuration set; a message's own wins
}

// ConfigFromEnv reads ATTACHMENT_PREFIX, ALLOWED_SENDERS, DEFAULT_SENDER,
// MAX_BODY_BYTES, STAGING_PREFIX, LOCK_LEASE, LOCK_RETENTION,
// MAX_MESSAGE_BYTES and SES_CONFIGURATION_SET.
func ConfigFromEnv(env taskkit.Env) (Config, error) {
	var p taskkit.Problems
	c := Config{
		Limits:        taskkit.Limits(env, &p),
		StagingPrefix: taskkit.Prefix(env, &p, taskkit.EnvStagingPrefix),
		Lease:         taskkit.Duration(env, &p, taskkit.EnvLease, taskkit.DefaultLease, taskkit.MinLease),
		Retention:     taskkit.Duration(env, &p, taskkit.EnvRetention, taskkit.DefaultRetention, taskkit.MinRetention),
		MaxBytes:      taskkit.Int(env, &p, taskkit.EnvMaxMessageBytes, mailmime.DefaultMaxBytes, mailmime.DefaultMaxBytes),
		ConfigSet:     strings.TrimSpace(env(taskkit.EnvConfigurationSet)),
	}
	if c.ConfigSet != "" && !configSetPattern.MatchString(c.ConfigSet) {
		p.Add(taskkit.EnvConfigurationSet, "%q must be 1-64 characters of A-Z a-z 0-9 _ -", c.ConfigSet)
	}
	return c, p.Err()
}

var (
	configSetPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	sha256Pattern    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Deps are the ports the handler uses.
type Deps struct {
	Locks  lock.Table
	Store  store.Store
	Sender sender.Sender
	// Pacer, when set, is taken before every SES call (one token per
	// recipient); its Mail.Throttled, Mail.QuotaExhausted or
	// Mail.Transient fails the task without sending. Nil: no pacing.
	Pacer Pacer
	Clock clock.Clock // nil: clock.Wall
	Log   *slog.Logger
	// MarkSentAttempts is how often mark-sent is tried after SES accepted
	// (default 5), with MarkSentBackoff between tries (default 100ms,
	// doubling: 1.5 s in all). Clearing a refused attempt is tried as
	// often.
	MarkSentAttempts int
	MarkSentBackoff  time.Duration
}

// Pacer paces sends to the SES quota across every concurrent Send (see
// package pacer).
type Pacer interface {
	// TakeReserved takes the tokens for one send, or uses those reserved
	// for it at grant (zero: none); key names the send across its retries
	// (the lock owner) and earlier counts its earlier attempts, so a send
	// tried before may wait longer.
	TakeReserved(ctx context.Context, grant time.Time, recipients int, key string, earlier int) error
}

// Handler is the Send task.
type Handler struct {
	cfg  Config
	deps Deps
}

// New checks the configuration and returns the handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(cfg.StagingPrefix, "/") {
		return nil, fmt.Errorf("send: staging prefix %q must end with /", cfg.StagingPrefix)
	}
	if cfg.Lease < taskkit.MinLease || cfg.Retention < taskkit.MinRetention {
		return nil, fmt.Errorf("send: lease %s or retention %s below the minimum (%s, %s)", cfg.Lease, cfg.Retention, taskkit.MinLease, taskkit.MinRetention)
	}
	if cfg.MaxBytes <= 0 || cfg.MaxBytes > mailmime.DefaultMaxBytes {
		cfg.MaxBytes = mailmime.DefaultMaxBytes
	}
	if deps.Locks == nil || deps.Store == nil || deps.Sender == nil {
		return nil, errors.New("send: the lock table, store and sender are required")
	}
	deps.Clock = clock.Or(deps.Clock)
	if deps.MarkSentAttempts <= 0 {
		deps.MarkSentAttempts = 5
	}
	if deps.MarkSentBackoff <= 0 {
		deps.MarkSentBackoff = 100 * time.Millisecond
	}
	return &Handler{cfg: cfg, deps: deps}, nil
}

// Handle runs the task.
func (h *Handler) Handle(ctx context.Context, in In) (out Out, err error) {
	log := taskkit.Logger(ctx, h.deps.Log, "Send", in.MessageID, in.Owner, in.MailID)
	defer func() {
		attrs := []any{slog.String("sesMessageId", out.SESMessageID)}
		if out.Outcome == AlreadySent {
			attrs = append(attrs, slog.String("outcome", out.Outcome))
		}
		taskkit.LogResult(log, err, attrs...)
	}()

	if err := taskkit.CheckOwner(in.Owner); err != nil {
		return Out{}, err
	}
	if err := h.checkStaged(in.Staged); err != nil {
		return Out{}, err
	}
	m, err := workflow.Parse([]byte(in.Body), h.cfg.Limits)
	if err != nil {
		return Out{}, workflow.Wrap(workflow.InvalidMessage, err)
	}
	if m.MailID != in.MailID {
		return Out{}, workflow.Errorf(workflow.InvalidMessage, "mailId: the body says %q, the lock says %q", m.MailID, in.MailID)
	}

	if in.RetryCount < 0 || in.RetryCount > MaxRetryCount {
		return Out{}, workflow.Errorf(workflow.InvalidMessage, "retryCount: %d is outside [0, %d]", in.RetryCount, MaxRetryCount)
	}

	raw, err := h.readStaged(ctx, in.Staged)
	if err != nil {
		return Out{}, err
	}
	from, err := workflow.EnvelopeAddress(m.Sender(h.cfg.Limits))
	if err != nil {
		return Out{}, workflow.Errorf(workflow.InvalidMessage, "from: %v", err)
	}
	// The envelope takes each address with its domain in A-labels, as SES
	// requires (it has no SMTPUTF8).
	var env [3][]string
	for i, list := range [][]string{m.To, m.Cc, m.Bcc} {
		for _, a := range list {
			e, err := workflow.EnvelopeAddress(a)
			if err != nil {
				return Out{}, workflow.Errorf(workflow.InvalidMessage, "recipient %q: %v", a, err)
			}
			env[i] = append(env[i], e)
		}
	}
	msg := &sender.Message{
		// Lower case: the deployment's ses:FromAddress condition compares
		// case-sensitively against lower-cased identities, and SES treats
		// addresses case-insensitively.
		From: strings.ToLower(from), To: env[0], Cc: env[1], Bcc: env[2], Raw: raw,
		ConfigurationSet: m.ConfigurationSet, Tags: tagsOf(&m),
	}
	if msg.ConfigurationSet == "" {
		msg.ConfigurationSet = h.cfg.ConfigSet
	}
	if h.deps.Pacer != nil {
		// The state's retries are the earlier attempts, whichever
		// instance made them. Nothing is written on the lock yet, so a
		// refusal here leaves the mail as it was.
		grant, ok := in.grant()
		if !ok {
			log.Warn("the pacing does not fit the record's index: its own tokens are taken",
				slog.Int("index", in.Index), slog.Int("grants", len(in.Pacing.Grants)))
		}
		if err := h.deps.Pacer.TakeReserved(ctx, grant, len(msg.To)+len(msg.Cc)+len(msg.Bcc), in.Owner, in.RetryCount); err != nil {
			if workflow.NameOf(err) == "" {
				err = workflow.Wrap(workflow.Transient, err)
			}
			return Out{}, err
		}
	}
	// One write: take the lock (or renew this owner's lease) and record the
	// attempt, or learn that the mail is already sent, outcome-unknown,
	// held by another attempt, or taken for other content.
	now := h.deps.Clock.Now()
	hash := taskkit.ContentHash(&m)
	attempt, err := h.deps.Locks.StartAttempt(ctx, lock.AttemptParams{
		MailID: m.MailID, Owner: in.Owner, Now: now, ContentHash: hash,
		LeaseUntil: now.Add(h.cfg.Lease), ExpiresAt: now.Add(h.cfg.Lease + h.cfg.Retention),
	})
	if err != nil {
		if lock.AsCondition(err) == nil {
			// The write may have landed with its answer lost; SES was not
			// called, so take the mark back if it is there.
			h.clearAttempt(ctx, log, m.MailID, in.Owner, lock.Record{})
		}
		return h.lockRefused(log, "recording the send attempt", m.MailID, in.Owner, hash, err)
	}
	id, err := h.deps.Sender.Send(ctx, msg)
	if err != nil {
		if workflow.NameOf(err) == "" {
			err = workflow.Wrap(workflow.Transient, err)
		}
		if !sender.Refused(err) {
			log.Error("the send got no answer: the mail may have been sent; it is dead-lettered as outcome-unknown, not sent again",
				slog.String("cause", err.Error()))
			return Out{}, taskkit.OutcomeUnknownError(attempt, err)
		}
		h.clearAttempt(ctx, log, m.MailID, in.Owner, attempt)
		return Out{}, err
	}
	// The result line adds sesMessageId itself; only markSent's own lines
	// need it here.
	h.markSent(ctx, log.With(slog.String("sesMessageId", id)), m.MailID, in.Owner, id)
	return Out{SESMessageID: id, Outcome: Sent}, nil
}

// lockRefused turns a failed lock write before the send into the task's
// answer: already sent, outcome unknown, busy, or transient.
func (h *Handler) lockRefused(log *slog.Logger, what, mailID, owner, hash string, err error) (Out, error) {
	ce := lock.AsCondition(err)
	switch {
	case ce == nil:
		return Out{}, workflow.Errorf(workflow.Transient, "%s: %w", what, err)
	case ce.Current != nil && ce.Current.Live(h.deps.Clock.Now()) && ce.Current.ContentHash != hash:
		// Another mail with this mailId took the lock since AcquireLock
		// read it.
		return Out{}, workflow.Errorf(workflow.IdempotencyConflict,
			"mailId %q was already used for other content (%s, status %s)", mailID, ce.Current.ContentHash, ce.Current.Status)
	case ce.Current != nil && ce.Current.Status == lock.Sent:
		if ce.Current.Owner != owner {
			log.Info("already sent by another attempt; not sending", slog.String("sentBy", ce.Current.Owner))
			return Out{SESMessageID: ce.Current.SESMessageID, Outcome: AlreadySent}, nil
		}
		return Out{SESMessageID: ce.Current.SESMessageID, Outcome: Sent}, nil
	case ce.Current != nil && ce.Current.OutcomeUnknown() && (ce.Current.Owner == owner || !ce.Current.LeaseLive(h.deps.Clock.Now())):
		// This owner's earlier try (a retried task), or an abandoned one.
		return Out{}, taskkit.OutcomeUnknownError(*ce.Current, nil)
	case ce.Current == nil || !ce.Current.Live(h.deps.Clock.Now()):
		// The record vanished or expired between the write and the read
		// of it: nothing was written, nothing sent.
		return Out{}, workflow.Errorf(workflow.Transient, "the lock for %q changed while it was taken; try again", mailID)
	default:
		return Out{}, workflow.Errorf(workflow.LockBusy, "the lease for %q was lost to %s; not sending", mailID, ce.Current.Owner)
	}
}

// clearAttempt takes back the attempt mark after SES refused the mail (or
// was never called), retrying briefly. attempt is the record StartAttempt
// returned; a zero record means its answer was lost, and the mark is read
// back first. Failing leaves the mail outcome-unknown: safe, never a
// duplicate.
func (h *Handler) clearAttempt(ctx context.Context, log *slog.Logger, mailID, owner string, attempt lock.Record) {
	err := h.retryWrite(ctx, func(ctx context.Context) (bool, error) {
		at := attempt.AttemptedAt
		if at.IsZero() {
			rec, ok, err := h.deps.Locks.Get(ctx, mailID)
			if err != nil {
				return false, err
			}
			if !ok || rec.Owner != owner || !rec.OutcomeUnknown() {
				return true, nil // no mark of ours to take back
			}
			at = rec.AttemptedAt
		}
		_, err := h.deps.Locks.ClearAttempt(ctx, lock.ClearAttemptParams{MailID: mailID, Owner: owner, AttemptedAt: at})
		return err == nil || lock.AsCondition(err) != nil, err
	})
	if err != nil {
		log.Error("SES did not take the mail, but its send attempt could not be cleared: it will be dead-lettered as outcome-unknown",
			slog.String("cause", err.Error()))
	}
}

// markSent records the send, retrying briefly; it never fails the task.
func (h *Handler) markSent(ctx context.Context, log *slog.Logger, mailID, owner, id string) {
	err := h.retryWrite(ctx, func(ctx context.Context) (bool, error) {
		now := h.deps.Clock.Now()
		_, err := h.deps.Locks.MarkSent(ctx, lock.MarkSentParams{
			MailID: mailID, Owner: owner, SESMessageID: id, Now: now, ExpiresAt: now.Add(h.cfg.Retention),
		})
		if lock.AsCondition(err) != nil {
			log.Error("sent, but the lock changed before it was marked", slog.String("cause", err.Error()))
			return true, nil
		}
		return err == nil, err
	})
	if err != nil {
		log.Error("sent, but marking the lock SENT failed: the record stays outcome-unknown, so a later attempt is dead-lettered, not sent again",
			slog.String("cause", err.Error()))
	}
}

// retryWrite runs write until it reports done, at most MarkSentAttempts
// times with a doubling MarkSentBackoff between tries, and returns the last
// error when it never was. The writes run on a context detached from the
// invocation's: whether SES took the mail or not, recording it must finish
// even if the invocation is canceled now.
func (h *Handler) retryWrite(ctx context.Context, write func(context.Context) (done bool, err error)) error {
	ctx = context.WithoutCancel(ctx)
	backoff := h.deps.MarkSentBackoff
	for try := 1; ; try++ {
		done, err := write(ctx)
		if done {
			return nil
		}
		if try >= h.deps.MarkSentAttempts {
			return err
		}
		_ = h.deps.Clock.Sleep(ctx, backoff) // ctx never ends: it is detached above
		backoff *= 2
	}
}

func (h *Handler) checkStaged(s Staged) error {
	switch {
	case s.Key != "" && s.Inline != "":
		return workflow.Errorf(workflow.InvalidMessage, "staged: both staged.key and staged.inline are set")
	case s.Key == "" && s.Inline == "":
		return workflow.Errorf(workflow.InvalidMessage, "staged: neither staged.key nor staged.inline is set")
	case s.Inline != "" && int64(base64.StdEncoding.DecodedLen(len(s.Inline))) > h.cfg.MaxBytes+2:
		return workflow.Errorf(workflow.InvalidMessage, "staged.inline: %d characters is more than a %d-byte message", len(s.Inline), h.cfg.MaxBytes)
	case s.Inline == "" && !store.HasPrefix(s.Key, h.cfg.StagingPrefix):
		return workflow.Errorf(workflow.InvalidMessage, "staged.key: %q is not under the staging prefix %q", s.Key, h.cfg.StagingPrefix)
	case s.Size <= 0 || s.Size > h.cfg.MaxBytes:
		return workflow.Errorf(workflow.InvalidMessage, "staged.size: %d is not within 1..%d", s.Size, h.cfg.MaxBytes)
	case !sha256Pattern.MatchString(s.SHA256):
		return workflow.Errorf(workflow.InvalidMessage, "staged.sha256: not 64 lowercase hex digits")
	}
	return nil
}

// readStaged reads the staged message into one buffer of its exact size and
// verifies it.
func (h *Handler) readStaged(ctx context.Context, s Staged) ([]byte, error) {
	if s.Inline != "" {
		raw, err := base64.StdEncoding.DecodeString(s.Inline)
		switch {
		case err != nil:
			return nil, workflow.Errorf(workflow.InvalidMessage, "staged.inline: not standard base64: %v", err)
		case int64(len(raw)) != s.Size:
			return nil, workflow.Errorf(workflow.InvalidMessage, "staged.inline: %d bytes, staged.size says %d", len(raw), s.Size)
		}
		if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != s.SHA256 {
			return nil, workflow.Errorf(workflow.InvalidMessage, "staged.inline: does not match staged.sha256")
		}
		return raw, nil
	}
	rc, info, err := h.deps.Store.Open(ctx, s.Key)
	if err != nil {
		return nil, workflow.Errorf(workflow.Transient, "reading the staged message: %w", err)
	}
	defer rc.Close()
	if info.Size != s.Size {
		return nil, workflow.Errorf(workflow.Transient, "the staged message %q is %d bytes, expected %d", s.Key, info.Size, s.Size)
	}
	raw := make([]byte, s.Size)
	if _, err := io.ReadFull(rc, raw); err != nil {
		return nil, workflow.Errorf(workflow.Transient, "reading the staged message: %w", err)
	}
	if n, _ := rc.Read(make([]byte, 1)); n > 0 {
		return nil, workflow.Errorf(workflow.Transient, "the staged message %q is longer than %d bytes", s.Key, s.Size)
	}
	sum := sha256.Sum256(raw)
	if hex.EncodeToString(sum[:]) != s.SHA256 {
		return nil, workflow.Errorf(workflow.Transient, "the staged message %q does not match its SHA-256", s.Key)
	}
	return raw, nil
}

// tagsOf is the producer's tags and the mailId tag, in a new slice.
func tagsOf(m *workflow.Message) []workflow.Tag {
	return append(slices.Clone(m.Tags), workflow.Tag{Name: sesevent.MailIDTag, Value: sesevent.MailIDTagValue(m.MailID)})
}
