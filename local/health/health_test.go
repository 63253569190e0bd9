package health_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/health"
)

// countingListener counts the connections made to it.
func countingListener(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return l.Addr().String(), &n
}

func waitCount(t *testing.T, n *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // no extra dial behind it
	if got := n.Load(); got != want {
		t.Fatalf("%d dials to the relay, want %d", got, want)
	}
}

func TestTheRelayIsDialledAtMostOncePerCacheFor(t *testing.T) {
	t.Parallel()
	addr, dials := countingListener(t)
	clk := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := &health.Checker{SMTP: addr, CacheFor: 5 * time.Second, Clock: clk}
	for range 10 {
		if rep := c.Check(context.Background()); rep.SMTP != "ok" || rep.Status != "ok" {
			t.Fatalf("report %+v", rep)
		}
	}
	waitCount(t, dials, 1)
	clk.Advance(5 * time.Second)
	c.Check(context.Background())
	waitCount(t, dials, 2)
}

func TestAnUnusableStoreAnswers503(t *testing.T) {
	t.Parallel()
	c := &health.Checker{Stores: []health.Probe{
		{Name: "queues", Check: func(context.Context) error { return nil }},
		{Name: "locks", Check: func(context.Context) error { return errors.New("database is locked") }},
	}}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	body := w.Body.String()
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(body, `"locks":"unusable: database is locked"`) ||
		!strings.Contains(body, `"queues":"ok"`) || !strings.Contains(body, `"status":"unhealthy"`) || !strings.Contains(body, `"smtp":"outbox"`) {
		t.Fatalf("%d %s", w.Code, body)
	}
}

func TestNewMetricsNamesAMissingSource(t *testing.T) {
	t.Parallel()
	_, err := health.NewMetrics(health.Sources{SESThrottles: func() int { return 0 }})
	if err == nil || !strings.Contains(err.Error(), "ExecutionsInFlight") {
		t.Fatalf("err %v", err)
	}
}
