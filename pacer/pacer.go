// Package pacer paces SES sends across every concurrent Send task: one
// token bucket, shared through a small storage port, whose rate is the
// account's sending quota.
//
// Who uses it: tasks/send takes a token before each SES call (one token per
// recipient, as SES counts them) and, when none is available, fails with
// Mail.Throttled, so the state machine's declarative Retry (backoff, full
// jitter, capped) paces the execution instead of SES answering 429. The
// Lambda reads its settings from the environment (internal/taskkit); the
// local runtime uses the in-process bucket and the SES simulator's quota.
//
// Layout: the concrete [Pacer] on top owns the policy (rate source, quota
// checks, waiting); a [Bucket] below stores the shared state. Adapters:
// mempacer (in-process), sqlitepacer (one SQLite row, shared by processes
// on one machine) and dynamopacer (one DynamoDB item, shared by every
// Lambda instance). pacertest is the conformance suite each adapter runs.
//
// Decisions:
//   - The bucket is a GCRA (generic cell rate algorithm): its whole state is
//     one "theoretical arrival time" (TAT), which makes it a single number in
//     any store and lets DynamoDB update it with one conditional write and no
//     read-modify-write loop in the common, busy case. It is equivalent to a
//     token bucket of Burst tokens refilled at Rate per second.
//   - Rate and Burst travel with every Take, not in the stored state: when
//     the account's quota changes, the next Take uses it.
//   - Burst defaults to one second's worth of tokens (at least one), the
//     shape SES's own limiter has, so a paced burst never outruns SES.
//   - The rate comes from Config.Rate or, when that is zero, from SES
//     GetAccount (MaxSendRate), refreshed every Config.Refresh (default one
//     minute). Max24HourSend and SentLast24Hours are respected: a Take that
//     would exceed the daily quota fails with Mail.QuotaExhausted (the
//     state machine returns the mail to the queue for later) without
//     touching the bucket. Sends of this instance since the last refresh
//     are counted on top of SentLast24Hours.
//   - A Take may wait: when the bucket says the tokens will be there within
//     Config.MaxWait, the pacer reserves them and sleeps until then instead
//     of failing. This keeps a paced burst dense (no token is lost while
//     every execution backs off) at the price of holding the task that
//     long; beyond MaxWait it fails with Mail.Throttled. MaxWait 0 never
//     waits.
//   - A failure to reach the bucket, or to read the quota when the rate
//     comes from it and none was read yet, is Mail.Transient: never send
//     unpaced by accident. With a configured rate an unreadable quota only
//     skips the daily check until a later read succeeds. Switching pacing off is a
//     configuration choice (no pacer at all), not an error path.
package pacer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/mailflow/mailflow/workflow"
)

// Bucket is the shared state of one token bucket. Implementations are safe
// for concurrent use by many processes (each adapter says how) and never
// retry on their own beyond resolving their own write conflicts.
type Bucket interface {
	// Take takes p.Cost tokens if the bucket holds them at p.Now. When it
	// does not, nothing is taken and RetryAfter says how long until it will.
	// With p.Reserve > 0 a Take whose tokens are there within Reserve
	// succeeds now, with Wait set to how long the caller must wait before
	// using them.
	Take(ctx context.Context, p TakeParams) (TakeResult, error)
}

// TakeParams are the arguments of Bucket.Take.
type TakeParams struct {
	Cost    float64       // tokens to take, > 0 and ≤ Burst
	Rate    float64       // tokens added per second, > 0
	Burst   float64       // the most tokens the bucket holds, ≥ 1
	Now     time.Time     // the caller's clock
	Reserve time.Duration // accept tokens that arrive within this long
}

// Validate reports parameters a bucket must reject.
func (p TakeParams) Validate() error {
	switch {
	case !(p.Rate > 0) || math.IsInf(p.Rate, 0):
		return fmt.Errorf("pacer: rate %v must be positive", p.Rate)
	case !(p.Burst >= 1) || math.IsInf(p.Burst, 0):
		return fmt.Errorf("pacer: burst %v must be at least 1", p.Burst)
	case !(p.Cost > 0) || p.Cost > p.Burst:
		return fmt.Errorf("pacer: cost %v must be within (0, burst %v]", p.Cost, p.Burst)
	case p.Reserve < 0:
		return fmt.Errorf("pacer: negative reserve %s", p.Reserve)
	case p.Now.IsZero():
		return errors.New("pacer: zero time")
	}
	return nil
}

// TakeResult is the answer of Bucket.Take.
type TakeResult struct {
	OK bool
	// Wait (when OK) is how long until the reserved tokens may be used.
	Wait time.Duration
	// RetryAfter (when not OK) is how long until the tokens are there.
	RetryAfter time.Duration
}

// GCRA is the bucket's arithmetic, shared by the adapters: given the stored
// theoretical arrival time tat (Unix nanoseconds; 0 for a new bucket) it
// returns the TAT to store and the answer. When the answer is not OK, the
// state must stay unchanged.
func GCRA(tat int64, p TakeParams) (int64, TakeResult) {
	now := p.Now.UnixNano()
	cost, tau := Span(p)
	next := max(tat, now) + cost
	// The tokens are there once next-tau ≤ now.
	due := time.Duration(next - tau - now)
	if due <= 0 {
		return next, TakeResult{OK: true}
	}
	if due <= p.Reserve {
		return next, TakeResult{OK: true, Wait: due}
	}
	return tat, TakeResult{RetryAfter: due}
}

// Span returns, in nanoseconds, the time the take's tokens take to refill
// (its cost) and the time a full bucket takes to refill (tau).
func Span(p TakeParams) (cost, tau int64) {
	return int64(math.Ceil(p.Cost / p.Rate * 1e9)), int64(p.Burst / p.Rate * 1e9)
}

// Quota is an account's sending quota as SES GetAccount reports it.
type Quota struct {
	MaxSendRate     float64 // recipients per second
	Max24HourSend   float64 // recipients per rolling 24 hours; -1 = unlimited
	SentLast24Hours float64
}

// AccountFunc reads the account's quota (SES GetAccount).
type AccountFunc func(ctx context.Context) (Quota, error)

// Config sets up a Pacer.
type Config struct {
	// Rate in recipients per second; 0 takes MaxSendRate from Account.
	Rate float64
	// Burst in recipients; 0 is one second's worth (at least 1).
	Burst float64
	// Account reads the quota: the rate when Rate is 0, and the daily
	// quota either way. Optional when Rate is set.
	Account AccountFunc
	// Refresh is how often the quota is read again (default 1 minute).
	Refresh time.Duration
	// MaxWait is how long a Take may wait for tokens that are on their way
	// before it fails with Mail.Throttled (0: never wait).
	MaxWait time.Duration
	Now     func() time.Time                                 // default time.Now
	Sleep   func(ctx context.Context, d time.Duration) error // default a timer
}

// Pacer is the shared send pacer.
type Pacer struct {
	bucket Bucket
	cfg    Config

	mu        sync.Mutex
	quota     Quota
	readAt    time.Time
	haveQuota bool
	sentSince float64 // recipients this pacer let through since readAt
}

// New returns a pacer over bucket.
func New(bucket Bucket, cfg Config) (*Pacer, error) {
	if bucket == nil {
		return nil, errors.New("pacer: a bucket is required")
	}
	if cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Burst < 0 || math.IsNaN(cfg.Burst) {
		return nil, fmt.Errorf("pacer: rate %v and burst %v must not be negative", cfg.Rate, cfg.Burst)
	}
	if cfg.Rate == 0 && cfg.Account == nil {
		return nil, errors.New("pacer: either a rate or an account quota source is required")
	}
	if cfg.MaxWait < 0 || cfg.Refresh < 0 {
		return nil, errors.New("pacer: negative MaxWait or Refresh")
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return &Pacer{bucket: bucket, cfg: cfg}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limits returns the rate and the daily headroom to use now, reading the
// quota when it is due.
func (p *Pacer) limits(ctx context.Context, now time.Time) (rate float64, q Quota, sent float64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Account != nil && (p.readAt.IsZero() || now.Sub(p.readAt) >= p.cfg.Refresh) {
		fresh, err := p.cfg.Account(ctx)
		switch {
		case err == nil && p.cfg.Rate == 0 && !(fresh.MaxSendRate > 0):
			err = fmt.Errorf("the account reports a send rate of %v", fresh.MaxSendRate)
		case err == nil:
			p.quota, p.haveQuota, p.sentSince = fresh, true, 0
		}
		// A failed read is tried again after Refresh; meanwhile the last
		// quota holds, and a configured rate paces without a daily check.
		p.readAt = now
		if err != nil && !p.haveQuota && p.cfg.Rate == 0 {
			return 0, Quota{}, 0, workflow.Errorf(workflow.Transient, "pacer: reading the SES quota: %v", err)
		}
	}
	rate = p.cfg.Rate
	if rate == 0 {
		rate = p.quota.MaxSendRate
	}
	q = p.quota
	if !p.haveQuota {
		q.Max24HourSend = -1
	}
	return rate, q, p.sentSince, nil
}

// Rate is the rate the pacer currently applies (reading the quota when it
// is due).
func (p *Pacer) Rate(ctx context.Context) (float64, error) {
	r, _, _, err := p.limits(ctx, p.cfg.Now())
	return r, err
}

// Take takes one token per recipient before a send. It returns nil when the
// send may go, or an error named Mail.Throttled (no token within MaxWait),
// Mail.QuotaExhausted (the daily quota would be exceeded) or
// Mail.Transient (the quota or the bucket could not be read).
func (p *Pacer) Take(ctx context.Context, recipients int) error {
	if recipients < 1 {
		return fmt.Errorf("pacer: %d recipients", recipients)
	}
	now := p.cfg.Now()
	rate, q, sent, err := p.limits(ctx, now)
	if err != nil {
		return err
	}
	n := float64(recipients)
	if q.Max24HourSend >= 0 && q.SentLast24Hours+sent+n > q.Max24HourSend {
		return workflow.Errorf(workflow.QuotaExhausted, "pacer: the daily quota of %v recipients is used up (%v sent in the last 24 hours)",
			q.Max24HourSend, q.SentLast24Hours+sent)
	}
	burst := p.cfg.Burst
	if burst == 0 {
		burst = max(1, rate)
	}
	// A mail with more recipients than the bucket holds takes a full
	// bucket, as SES lets such a send through when its bucket is full.
	res, err := p.bucket.Take(ctx, TakeParams{Cost: min(n, burst), Rate: rate, Burst: burst, Now: now, Reserve: p.cfg.MaxWait})
	if err != nil {
		return workflow.Errorf(workflow.Transient, "pacer: %v", err)
	}
	if !res.OK {
		return workflow.Errorf(workflow.Throttled, "pacer: no send token for %s (rate %v/s)", res.RetryAfter.Round(time.Millisecond), rate)
	}
	p.mu.Lock()
	p.sentSince += n
	p.mu.Unlock()
	if res.Wait > 0 {
		if err := p.cfg.Sleep(ctx, res.Wait); err != nil {
			return workflow.Errorf(workflow.Transient, "pacer: waiting for a send token: %v", err)
		}
	}
	return nil
}
