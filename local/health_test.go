package local_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/workflow"
)

// gatedSource holds the pipe's receives until open is closed.
type gatedSource struct {
	pipes.Source
	open chan struct{}
}

func (g gatedSource) Receive(ctx context.Context, max int, wait time.Duration) ([]pipes.Message, error) {
	select {
	case <-g.open:
		return g.Source.Receive(ctx, max, wait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// scrape reads the runtime's /metrics as Prometheus parses it.
func scrape(t *testing.T, rt *local.Runtime) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(rt.Endpoint() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// value is the value of the metric of family name whose labels are labels
// (name=value pairs); false when there is none.
func value(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsCountASentMailAndTheQueues(t *testing.T) {
	t.Parallel()
	open := make(chan struct{})
	rt, c, done := startWith(t, local.Config{}, local.Hooks{
		WrapSource: func(s pipes.Source) pipes.Source { return gatedSource{Source: s, open: open} },
	})
	if _, err := c.Send(context.Background(), client.Mail{MailID: "metrics-1", To: []string{"ann@example.org"}, Subject: "Hi", Text: "Hi"}); err != nil {
		t.Fatal(err)
	}
	m := scrape(t, rt)
	want := func(name string, v float64, labels ...string) {
		t.Helper()
		if got, ok := value(m, name, labels...); !ok || got != v {
			t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, v)
		}
	}
	want("mailflow_queue_messages", 1, "queue", "source", "state", "visible")
	want("mailflow_queue_messages", 0, "queue", "source", "state", "in_flight")
	want("mailflow_queue_messages", 0, "queue", "events", "state", "visible")
	want("mailflow_mails_sent_total", 0)
	want("mailflow_executions_in_flight", 0)
	want("mailflow_ses_throttles_total", 0)

	close(open)
	waitItems(t, done, 1)
	// The pipe deletes the record once its execution has answered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		m = scrape(t, rt)
		v, _ := value(m, "mailflow_queue_messages", "queue", "source", "state", "in_flight")
		if v == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want("mailflow_mails_sent_total", 1)
	want("mailflow_queue_messages", 0, "queue", "source", "state", "visible")
	want("mailflow_queue_messages", 0, "queue", "source", "state", "in_flight")
	want("mailflow_execution_duration_seconds", 1)
	if _, ok := m["mailflow_mails_failed_total"]; ok {
		t.Errorf("a mail counted failed: %v", m["mailflow_mails_failed_total"])
	}
}

func TestMetricsCountAFailedMailByErrorName(t *testing.T) {
	t.Parallel()
	rt, c, done := start(t, local.Config{})
	rt.SES().Inject(workflow.Rejected)
	if _, err := c.Send(context.Background(), client.Mail{MailID: "metrics-2", To: []string{"ann@example.org"}, Subject: "Hi", Text: "Hi"}); err != nil {
		t.Fatal(err)
	}
	items := waitItems(t, done, 1)
	m := scrape(t, rt)
	if got, ok := value(m, "mailflow_mails_failed_total", "error", items[0].Error); !ok || got != 1 || items[0].Error == "" {
		t.Fatalf("failed{error=%q} = %v (present %v), want 1; item %+v", items[0].Error, got, ok, items[0])
	}
}

// getHealth is GET /healthz: its status and report.
func getHealth(t *testing.T, rt *local.Runtime) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(rt.Endpoint() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatalf("GET /healthz body: %v", err)
	}
	return resp.StatusCode, rep
}

func TestHealthzIsOKWithUsableStores(t *testing.T) {
	t.Parallel()
	rt, _, _ := start(t, local.Config{})
	status, rep := getHealth(t, rt)
	stores, _ := rep["stores"].(map[string]any)
	if status != http.StatusOK || rep["status"] != "ok" || rep["smtp"] != "outbox" || len(stores) == 0 {
		t.Fatalf("GET /healthz: %d %v", status, rep)
	}
	for name, s := range stores {
		if s != "ok" {
			t.Errorf("store %s: %v", name, s)
		}
	}
}

func TestHealthzIs503WhenTheSMTPRelayIsUnreachable(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: taken, then given back.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rt, _, _ := start(t, local.Config{SMTP: addr})
	status, rep := getHealth(t, rt)
	smtp, _ := rep["smtp"].(string)
	if status != http.StatusServiceUnavailable || rep["status"] != "unhealthy" || !strings.HasPrefix(smtp, "unreachable: ") || !strings.Contains(smtp, addr) {
		t.Fatalf("GET /healthz with --smtp %s unreachable: %d %v", addr, status, rep)
	}
}
