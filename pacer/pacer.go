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
//   - Burst defaults to half a second's worth of tokens (at least one):
//     SES's own limiter is assumed to hold about a second's worth, and the
//     difference absorbs the jitter between taking a token and the SES
//     call arriving (scheduling, network), which would otherwise let a few
//     paced calls reach SES a little early and be throttled. It costs half
//     a second of the initial burst, nothing of the sustained rate.
//   - The rate comes from Config.Rate or, when that is zero, from SES
//     GetAccount (MaxSendRate), refreshed every Config.Refresh (default one
//     minute). Max24HourSend and SentLast24Hours are respected: a Take that
//     would exceed the daily quota fails with Mail.QuotaExhausted (the
//     state machine returns the mail to the queue for later) without
//     touching the bucket. Sends of this instance since the last refresh
//     are counted on top of SentLast24Hours.
//   - A Take may wait: when the bucket says the tokens will be there within
//     the allowed wait, the pacer reserves them and sleeps until then
//     instead of failing. This keeps a paced burst dense (no token is lost
//     while every execution backs off) at the price of holding the task
//     that long; beyond it, it fails with Mail.Throttled. The allowed wait
//     is Config.MaxWait for a send never refused and doubles with every
//     refusal of the same send (its key: the lock owner, which stays the
//     same across the state machine's retries), up to MaxWaitCap. With more
//     sends in flight than the quota serves in MaxWait, a send refused a
//     few times gets a longer place in line rather than running out of
//     retries (which would return it to the queue for a whole visibility
//     timeout). Refusals are counted in this process (bounded to
//     MaxTracked keys), and TakeAttempt takes the count of earlier attempts
//     from the caller as well: on Lambda a retry often lands on another
//     instance, so the Send task passes how often the lock record was
//     renewed (once per attempt), and the wait doubles there too. MaxWait 0
//     never waits.
//   - A batch's sends may take their tokens together (Reserve): one write
//     for all of them, each send granted its time as if it had taken its
//     tokens in turn. A send that uses its grant within Grace of it
//     (TakeReserved) writes nothing; a later one takes its own, so grants
//     used late bunch sends by at most Grace's worth of tokens, within the
//     margin the burst leaves below SES's bucket. Only a first attempt uses
//     a grant: a retried send takes its own tokens.
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
	"sync/atomic"
	"time"

	"github.com/mailflow/mailflow/clock"
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
	// Cost is the tokens to take, > 0 and ≤ Burst; more than Burst only
	// with a Reserve (a batch's tokens, granted one after another).
	Cost    float64
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
	case !(p.Cost > 0) || math.IsInf(p.Cost, 0) || (p.Cost > p.Burst && p.Reserve == 0):
		return fmt.Errorf("pacer: cost %v must be within (0, burst %v], or positive with a reserve", p.Cost, p.Burst)
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

// exceeded reports whether n more recipients, on top of the sent this
// pacer let through since the quota was read, pass the daily quota.
func (q Quota) exceeded(sent, n float64) bool {
	return q.Max24HourSend >= 0 && q.SentLast24Hours+sent+n > q.Max24HourSend
}

// AccountFunc reads the account's quota (SES GetAccount).
type AccountFunc func(ctx context.Context) (Quota, error)

// Config sets up a Pacer.
type Config struct {
	// Rate in recipients per second; 0 takes MaxSendRate from Account.
	Rate float64
	// Burst in recipients; 0 is half a second's worth (at least 1).
	Burst float64
	// Account reads the quota: the rate when Rate is 0, and the daily
	// quota either way. Optional when Rate is set.
	Account AccountFunc
	// Refresh is how often the quota is read again (default 1 minute).
	Refresh time.Duration
	// MaxWait is how long a first Take may wait for tokens that are on
	// their way before it fails with Mail.Throttled (0: never wait). Each
	// retry doubles it, up to MaxWaitCap.
	MaxWait time.Duration
	// MaxWaitCap bounds the doubled wait (default DefaultMaxWaitCap).
	MaxWaitCap time.Duration
	// MaxTracked bounds how many refused sends are remembered (default
	// 10,000); beyond it the oldest are forgotten.
	MaxTracked int
	// Clock tells the time and waits for tokens (nil: clock.Wall).
	Clock clock.Clock
}

// DefaultMaxWaitCap bounds a retried send's wait for its token: well within
// the Send function's timeout (45 s) and the state's (60 s).
const DefaultMaxWaitCap = 16 * time.Second

// Wait is how long a Take may wait after the send was refused refusals
// times.
func (p *Pacer) Wait(refusals int) time.Duration {
	w := p.cfg.MaxWait
	for range min(max(refusals, 0), 32) {
		if w >= p.cfg.MaxWaitCap {
			break
		}
		w *= 2
	}
	return min(w, max(p.cfg.MaxWaitCap, p.cfg.MaxWait))
}

// refusals returns the key's refusal count, after counting one more
// (delta 1), forgetting the key (delta -1) or neither (0).
func (p *Pacer) refusals(key string, delta int) int {
	if key == "" {
		return 0
	}
	p.refusedMu.Lock()
	defer p.refusedMu.Unlock()
	switch delta {
	case 1:
		if _, ok := p.refused[key]; !ok {
			p.refusedQ = append(p.refusedQ, key)
			for len(p.refused) >= p.cfg.MaxTracked && len(p.refusedQ) > 0 {
				delete(p.refused, p.refusedQ[0])
				p.refusedQ = p.refusedQ[1:]
			}
		}
		p.refused[key]++
	case -1:
		delete(p.refused, key)
		// Its place in refusedQ goes when the queue reaches it.
	}
	if len(p.refusedQ) > 2*p.cfg.MaxTracked {
		q := p.refusedQ[:0]
		for _, k := range p.refusedQ {
			if _, ok := p.refused[k]; ok {
				q = append(q, k)
			}
		}
		p.refusedQ = q
	}
	return p.refused[key]
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

	refusedMu sync.Mutex
	refused   map[string]int // key → refusals so far
	refusedQ  []string       // keys in first-refusal order, for the bound

	takes, reserved, expired atomic.Int64 // see Counts
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
	if cfg.MaxWait < 0 || cfg.Refresh < 0 || cfg.MaxWaitCap < 0 {
		return nil, errors.New("pacer: negative MaxWait, MaxWaitCap or Refresh")
	}
	if cfg.MaxWaitCap == 0 {
		cfg.MaxWaitCap = DefaultMaxWaitCap
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = 10000
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = time.Minute
	}
	cfg.Clock = clock.Or(cfg.Clock)
	return &Pacer{bucket: bucket, cfg: cfg, refused: map[string]int{}}, nil
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
	r, _, _, err := p.limits(ctx, p.cfg.Clock.Now())
	return r, err
}

// Take takes one token per recipient before a send; key names the send
// across its retries ("" for none). It returns nil when the send may go, or
// an error named Mail.Throttled (no token within Wait of the key's refusals
// so far),
// Mail.QuotaExhausted (the daily quota would be exceeded) or
// Mail.Transient (the quota or the bucket could not be read).
func (p *Pacer) Take(ctx context.Context, recipients int, key string) error {
	return p.TakeAttempt(ctx, recipients, key, 0)
}

// TakeAttempt is Take for a send that was already tried earlier times, as
// counted outside this process (the Send task reads it from the lock
// record): it may wait at least as long as a send this pacer refused that
// often, so a retry that lands on another instance keeps its place.
func (p *Pacer) TakeAttempt(ctx context.Context, recipients int, key string, earlier int) error {
	if recipients < 1 {
		return fmt.Errorf("pacer: %d recipients", recipients)
	}
	now := p.cfg.Clock.Now()
	rate, q, sent, err := p.limits(ctx, now)
	if err != nil {
		return err
	}
	n := float64(recipients)
	if q.exceeded(sent, n) {
		return workflow.Errorf(workflow.QuotaExhausted, "pacer: the daily quota of %v recipients is used up (%v sent in the last 24 hours)",
			q.Max24HourSend, q.SentLast24Hours+sent)
	}
	burst := p.burst(rate)
	// A mail with more recipients than the bucket holds takes a full
	// bucket, as SES lets such a send through when its bucket is full.
	p.takes.Add(1)
	res, err := p.bucket.Take(ctx, TakeParams{Cost: min(n, burst), Rate: rate, Burst: burst, Now: now, Reserve: p.Wait(max(p.refusals(key, 0), earlier))})
	if err != nil {
		return workflow.Errorf(workflow.Transient, "pacer: %v", err)
	}
	if !res.OK {
		p.refusals(key, 1)
		return workflow.Errorf(workflow.Throttled, "pacer: no send token for %s (rate %v/s)", res.RetryAfter.Round(time.Millisecond), rate)
	}
	p.mu.Lock()
	p.sentSince += n
	p.mu.Unlock()
	p.refusals(key, -1)
	if res.Wait > 0 {
		if err := p.cfg.Clock.Sleep(ctx, res.Wait); err != nil {
			return workflow.Errorf(workflow.Transient, "pacer: waiting for a send token: %v", err)
		}
	}
	return nil
}

// Reserve takes the tokens of several sends at once, in one bucket write:
// the sends of one batch, which the state machine runs side by side. It
// returns for each entry (its recipients) the time its tokens are granted,
// the same as if each had taken them in turn at once: now for those the
// bucket holds, then one after another at the rate. A send that uses its
// grant within Grace of it (TakeReserved) needs no write of its own.
//
// Nothing is reserved (every time zero, and no error) when the bucket cannot
// grant the last of them within the allowed wait of a first take
// (Config.MaxWait), or the daily quota would be exceeded: those sends take
// their own tokens. An entry of no recipients gets the zero time. Errors
// are the bucket's or the quota's, as Take's; the caller may go on without
// a reservation.
func (p *Pacer) Reserve(ctx context.Context, recipients []int) ([]time.Time, error) {
	grants := make([]time.Time, len(recipients))
	now := p.cfg.Clock.Now()
	rate, q, sent, err := p.limits(ctx, now)
	if err != nil {
		return grants, err
	}
	burst := p.burst(rate)
	var total, people float64
	for _, n := range recipients {
		if n > 0 {
			total += min(float64(n), burst)
			people += float64(n)
		}
	}
	// More than the bucket holds needs a wait, which MaxWait 0 rules out.
	if total == 0 || (total > burst && p.Wait(0) == 0) || q.exceeded(sent, people) {
		return grants, nil
	}
	res, err := p.bucket.Take(ctx, TakeParams{Cost: total, Rate: rate, Burst: burst, Now: now, Reserve: p.Wait(0)})
	if err != nil {
		return grants, workflow.Errorf(workflow.Transient, "pacer: %v", err)
	}
	if !res.OK {
		return grants, nil
	}
	p.mu.Lock()
	p.sentSince += people
	p.mu.Unlock()
	p.reserved.Add(1)
	// The last entry's tokens are there after Wait; each earlier one's
	// the span of the tokens after it sooner.
	last, after := now.Add(res.Wait), total
	for i, n := range recipients {
		if n <= 0 {
			continue
		}
		after -= min(float64(n), burst)
		grants[i] = last.Add(-time.Duration(after / rate * 1e9))
		if grants[i].Before(now) {
			grants[i] = now
		}
	}
	return grants, nil
}

// Grace is how long after its grant a send may use reserved tokens: half
// the time the bucket takes to refill. A send that arrives later takes its
// own, so sends never bunch by more than that: SES's own bucket is assumed
// to hold about a second's worth, the pacer's half of it (see the package
// doc), and a quarter second of late grants stays within the difference.
func (p *Pacer) Grace(ctx context.Context) (time.Duration, error) {
	rate, _, _, err := p.limits(ctx, p.cfg.Clock.Now())
	if err != nil {
		return 0, err
	}
	return time.Duration(p.burst(rate) / rate / 2 * 1e9), nil
}

// TakeReserved is TakeAttempt for a send whose tokens a Reserve may have
// granted at grant (zero: none). A first attempt (earlier 0) whose grant is
// no more than Grace old, nor further ahead than the longest wait a take
// may have, waits until it and goes without a bucket write; any other takes
// its own tokens, as TakeAttempt.
func (p *Pacer) TakeReserved(ctx context.Context, grant time.Time, recipients int, key string, earlier int) error {
	if grant.IsZero() || earlier > 0 {
		return p.TakeAttempt(ctx, recipients, key, earlier)
	}
	grace, err := p.Grace(ctx)
	if err != nil {
		return err
	}
	now := p.cfg.Clock.Now()
	if now.After(grant.Add(grace)) || grant.After(now.Add(p.Wait(0))) {
		p.expired.Add(1)
		return p.TakeAttempt(ctx, recipients, key, earlier)
	}
	if wait := grant.Sub(now); wait > 0 {
		if err := p.cfg.Clock.Sleep(ctx, wait); err != nil {
			return workflow.Errorf(workflow.Transient, "pacer: waiting for a reserved send token: %v", err)
		}
	}
	return nil
}

// Counts are what the pacer did: bucket takes for single sends, batch
// reservations, and reserved tokens a send could not use (too late, or
// implausibly early) and took again.
type Counts struct{ Takes, Reservations, Expired int64 }

// Counts returns the pacer's counts since it was made.
func (p *Pacer) Counts() Counts {
	return Counts{Takes: p.takes.Load(), Reservations: p.reserved.Load(), Expired: p.expired.Load()}
}

// burst is the bucket's size at rate.
func (p *Pacer) burst(rate float64) float64 {
	if p.cfg.Burst != 0 {
		return p.cfg.Burst
	}
	return max(1, rate/2)
}
