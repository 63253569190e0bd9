// Package console is the web console `mailflow dev` serves next to the
// runtime: executions with live updates, an execution page with the state
// graph of the definition and the path taken, a timeline and the event
// history, replay, the dead-letter queue with its filters, redrive, delete
// and purge, the outbox with each mail rendered, queue depths, and what
// became of each mail after SES took it (its delivery record, and the
// dashboard's counts of mails by delivery state).
//
// Decisions:
//   - A page's view is its address: filters and the selected tab, state,
//     event and Map iteration are query parameters of the hash
//     (#/x/NAME?tab=events&event=20), so a copied link reopens the same
//     view and back and forward step through selections; a choice the
//     address does not make falls to the first failure, else the first.
//   - The graph shows the path taken: consecutive visits of the top level
//     and of the selected iteration are the transitions drawn as taken, so
//     a caught failure shows its catch edge; a failed state is red and
//     marked ✕. The events tab lists the history as the AWS console does,
//     a task event's step being that of the event it follows (previousId).
//   - Every JSON value is a tree of native <details> (folded past three
//     levels); a string holding JSON, like an SQS record's body, unfolds
//     too. Copy puts the raw JSON on the clipboard, falling back to a
//     selection copy where the clipboard is refused.
//   - A running execution's items are the records of its input (the store
//     writes items only when it stops), shown as running until their
//     iteration reports an outcome; each live event reloads the page's
//     history, so the page follows it state by state.
//   - Dead letters are read with inspect's FindDeadLetters and filtered by
//     inspect.DeadLetterFilter (olderThan is a Go duration, like 24h); at
//     most 500 are listed, and the page says when more follow. Redrive
//     without a filter is SQS's move task, as the CLI's; with a filter it
//     is RedriveSelected, and the ticked messages move one by one the same
//     way. Purge (of the filter's messages, all without one) first asks the
//     server for the count with a dry run and shows it in a confirmation;
//     delete asks too. Confirmations are in the page, not window.confirm,
//     which a browser may suppress. What needs the local queue store
//     answers 501 on AWS and its buttons are off.
//   - The layout holds from 360 px up: below 640 px the header wraps,
//     columns stack and each table scrolls inside its own box, so the page
//     never scrolls sideways.
//   - Plain HTML, CSS and JavaScript embedded in the binary (no build step,
//     no CDN): it works offline and the binary is the whole console.
//   - Live updates are server-sent events fed by the runtime's OnEvent and
//     OnExecution callbacks through a [Hub]; events carry only ids, types
//     and names (payloads stay on the server) and a slow client drops
//     events rather than slowing the pipeline.
//   - It reads through package inspect, the same model as the CLI, and
//     calls the same inspect functions for each dead-letter action.
//   - Security: loopback only (the listener refuses other addresses, and
//     requests must name a loopback Host, which defeats DNS rebinding);
//     state-changing requests are POSTs that must carry the header
//     X-Mailflow-Console and, when the browser sends one, a same-origin
//     Origin: a cross-site form or fetch cannot do both (CSRF). A rendered
//     mail's HTML is served with a CSP sandbox and shown in a sandboxed
//     iframe, so its scripts never run with the console's origin.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/workflow"
)

//go:embed static
var staticFS embed.FS

// DefaultAddr is where `mailflow dev` serves the console.
const DefaultAddr = "127.0.0.1:4581"

// CSRFHeader must be present on every state-changing request.
const CSRFHeader = "X-Mailflow-Console"

// Options set up a console.
type Options struct {
	Backend    *inspect.Backend
	Definition []byte      // the state machine definition (ASL JSON)
	Hub        *Hub        // live updates; may be nil
	Clock      clock.Clock // the time replays and mail status are judged at; default clock.Wall
	Log        *slog.Logger
	// Counts counts mails by delivery state for the dashboard; nil hides
	// the dashboard's delivery section.
	Counts DeliveryCounter
}

// DeliveryCounter counts the mails of the delivery records by state.
type DeliveryCounter interface {
	DeliveryCounts(ctx context.Context) (DeliveryCounts, error)
}

// DeliveryCounts are the dashboard's figures: each live delivery record
// counted once, under its [inspect.MailState].
type DeliveryCounts struct {
	ByState map[workflow.OutcomeEventType]int `json:"byState"`
	// Suppressed counts the dead-lettered mails (also in ByState) that were
	// dead-lettered because a recipient is on the suppression list.
	Suppressed int `json:"suppressed"`
}

// Server is the console.
type Server struct {
	o     Options
	graph Graph
	mux   *http.ServeMux
}

// New builds the console.
func New(o Options) (*Server, error) {
	if o.Backend == nil || o.Backend.Source == nil || o.Backend.Queues == nil {
		return nil, errors.New("console: a backend with a source and queues is required")
	}
	o.Clock = clock.Or(o.Clock)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Hub == nil {
		o.Hub = NewHub()
	}
	g, err := Layout(o.Definition)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s := &Server{o: o, graph: g, mux: http.NewServeMux()}
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-src 'self'; img-src 'self' data:; style-src 'self'")
		http.ServeFileFS(w, r, static, "index.html")
	})
	s.mux.HandleFunc("GET /api/executions", s.listExecutions)
	s.mux.HandleFunc("GET /api/executions/{id}", s.getExecution)
	s.mux.HandleFunc("POST /api/executions/{id}/replay", s.replay)
	s.mux.HandleFunc("GET /api/graph", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.graph) })
	s.mux.HandleFunc("GET /api/queues", s.queues)
	s.mux.HandleFunc("GET /api/dlq", s.dlq)
	s.mux.HandleFunc("POST /api/dlq/redrive", s.redrive)
	s.mux.HandleFunc("POST /api/dlq/purge", s.purge)
	s.mux.HandleFunc("POST /api/dlq/delete", s.deleteDeadLetter)
	s.mux.HandleFunc("GET /api/mail/{id...}", s.mail)
	s.mux.HandleFunc("GET /api/delivery/counts", s.deliveryCounts)
	s.mux.HandleFunc("GET /api/outbox", s.outboxList)
	s.mux.HandleFunc("GET /api/outbox/{name}", s.outboxMail)
	s.mux.HandleFunc("GET /api/outbox/{name}/html", s.outboxHTML)
	s.mux.HandleFunc("GET /api/outbox/{name}/parts/{index}", s.outboxPart)
	s.mux.HandleFunc("GET /api/live", s.live)
	return s, nil
}

// ServeHTTP checks the Host and the CSRF guard, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopbackHost(r.Host) {
		http.Error(w, "the console answers only on a loopback host name", http.StatusMisdirectedRequest)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if r.Header.Get(CSRFHeader) == "" {
			http.Error(w, "missing "+CSRFHeader+" header", http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host != r.Host {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
		}
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Listen opens a loopback listener for the console.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("console: address %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("console: address %q is not a loopback address; the console has no authentication", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return l, nil
}

// Serve serves the console on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, inspect.ErrNotFound) {
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := inspect.Filter{Status: q.Get("status"), Outcome: q.Get("outcome"), MailID: q.Get("mailId"), Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit: " + err.Error()})
			return
		}
		f.Limit = n
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": name + ": " + err.Error()})
				return
			}
			*dst = t
		}
	}
	if err := f.Validate(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	page, err := s.o.Backend.Source.List(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	type row struct {
		inspect.Execution
		Failed   bool   `json:"failed"`
		Summary  string `json:"summary"`
		Duration int64  `json:"durationMs"`
	}
	rows := make([]row, len(page.Executions))
	for i, x := range page.Executions {
		rows[i] = row{Execution: x, Failed: x.Failed(), Summary: x.Summary(), Duration: x.Duration().Milliseconds()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"executions": rows, "nextCursor": page.NextCursor})
}

func (s *Server) getExecution(w http.ResponseWriter, r *http.Request) {
	x, err := s.o.Backend.Source.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	tl := inspect.BuildTimeline(x.Events)
	events := x.Events
	x.Events = nil
	deliveries, err := s.itemDeliveries(r.Context(), x)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"execution": x, "failed": x.Failed(), "timeline": tl, "durationMs": x.Duration().Milliseconds(),
		"deliveries": deliveries, "events": events})
}

// itemDelivery is what the execution page shows of an item's mail.
type itemDelivery struct {
	Summary    workflow.OutcomeEventType   `json:"summary,omitempty"`
	Suppressed bool                        `json:"suppressed,omitempty"`
	Recipients []inspect.DeliveryRecipient `json:"recipients"`
}

// itemDeliveries reads the delivery record of each mail of x, by mailId;
// nil when delivery feedback is not configured.
func (s *Server) itemDeliveries(ctx context.Context, x *inspect.Execution) (map[string]itemDelivery, error) {
	if s.o.Backend.Deliveries == nil {
		return nil, nil
	}
	out := map[string]itemDelivery{}
	for _, it := range x.Items {
		if _, done := out[it.MailID]; it.MailID == "" || done {
			continue
		}
		d, ok, err := inspect.DeliveryOf(ctx, it.MailID, s.o.Backend.Deliveries, nil, s.o.Clock.Now())
		if err != nil {
			return nil, err
		}
		if ok {
			out[it.MailID] = itemDelivery{Summary: d.Summary, Suppressed: d.Suppressed, Recipients: d.Recipients}
		}
	}
	return out, nil
}

func (s *Server) deliveryCounts(w http.ResponseWriter, r *http.Request) {
	if s.o.Counts == nil {
		writeJSON(w, http.StatusOK, map[string]any{"enabled": false})
		return
	}
	c, err := s.o.Counts.DeliveryCounts(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"enabled": true, "byState": c.ByState, "suppressed": c.Suppressed})
}

func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	var req struct {
		FailedOnly     bool `json:"failedOnly"`
		RetryPermanent bool `json:"retryPermanent"`
	}
	if r.Body != nil {
		_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req)
	}
	x, err := s.o.Backend.Source.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	// Never forced from a browser: sending a mail whose outcome is unknown
	// again is an operator's decision at the command line. Retrying a
	// permanent failure is allowed: that mail was not sent.
	o := inspect.ReplayOptions{FailedOnly: req.FailedOnly, RetryPermanent: req.RetryPermanent}
	results, err := inspect.Replay(r.Context(), x, o, s.o.Backend.Queues, s.o.Backend.Locks, s.o.Clock.Now(), nil)
	if errors.Is(err, inspect.ErrOutcomeUnknown) {
		writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "results": results})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "results": results})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

func (s *Server) queues(w http.ResponseWriter, r *http.Request) {
	d, err := s.o.Backend.Queues.Depths(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) mail(w http.ResponseWriter, r *http.Request) {
	st, err := inspect.Mail(r.Context(), r.PathValue("id"), s.o.Backend, s.o.Clock.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// live streams the hub's events as server-sent events.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, cancel := s.o.Hub.subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n: connected\n\n")
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second) // keeps the browser's connection open: wall time
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-ch:
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.kind, m.data)
			flusher.Flush()
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			flusher.Flush()
		}
	}
}
