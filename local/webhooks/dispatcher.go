package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/clock"

	"github.com/mailflow/mailflow/workflow"
)

// Defaults of [Config].
const (
	DefaultRetryFor       = 24 * time.Hour
	DefaultAttemptTimeout = 10 * time.Second
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = time.Hour
	DefaultConcurrency    = 4
	// MinSecretBytes is the shortest secret accepted: a shorter one can be
	// guessed offline from one signed body.
	MinSecretBytes = 16
)

// Config is what the dispatcher posts where, and how hard it tries.
type Config struct {
	// URLs receive every event (absolute http or https URLs).
	URLs []string
	// Secret signs every request (at least MinSecretBytes; required when
	// URLs are given). It never appears in a log line or an error.
	Secret []byte
	// RetryFor is how long a delivery is retried before it is marked
	// failed (0: DefaultRetryFor).
	RetryFor time.Duration
	// AttemptTimeout bounds one POST, response included (0: DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed attempt,
	// which doubles from MinBackoff (0: the defaults).
	MinBackoff, MaxBackoff time.Duration
	// Concurrency is how many POSTs to one URL may be in flight at once
	// (0: DefaultConcurrency).
	Concurrency int
	Clock       clock.Clock  // nil: the wall clock
	Log         *slog.Logger // nil: discard
	// Client sends the requests (nil: one that follows no redirect).
	Client *http.Client
}

// Validate reports every problem of the configuration. The secret is
// described by its length, never shown.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, raw := range c.URLs {
		if err := ValidateURL(raw); err != nil {
			errs = append(errs, err)
		}
		if seen[raw] {
			errs = append(errs, fmt.Errorf("webhook URL %s is given twice", Redact(raw)))
		}
		seen[raw] = true
	}
	if len(c.URLs) > 0 && len(c.Secret) < MinSecretBytes {
		errs = append(errs, fmt.Errorf("webhook secret has %d bytes, at least %d are required when a webhook URL is set", len(c.Secret), MinSecretBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"retry period", c.RetryFor}, {"attempt timeout", c.AttemptTimeout}, {"minimum backoff", c.MinBackoff}, {"maximum backoff", c.MaxBackoff}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("webhook %s %v is negative", d.name, d.v))
		}
	}
	if c.MinBackoff > 0 && c.MaxBackoff > 0 && c.MinBackoff > c.MaxBackoff {
		errs = append(errs, fmt.Errorf("webhook minimum backoff %v is longer than the maximum %v", c.MinBackoff, c.MaxBackoff))
	}
	if c.Concurrency < 0 || c.Concurrency > 64 {
		errs = append(errs, fmt.Errorf("webhook concurrency %d is outside 0..64", c.Concurrency))
	}
	return errors.Join(errs...)
}

// ValidateURL checks one webhook URL: absolute, http or https, with a host,
// no fragment.
func ValidateURL(raw string) error {
	if rule := URLRule(raw); rule != "" {
		return fmt.Errorf("webhook URL %s %s", Redact(raw), rule)
	}
	return nil
}

// URLRule is the rule raw breaks as a webhook URL, "" when it breaks none.
func URLRule(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("does not parse: %v", errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("must be an absolute http or https URL, not scheme %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	case u.Fragment != "" || u.RawFragment != "":
		return "has a fragment, which is never sent"
	}
	return ""
}

// Redact is raw with any password replaced, for logs and output.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Dispatcher records published events in the log and posts each to every
// configured URL until a 2xx answer, in the background.
type Dispatcher struct {
	log     *Log
	cfg     Config
	clock   clock.Clock
	logger  *slog.Logger
	client  *http.Client
	targets []*target

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// target is one URL's share of the work.
type target struct {
	url  string
	wake chan struct{} // buffered 1: new events, or a slot freed

	mu       sync.Mutex
	inFlight map[int64]bool
	settled  uint64 // attempts ended, so the pump can tell its read is stale
}

func (t *target) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// New makes a dispatcher over log; it delivers once started. The runtime
// calls it with the data directory's log (datadir.Dir.OpenOutcomes),
// passes it as the notify.Publisher and closes it before the log.
func New(log *Log, cfg Config) (*Dispatcher, error) {
	if log == nil {
		return nil, errors.New("webhooks: an outcome log is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	or := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	or(&cfg.RetryFor, DefaultRetryFor)
	or(&cfg.AttemptTimeout, DefaultAttemptTimeout)
	or(&cfg.MinBackoff, DefaultMinBackoff)
	or(&cfg.MaxBackoff, DefaultMaxBackoff)
	if cfg.MinBackoff > cfg.MaxBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	d := &Dispatcher{log: log, cfg: cfg, clock: clock.Or(cfg.Clock), logger: cfg.Log, client: cfg.Client}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	if d.client == nil {
		// A redirect is an answer that is not 2xx: following it would post
		// the signed event wherever the receiver points.
		d.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	for _, u := range cfg.URLs {
		d.targets = append(d.targets, &target{url: u, wake: make(chan struct{}, 1), inFlight: map[int64]bool{}})
	}
	return d, nil
}

// ErrInvalidEvent is returned (wrapped) by Publish for an event that does
// not validate; publishing it again fails again.
var ErrInvalidEvent = errors.New("webhooks: invalid outcome event")

// Publish records the events not recorded yet, each with a pending
// delivery to every URL, and returns once they are committed: it never
// waits on a receiver. An event ID already in the log is ignored, so an
// event published twice is delivered once. A batch with an invalid event
// is refused whole.
func (d *Dispatcher) Publish(ctx context.Context, events []workflow.OutcomeEvent) error {
	enc := make([]encoded, len(events))
	for i, e := range events {
		b, err := e.MarshalJSON()
		if err != nil {
			return fmt.Errorf("%w %d of %d (id %q): %v", ErrInvalidEvent, i+1, len(events), e.ID, err)
		}
		enc[i] = encoded{event: e, body: b}
	}
	fresh, err := d.log.record(ctx, enc, d.cfg.URLs, d.clock.Now(), d.cfg.RetryFor)
	if err != nil {
		return err
	}
	if fresh > 0 {
		for _, t := range d.targets {
			t.poke()
		}
	}
	return nil
}

// Start starts delivering, resuming the deliveries left pending by an
// earlier run. It returns at once; Close stops it.
func (d *Dispatcher) Start(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return
	}
	d.started = true
	ctx, d.cancel = context.WithCancel(ctx)
	for _, t := range d.targets {
		d.wg.Add(1)
		go d.pump(ctx, t)
	}
}

// Close stops delivering and waits for the attempts in flight to end (they
// are cancelled; a cancelled attempt is not recorded, and a dispatcher
// started later on the same log makes it again). The log stays open. A
// closed dispatcher does not start again.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	cancel := d.cancel
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	d.wg.Wait()
	return nil
}

// pump starts the due deliveries to one URL, at most Concurrency at once,
// and waits for the next one due, a new event or a freed slot.
func (d *Dispatcher) pump(ctx context.Context, t *target) {
	defer d.wg.Done()
	for ctx.Err() == nil {
		t.mu.Lock()
		busy, gen := len(t.inFlight), t.settled
		t.mu.Unlock()
		var next time.Time
		if free := d.cfg.Concurrency - busy; free > 0 {
			jobs, n, err := d.log.due(ctx, t.url, d.clock.Now(), free+busy)
			if err != nil && ctx.Err() == nil {
				d.logger.Error("webhook deliveries not read; retrying", "url", Redact(t.url), "error", err)
				n = d.clock.Now().Add(d.cfg.MinBackoff)
			}
			next = n
			t.mu.Lock()
			if t.settled != gen {
				// An attempt settled while we read: the read may hold its
				// delivery as it was before, so read again.
				t.mu.Unlock()
				continue
			}
			for _, j := range jobs {
				if t.inFlight[j.seq] || len(t.inFlight) >= d.cfg.Concurrency {
					continue
				}
				t.inFlight[j.seq] = true
				d.wg.Add(1)
				go d.attempt(ctx, t, j)
			}
			t.mu.Unlock()
		}
		var timer <-chan time.Time
		stop := func() {}
		if !next.IsZero() {
			timer, stop = d.clock.Timer(next.Sub(d.clock.Now()))
		}
		select {
		case <-ctx.Done():
		case <-t.wake:
		case <-timer:
		}
		stop()
	}
}

// maxResponse is how much of a response body is read (and dropped) so the
// connection can be reused.
const maxResponse = 64 << 10

// attempt posts one event to one URL and records the outcome.
func (d *Dispatcher) attempt(ctx context.Context, t *target, j job) {
	defer d.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.inFlight, j.seq)
		t.settled++
		t.mu.Unlock()
		t.poke()
	}()
	start := d.clock.Now()
	code, err := d.post(ctx, t.url, j)
	if ctx.Err() != nil {
		return // stopping: not an attempt of the receiver's; made again after a restart
	}
	now := d.clock.Now()
	a := Attempt{N: j.attempts + 1, At: start, Duration: now.Sub(start), StatusCode: code}
	status, next := StatusDelivered, now
	if err != nil {
		a.Error = errorText(err)
		switch wait := d.backoff(a.N); {
		case !now.Before(j.deadline):
			status = StatusFailed
			d.logger.Error("webhook delivery given up", "url", Redact(t.url), "event", j.eventID, "mailId", j.mailID(), "attempts", a.N, "error", a.Error)
		default:
			status, next = StatusPending, now.Add(wait)
			if next.After(j.deadline) {
				next = j.deadline // one last attempt when the period ends
			}
			d.logger.Warn("webhook delivery failed; retrying", "url", Redact(t.url), "event", j.eventID, "mailId", j.mailID(), "attempt", a.N, "retryIn", next.Sub(now), "error", a.Error)
		}
	}
	if err := d.log.settle(context.WithoutCancel(ctx), t.url, j, a, status, next); err != nil {
		// The delivery stays as it was: pending, tried again.
		d.logger.Error("webhook attempt not recorded", "url", Redact(t.url), "event", j.eventID, "mailId", j.mailID(), "error", err)
	}
}

// post makes one request; a nil error means a 2xx answer.
func (d *Dispatcher) post(ctx context.Context, target string, j job) (int, error) {
	// The attempt's timeout runs on the dispatcher's clock.
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fired, stop := d.clock.Timer(d.cfg.AttemptTimeout)
	defer stop()
	go func() {
		select {
		case <-fired:
			cancel(fmt.Errorf("no answer within %v", d.cfg.AttemptTimeout))
		case <-actx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, target, bytes.NewReader(j.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mailflow-webhooks/1")
	req.Header.Set(client.WebhookSignatureHeader, client.SignWebhook(d.cfg.Secret, j.body, d.clock.Now()))
	req.Header.Set(client.WebhookEventIDHeader, j.eventID)
	resp, err := d.client.Do(req)
	if err != nil {
		if cause := context.Cause(actx); cause != nil && ctx.Err() == nil {
			return 0, cause
		}
		return 0, redactErr(err)
	}
	// The status decides; the body is read (bounded, cut by the timeout)
	// only so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return resp.StatusCode, nil
}

// redactErr drops the URL a *url.Error carries (it may hold a password).
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, Redact(ue.URL), ue.Err)
	}
	return err
}

// backoff is the wait after the n-th failed attempt: MinBackoff doubled
// n-1 times, at most MaxBackoff, of which a random half (equal jitter), so
// receivers that failed together are not retried together.
func (d *Dispatcher) backoff(n int) time.Duration {
	w := d.cfg.MinBackoff
	for i := 1; i < n && w < d.cfg.MaxBackoff; i++ {
		w *= 2
	}
	w = min(w, d.cfg.MaxBackoff)
	half := w / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// String describes the configuration without the secret.
func (c Config) String() string {
	urls := make([]string, len(c.URLs))
	for i, u := range c.URLs {
		urls[i] = Redact(u)
	}
	return fmt.Sprintf("webhooks %v (secret: %s bytes, redacted)", urls, strconv.Itoa(len(c.Secret)))
}
