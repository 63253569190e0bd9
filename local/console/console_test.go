package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/memdelivery"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/console"
	"github.com/mailflow/mailflow/local/execsource"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

// handler is a console over an empty execution store and an outbox
// directory; no request in these tests reaches the queues.
func handler(t *testing.T) (*console.Server, string, *console.Hub) {
	t.Helper()
	return handlerWith(t, nil, nil)
}

// handlerWith is handler with a delivery store and a dashboard counter.
func handlerWith(t *testing.T, deliveries delivery.Store, counts console.DeliveryCounter) (*console.Server, string, *console.Hub) {
	t.Helper()
	dir := t.TempDir()
	store, err := execstore.Open(filepath.Join(dir, "executions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	outbox := filepath.Join(dir, "outbox")
	os.MkdirAll(outbox, 0o700)
	hub := console.NewHub()
	srv, err := console.New(console.Options{
		Backend:    &inspect.Backend{Source: execsource.Source{Store: store}, Queues: &inspect.Queues{}, OutboxDir: outbox, Deliveries: deliveries},
		Definition: workflow.Definition(), Hub: hub, Counts: counts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, outbox, hub
}

func do(srv http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader("{}"))
	req.Host = "127.0.0.1:4581"
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

func TestStateChangesNeedTheConsoleHeaderAndSameOrigin(t *testing.T) {
	t.Parallel()
	srv, _, _ := handler(t)
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
		body   string
	}{
		{"a cross-site form post (no custom header)", nil, http.StatusForbidden, "missing X-Mailflow-Console"},
		{"a cross-origin fetch", map[string]string{console.CSRFHeader: "1", "Origin": "http://evil.example"}, http.StatusForbidden, "cross-origin"},
		{"a same-origin fetch", map[string]string{console.CSRFHeader: "1", "Origin": "http://127.0.0.1:4581"}, http.StatusNotFound, "execution not found"},
		{"a non-loopback Host (DNS rebinding)", map[string]string{console.CSRFHeader: "1", "Host": "evil.example:4581"}, http.StatusMisdirectedRequest, "loopback"},
	} {
		rec := do(srv, "POST", "/api/executions/nope/replay", tc.header)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s: %d %q", tc.name, rec.Code, rec.Body.String())
		}
	}
	if rec := do(srv, "GET", "/api/executions", map[string]string{"Host": "localhost:4581"}); rec.Code != http.StatusOK {
		t.Errorf("GET on localhost: %d", rec.Code)
	}
}

func TestPagesAndAPI(t *testing.T) {
	t.Parallel()
	srv, outbox, _ := handler(t)
	rec := do(srv, "GET", "/", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<script src="/static/app.js"`) || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("index: %d %s", rec.Code, rec.Header())
	}
	for _, asset := range []string{"/static/app.js", "/static/app.css"} {
		if rec := do(srv, "GET", asset, nil); rec.Code != 200 || rec.Body.Len() < 1000 {
			t.Errorf("%s: %d", asset, rec.Code)
		}
	}
	rec = do(srv, "GET", "/api/graph", nil)
	var g console.Graph
	if err := json.Unmarshal(rec.Body.Bytes(), &g); err != nil || len(g.Nodes) < 10 || len(g.Edges) < 10 {
		t.Fatalf("graph %d: %v %+v", rec.Code, err, g)
	}
	for _, bad := range []string{"/api/executions?status=nope", "/api/executions?limit=x", "/api/executions?since=yesterday"} {
		if rec := do(srv, "GET", bad, nil); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, rec.Code)
		}
	}
	// Outbox names are file names, never paths.
	os.WriteFile(filepath.Join(outbox, "abc.eml"), []byte("Subject: hi\r\nTo: a@example.org\r\nContent-Type: text/html\r\n\r\n<p>hi</p><script>alert(1)</script>"), 0o600)
	if rec := do(srv, "GET", "/api/outbox/abc", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"hasHtml":true`) {
		t.Errorf("mail: %d %s", rec.Code, rec.Body.String())
	}
	rec = do(srv, "GET", "/api/outbox/abc/html", nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Security-Policy"), "sandbox;") {
		t.Errorf("html: %d %v", rec.Code, rec.Header())
	}
	for _, bad := range []string{"/api/outbox/..%2Fexecutions", "/api/outbox/.hidden", "/api/outbox/abc/parts/0", "/api/outbox/missing"} {
		if rec := do(srv, "GET", bad, nil); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d", bad, rec.Code)
		}
	}
}

func TestLayoutPlacesEveryState(t *testing.T) {
	t.Parallel()
	g, err := console.Layout(workflow.Definition())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]console.Node{}
	for _, n := range g.Nodes {
		if _, dup := seen[n.Name]; dup {
			t.Errorf("%s placed twice", n.Name)
		}
		seen[n.Name] = n
		if n.X < 0 || n.Y < 0 || n.X+n.W > g.Width || n.Y+n.H > g.Height {
			t.Errorf("%s outside the drawing: %+v in %dx%d", n.Name, n, g.Width, g.Height)
		}
	}
	for _, name := range []string{"ProcessRecords", "AcquireLock", "Send", "DeadLetter", "RetryLater"} {
		if _, ok := seen[name]; !ok {
			t.Errorf("%s is missing", name)
		}
	}
	if m, s := seen["ProcessRecords"], seen["Send"]; !m.Frame || s.Parent != "ProcessRecords" || s.X < m.X || s.Y < m.Y || s.X+s.W > m.X+m.W || s.Y+s.H > m.Y+m.H {
		t.Errorf("Send is not inside the Map's frame: %+v %+v", m, s)
	}
	if a, s := seen["AcquireLock"], seen["Send"]; a.Y >= s.Y {
		t.Errorf("AcquireLock (y %d) is not above Send (y %d)", a.Y, s.Y)
	}
	if _, err := console.Layout([]byte(`{}`)); err == nil {
		t.Error("an empty definition laid out")
	}
}

func TestLiveEvents(t *testing.T) {
	t.Parallel()
	srv, _, hub := handler(t)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/live", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	line, _ := r.ReadString('\n')
	if !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line %q", line)
	}
	for line != "\n" {
		line, _ = r.ReadString('\n')
	}
	hub.Event("arn:x", execstore.Event{ID: 5, Type: "TaskStateEntered", Details: json.RawMessage(`{"name":"Send"}`), Timestamp: time.Now()})
	hub.Execution(execstore.Execution{ID: "arn:x", Name: "x", Status: "SUCCEEDED"}, []execstore.Item{{Outcome: "dead-lettered"}})
	var got []string
	for len(got) < 4 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "event:") || strings.HasPrefix(line, "data:") {
			got = append(got, strings.TrimSpace(line))
		}
	}
	if got[0] != "event: event" || !strings.Contains(got[1], `"name":"Send"`) || got[2] != "event: execution" || !strings.Contains(got[3], `"failedItems":1`) {
		t.Fatalf("events %q", got)
	}
}

// countsOf counts the records of the named mails, as a delivery store's
// adapter counts all of its records.
type countsOf struct {
	store delivery.Store
	ids   []string
}

func (c countsOf) DeliveryCounts(ctx context.Context) (console.DeliveryCounts, error) {
	out := console.DeliveryCounts{ByState: map[workflow.OutcomeEventType]int{}}
	for _, id := range c.ids {
		m, ok, err := c.store.Get(ctx, id, time.Now())
		if err != nil || !ok {
			continue
		}
		st, sup := inspect.MailState(m)
		out.ByState[st]++
		if sup {
			out.Suppressed++
		}
	}
	return out, nil
}

// hostileBounce is a diagnostic code as a hostile receiving server may
// write it: markup that must reach the page as text.
const hostileBounce = `smtp; 550 <img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`

// bounced records a mail sent to two recipients, one of whom bounced.
func bounced(t *testing.T, store delivery.Store, mailID string) {
	t.Helper()
	now := time.Now()
	if _, _, err := store.Apply(context.Background(), delivery.ApplyParams{MailID: mailID, Now: now, ExpiresAt: now.Add(time.Hour), Events: []delivery.Event{
		{ID: mailID + "-a", Type: workflow.EventAccepted, Time: now.Add(-3 * time.Second)},
		{ID: mailID + "-s", Type: workflow.EventSent, Time: now.Add(-2 * time.Second), SESMessageID: "ses-" + mailID},
		{ID: mailID + "-d", Type: workflow.EventDelivered, Recipient: "ann@example.org", Time: now.Add(-time.Second)},
		{ID: mailID + "-b", Type: workflow.EventBounced, Recipient: "bob@example.org", Time: now.Add(-time.Second),
			Bounce: &workflow.EventBounce{Type: "Permanent", SubType: "General", DiagnosticCode: hostileBounce}},
	}}); err != nil {
		t.Fatal(err)
	}
}

func TestDeliveryInTheAPI(t *testing.T) {
	t.Parallel()
	// Not configured: the mail says so, the dashboard's section is off.
	srv, _, _ := handler(t)
	if rec := do(srv, "GET", "/api/mail/m-1", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"deliveryNote":"`+inspect.NoDeliveryFeedback+`"`) {
		t.Errorf("mail without delivery feedback: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(srv, "GET", "/api/delivery/counts", nil); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"enabled":false}` {
		t.Errorf("counts without a counter: %d %s", rec.Code, rec.Body.String())
	}

	store := memdelivery.New()
	bounced(t, store, "m-1")
	srv, _, _ = handlerWith(t, store, countsOf{store, []string{"m-1", "m-2"}})
	rec := do(srv, "GET", "/api/mail/m-1", nil)
	var st inspect.MailStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Delivery == nil || st.Delivery.Summary != workflow.EventBounced ||
		len(st.Delivery.History) != 4 || st.Delivery.Recipients[1].Bounce.DiagnosticCode != hostileBounce {
		t.Fatalf("mail: %d %v %s", rec.Code, err, rec.Body.String())
	}
	// JSON escapes the markup too, so even a browser that sniffed the
	// answer as HTML would find no tag in it.
	if strings.Contains(rec.Body.String(), "<img") || strings.Contains(rec.Body.String(), "<script") {
		t.Errorf("markup unescaped in the JSON: %s", rec.Body.String())
	}
	rec = do(srv, "GET", "/api/delivery/counts", nil)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"byState":{"bounced":1},"enabled":true,"suppressed":0}` {
		t.Errorf("counts: %d %s", rec.Code, rec.Body.String())
	}
}
