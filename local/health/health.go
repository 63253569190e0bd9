package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mailflow/mailflow/clock"
)

// Defaults of the SMTP relay check.
const (
	DefaultDialTimeout = time.Second
	DefaultCacheFor    = 5 * time.Second
	// probeTimeout bounds each store's probe.
	probeTimeout = 2 * time.Second
)

// Probe is one store's check: a cheap read that fails when the store is
// unusable.
type Probe struct {
	Name  string
	Check func(context.Context) error
}

// Checker answers GET /healthz.
type Checker struct {
	Stores []Probe
	// SMTP is the relay's host:port, "" when mail goes to the outbox.
	SMTP        string
	DialTimeout time.Duration // 0: DefaultDialTimeout
	CacheFor    time.Duration // 0: DefaultCacheFor
	Clock       clock.Clock   // nil: clock.Wall

	mu      sync.Mutex
	checked time.Time
	smtpErr error
}

// Report is the body of GET /healthz.
type Report struct {
	Status string            `json:"status"` // "ok" or "unhealthy"
	Stores map[string]string `json:"stores"` // name: "ok" or "unusable: <err>"
	SMTP   string            `json:"smtp"`   // "ok", "unreachable: <err>" or "outbox" (no relay)
}

// Check probes the stores and the relay.
func (c *Checker) Check(ctx context.Context) Report {
	rep := Report{Status: "ok", Stores: make(map[string]string, len(c.Stores)), SMTP: "outbox"}
	for _, p := range c.Stores {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := p.Check(pctx)
		cancel()
		if err != nil {
			rep.Status, rep.Stores[p.Name] = "unhealthy", "unusable: "+err.Error()
			continue
		}
		rep.Stores[p.Name] = "ok"
	}
	if c.SMTP != "" {
		if err := c.smtp(ctx); err != nil {
			rep.Status, rep.SMTP = "unhealthy", "unreachable: "+err.Error()
		} else {
			rep.SMTP = "ok"
		}
	}
	return rep
}

// smtp dials the relay, at most once per CacheFor; the answer in between
// is the last dial's. The lock is held over the dial so that concurrent
// checks share it.
func (c *Checker) smtp(ctx context.Context) error {
	clk := c.Clock
	if clk == nil {
		clk = clock.Wall
	}
	cacheFor, timeout := c.CacheFor, c.DialTimeout
	if cacheFor <= 0 {
		cacheFor = DefaultCacheFor
	}
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := clk.Now()
	if !c.checked.IsZero() && now.Sub(c.checked) < cacheFor {
		return c.smtpErr
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", c.SMTP)
	if err == nil {
		err = conn.Close()
	}
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			err = fmt.Errorf("dial %s: %w", c.SMTP, op.Err)
		}
	}
	c.checked, c.smtpErr = now, err
	return err
}

// ServeHTTP answers the report as JSON: 200 when healthy, else 503.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := c.Check(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if rep.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(rep)
}
