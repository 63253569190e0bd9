// Package sessim is an SES simulator for the local runtime, its tests and
// benchmarks: a sender.Sender that enforces an account's sending limits in
// front of a real delivery (the outbox or an SMTP relay) and fails the way
// SES v2 SendEmail fails, with SES's texts.
//
// Rules, following SES's account model:
//   - Every recipient (To, Cc and Bcc) counts as one message against both the
//     send rate and the 24-hour quota.
//   - The rate is a token bucket of MaxSendRate tokens per second holding at
//     most one second's worth (at least one message); a send that finds too
//     few tokens fails with "Maximum sending rate exceeded." (Mail.Throttled).
//     A single send with more recipients than the bucket holds is allowed
//     when the bucket is full, and empties it.
//   - Max24HourSend counts recipients over a sliding 24 hours; beyond it a
//     send fails with "Daily message quota exceeded." (Mail.QuotaExhausted).
//   - A paused account fails every send (Mail.SendingPaused).
//   - With VerifiedIdentities set, a From whose address or domain is not
//     listed is rejected as SES rejects unverified identities (Mail.Rejected).
//
// Zero limits mean unlimited. Inject makes the next send fail with a chosen
// error class, for tests.
//
// Event publishing: with Config.Events set, every accepted send publishes
// the records SES publishes for a configuration set (feedback/sesevent):
// the Send event at once, then, EventDelay later on the simulator's clock,
// each recipient's outcome in envelope order (To, Cc, Bcc). Ordinary
// addresses and the mailbox simulator's success@ and ooto@ are delivered;
// bounce@ bounces permanently (General, 550 5.1.1); suppressionlist@
// bounces permanently (OnAccountSuppressionList); complaint@ is delivered
// and then complained about (feedback type abuse). A "+label" on a
// simulator address is kept in the events and ignored for its meaning.
// Refused sends publish nothing, as on SES. Mail to the simulator's
// addresses is still handed to the wrapped sender, so that the outbox
// shows everything SES accepted. As on SES, the simulator's addresses do
// not count against the send rate or the 24-hour quota.
//
// Relay (Config.Relay, `mailflow dev --smtp`): the wrapped sender is the
// recipients' mail server, so acceptance and delivery part as on SES.
// Send admits the mail, publishes the Send event and returns an SES
// message id at once; the delivery then runs in the background, one
// recipient at a time (one SMTP transaction each, so that each recipient's
// answer is its own), and the server's answer decides the events: a 2xx
// is a Delivery; a 5xx a Permanent bounce (bounceSubType General,
// diagnosticCode "smtp; <code> <text>"); a 4xx or a failed connection is
// retried RelayAttempts times in all, waiting RelayBackoff, then twice as
// long each time, on the simulator's clock, with one DeliveryDelay event
// after the first failure and a Transient bounce when the tries run out.
// The mailbox simulator's addresses get their simulated outcomes and are
// not relayed: SES answers them itself. A mail without a Message-ID header
// gets "<id@email.amazonses.com>", so that every recipient's copy carries
// the same one.
//
// Close: outcomes still pending when the simulator is closed (a delayed
// outcome, a relay retry) are dropped and counted in Stats.DroppedOutcomes,
// not delivered at once: the sink is the events queue, which the runtime
// closes right after, and SES itself publishes to EventBridge on a best
// effort basis. The Send event of such a mail was already published. Close
// returns once no goroutine of the simulator calls the sink or the wrapped
// sender any more; a send after Close is refused as Mail.Transient.
package sessim

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/workflow"
)

// SES's answers, as its API words them.
const (
	TextThrottled = "Maximum sending rate exceeded."
	TextQuota     = "Daily message quota exceeded."
	TextPaused    = "Sending is paused for this account. For more information, please check the AWS Service Health Dashboard."
	TextTransient = "Service Unavailable"
)

// Config is the simulated account.
type Config struct {
	MaxSendRate        float64 // messages (recipients) per second; 0 = unlimited
	Max24HourSend      int     // recipients per sliding 24 hours; 0 = unlimited
	VerifiedIdentities []string
	Region             string      // named in rejection texts; default us-east-1
	Clock              clock.Clock // default clock.Wall
	// Events, when set, receives the SES event records of every accepted
	// send (see the package doc). It is called from the sending goroutine
	// for the Send event and, with EventDelay > 0, from a timer goroutine
	// for the outcomes, so it must be safe for concurrent use.
	Events func(sesevent.Event)
	// EventDelay is how long after the send the outcomes follow; 0 means
	// at once, within Send (in relay mode: in the background, at once).
	EventDelay time.Duration
	// Relay says the wrapped sender is the recipients' mail server (SMTP):
	// delivery happens after Send returns, and its answers decide the
	// outcomes (see the package doc).
	Relay bool
	// RelayAttempts is how often a recipient whose server answers 4xx is
	// tried in all (default 4); RelayBackoff the first wait between tries,
	// doubled after each (default 30 s).
	RelayAttempts int
	RelayBackoff  time.Duration
}

// Quota is what SES GetAccount reports as SendQuota.
type Quota struct {
	MaxSendRate     float64
	Max24HourSend   float64 // -1 for unlimited, as SES reports it
	SentLast24Hours float64
}

// Stats counts what the simulator answered.
type Stats struct {
	Accepted, Throttled, QuotaExceeded, Paused, Rejected, Injected int
	// DroppedOutcomes counts the recipients whose outcome was still
	// pending at Close.
	DroppedOutcomes int
}

// Simulator wraps a delivery sender with SES's limits.
type Simulator struct {
	next sender.Sender
	cfg  Config

	mu       sync.Mutex
	tokens   float64
	refilled time.Time
	sent     []sentAt // recipients sent, oldest first, within 24 h
	paused   bool
	inject   []workflow.ErrorName
	stats    Stats
	closed   bool

	// done ends the background work (delayed outcomes, relay deliveries);
	// work counts it, so that Close can wait for it.
	done   context.Context
	cancel context.CancelFunc
	work   sync.WaitGroup
}

type sentAt struct {
	at time.Time
	n  int
}

var _ sender.Sender = (*Simulator)(nil)

// New returns a simulator delivering through next.
func New(next sender.Sender, cfg Config) (*Simulator, error) {
	if next == nil {
		return nil, fmt.Errorf("sessim: a delivery sender is required")
	}
	if cfg.MaxSendRate < 0 || cfg.Max24HourSend < 0 {
		return nil, fmt.Errorf("sessim: limits must not be negative (rate %v, quota %d)", cfg.MaxSendRate, cfg.Max24HourSend)
	}
	if cfg.EventDelay < 0 {
		return nil, fmt.Errorf("sessim: EventDelay must not be negative, got %v", cfg.EventDelay)
	}
	if cfg.RelayAttempts < 0 || cfg.RelayAttempts > 20 || cfg.RelayBackoff < 0 {
		return nil, fmt.Errorf("sessim: RelayAttempts must be within 0..20 and RelayBackoff not negative, got %d and %v", cfg.RelayAttempts, cfg.RelayBackoff)
	}
	if cfg.RelayAttempts == 0 {
		cfg.RelayAttempts = defaultRelayAttempts
	}
	if cfg.RelayBackoff == 0 {
		cfg.RelayBackoff = defaultRelayBackoff
	}
	cfg.Clock = clock.Or(cfg.Clock)
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	s := &Simulator{next: next, cfg: cfg}
	s.done, s.cancel = context.WithCancel(context.Background())
	s.tokens = s.capacity()
	s.refilled = cfg.Clock.Now()
	return s, nil
}

const (
	defaultRelayAttempts = 4
	defaultRelayBackoff  = 30 * time.Second
)

// Close stops the background work: pending outcomes are dropped (see the
// package doc). It returns once none of it runs any more.
func (s *Simulator) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.work.Wait()
	return nil
}

// background runs fn as background work unless the simulator is closed.
func (s *Simulator) background(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		fn()
	}()
	return true
}

func (s *Simulator) dropped(n int) {
	s.mu.Lock()
	s.stats.DroppedOutcomes += n
	s.mu.Unlock()
}

// counted is how many recipients of m count against the rate and the
// quota: SES does not count the mailbox simulator's addresses.
func counted(m *sender.Message) int {
	n := 0
	for _, list := range [][]string{m.To, m.Cc, m.Bcc} {
		for _, r := range list {
			if simulatorKind(bareAddress(r)) == "" {
				n++
			}
		}
	}
	return n
}

func (s *Simulator) capacity() float64 { return max(1, s.cfg.MaxSendRate) }

// Pause stops or resumes sending, as an account-level pause does.
func (s *Simulator) Pause(paused bool) {
	s.mu.Lock()
	s.paused = paused
	s.mu.Unlock()
}

// Inject makes the next send fail with the error class name (one of
// sender.Names), once per call.
func (s *Simulator) Inject(name workflow.ErrorName) {
	s.mu.Lock()
	s.inject = append(s.inject, name)
	s.mu.Unlock()
}

// Quota reports the account's sending quota as GetAccount does.
func (s *Simulator) Quota() Quota {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := Quota{MaxSendRate: s.cfg.MaxSendRate, Max24HourSend: -1, SentLast24Hours: float64(s.sentLast24(s.cfg.Clock.Now()))}
	if s.cfg.Max24HourSend > 0 {
		q.Max24HourSend = float64(s.cfg.Max24HourSend)
	}
	return q
}

// Stats reports counts of answers so far.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Simulator) sentLast24(now time.Time) int {
	cut := now.Add(-24 * time.Hour)
	i := 0
	for i < len(s.sent) && !s.sent[i].at.After(cut) {
		i++
	}
	s.sent = s.sent[i:]
	n := 0
	for _, e := range s.sent {
		n += e.n
	}
	return n
}

// admit applies the limits and, when the send may go, takes its share.
// tagText is what SES takes in a message tag's name and value.
var tagText = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// checkTags refuses tags SES refuses, with its words.
func checkTags(tags []workflow.Tag) error {
	for _, t := range tags {
		if !tagText.MatchString(t.Name) {
			return workflow.Errorf(workflow.Rejected, "BadRequestException: Invalid tag name <%s>: only alphanumeric ASCII characters, '_', and '-' are allowed.", t.Name)
		}
		if !tagText.MatchString(t.Value) {
			return workflow.Errorf(workflow.Rejected, "BadRequestException: Invalid tag value <%s>: only alphanumeric ASCII characters, '_', and '-' are allowed.", t.Value)
		}
	}
	return nil
}

func (s *Simulator) admit(m *sender.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.inject) > 0 {
		name := s.inject[0]
		s.inject = s.inject[1:]
		s.stats.Injected++
		return injected(name)
	}
	if s.closed {
		return workflow.Errorf(workflow.Transient, "InternalFailure: %s", TextTransient)
	}
	if s.paused {
		s.stats.Paused++
		return workflow.Errorf(workflow.SendingPaused, "SendingPausedException: %s", TextPaused)
	}
	if err := checkTags(m.Tags); err != nil {
		s.stats.Rejected++
		return err
	}
	if len(s.cfg.VerifiedIdentities) > 0 && !s.verified(m.From) {
		s.stats.Rejected++
		return workflow.Errorf(workflow.Rejected, "MessageRejected: Email address is not verified. The following identities failed the check in region %s: %s",
			strings.ToUpper(s.cfg.Region), m.From)
	}
	now := s.cfg.Clock.Now()
	n := counted(m)
	if n == 0 {
		return nil
	}
	if s.cfg.Max24HourSend > 0 && s.sentLast24(now)+n > s.cfg.Max24HourSend {
		s.stats.QuotaExceeded++
		return workflow.Errorf(workflow.QuotaExhausted, "LimitExceededException: %s", TextQuota)
	}
	if s.cfg.MaxSendRate > 0 {
		s.tokens = min(s.capacity(), s.tokens+now.Sub(s.refilled).Seconds()*s.cfg.MaxSendRate)
		s.refilled = now
		cost := min(float64(n), s.capacity())
		if s.tokens < cost {
			s.stats.Throttled++
			return workflow.Errorf(workflow.Throttled, "TooManyRequestsException: %s", TextThrottled)
		}
		s.tokens -= cost
	}
	s.sent = append(s.sent, sentAt{at: now, n: n})
	return nil
}

// refund gives back what a send took when delivery failed after admission.
func (s *Simulator) refund(m *sender.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := counted(m)
	if n == 0 {
		return
	}
	if len(s.sent) > 0 && s.sent[len(s.sent)-1].n == n {
		s.sent = s.sent[:len(s.sent)-1]
	}
	if s.cfg.MaxSendRate > 0 {
		s.tokens = min(s.capacity(), s.tokens+min(float64(n), s.capacity()))
	}
}

func (s *Simulator) verified(from string) bool {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return false
	}
	addr := strings.ToLower(a.Address)
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	return slices.ContainsFunc(s.cfg.VerifiedIdentities, func(id string) bool {
		id = strings.ToLower(id)
		return id == addr || id == domain
	})
}

func injected(name workflow.ErrorName) error {
	switch name {
	case workflow.Throttled:
		return workflow.Errorf(name, "TooManyRequestsException: %s", TextThrottled)
	case workflow.QuotaExhausted:
		return workflow.Errorf(name, "LimitExceededException: %s", TextQuota)
	case workflow.SendingPaused:
		return workflow.Errorf(name, "SendingPausedException: %s", TextPaused)
	case workflow.Rejected:
		return workflow.Errorf(name, "MessageRejected: Email address is not verified.")
	default:
		return workflow.Errorf(workflow.Transient, "InternalFailure: %s", TextTransient)
	}
}

// Send applies SES's limits, then delivers through the wrapped sender.
func (s *Simulator) Send(ctx context.Context, m *sender.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", sender.NotAccepted(workflow.Wrap(workflow.Transient, err))
	}
	sentAt := s.cfg.Clock.Now()
	if err := s.admit(m); err != nil {
		// SES answered: the mail was refused.
		return "", sender.NotAccepted(err)
	}
	if s.cfg.Relay {
		return s.accept(m, sentAt)
	}
	id, err := s.next.Send(ctx, m)
	if err != nil {
		s.refund(m)
		return "", err
	}
	s.mu.Lock()
	s.stats.Accepted++
	s.mu.Unlock()
	if s.cfg.Events != nil {
		s.publish(m, id, sentAt)
	}
	return id, nil
}
