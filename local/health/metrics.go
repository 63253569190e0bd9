package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names, prefixed with the namespace.
const (
	namespace = "mailflow"
	// scrapeTimeout bounds the queue counts read on a scrape.
	scrapeTimeout = 5 * time.Second
)

// QueueDepth is a queue's message counts at one instant.
type QueueDepth struct {
	Visible, InFlight int
}

// Sources are the runtime's own counters, read on each scrape.
type Sources struct {
	// Queues maps a queue's role ("source", "events") to how to count it.
	Queues map[string]func(context.Context) (QueueDepth, error)
	// ExecutionsInFlight is the number of executions under way.
	ExecutionsInFlight func() int64
	// SESThrottles is how many sends SES has throttled since start.
	SESThrottles func() int
}

// Item is what one finished execution did with one record.
type Item struct {
	Sent bool // sent by this execution
	// Failed: dead-lettered or sent back to the queue, by Error.
	Failed bool
	Error  string
}

// Metrics is the runtime's Prometheus registry.
type Metrics struct {
	reg     *prometheus.Registry
	sent    prometheus.Counter
	failed  *prometheus.CounterVec
	latency prometheus.Histogram
}

// NewMetrics registers the runtime's metrics over src.
func NewMetrics(src Sources) (*Metrics, error) {
	switch {
	case src.ExecutionsInFlight == nil:
		return nil, errors.New("health: Sources.ExecutionsInFlight is nil")
	case src.SESThrottles == nil:
		return nil, errors.New("health: Sources.SESThrottles is nil")
	}
	for role, f := range src.Queues {
		if f == nil {
			return nil, fmt.Errorf("health: Sources.Queues[%q] is nil", role)
		}
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "mails_sent_total",
			Help: "Mails sent by an execution of this process."}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "mails_failed_total",
			Help: "Records dead-lettered or sent back to the queue, by the error name that did it."}, []string{"error"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "execution_duration_seconds",
			Help:    "Duration of the state machine's executions, start to stop.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}}),
	}
	collectors := []prometheus.Collector{
		m.sent, m.failed, m.latency,
		queueCollector{queues: src.Queues, desc: prometheus.NewDesc(namespace+"_queue_messages",
			"Messages in a queue: visible (waiting) or in_flight (received, not yet deleted).", []string{"queue", "state"}, nil)},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "executions_in_flight",
			Help: "State machine executions under way."}, func() float64 { return float64(src.ExecutionsInFlight()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: "ses_throttles_total",
			Help: "Sends the SES simulator throttled (maximum send rate exceeded)."}, func() float64 { return float64(src.SESThrottles()) }),
	}
	for _, c := range collectors {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("health: register: %w", err)
		}
	}
	return m, nil
}

// ObserveExecution counts one finished execution: its duration and what it
// did with each record.
func (m *Metrics) ObserveExecution(d time.Duration, items []Item) {
	m.latency.Observe(d.Seconds())
	for _, it := range items {
		switch {
		case it.Sent:
			m.sent.Inc()
		case it.Failed:
			m.failed.WithLabelValues(it.Error).Inc()
		}
	}
}

// Handler serves the registry in the Prometheus exposition formats. A
// queue that cannot be counted fails the scrape (500) rather than reporting
// a stale or zero depth.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
}

// queueCollector reads the queue depths at scrape time.
type queueCollector struct {
	queues map[string]func(context.Context) (QueueDepth, error)
	desc   *prometheus.Desc
}

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for role, count := range c.queues {
		d, err := count(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("count queue %s: %w", role, err))
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(d.Visible), role, "visible")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(d.InFlight), role, "in_flight")
	}
}
