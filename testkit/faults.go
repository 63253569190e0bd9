package testkit

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// Fault is one scripted answer of a [FaultProxy].
type Fault struct {
	Status int               // HTTP status to answer with
	Header map[string]string // response headers
	Body   string            // response body
	Drop   bool              // close the connection without answering
	Pass   bool              // forward this request to the target as usual
}

// Faults is what a test arms: a FaultProxy in front of an emulator, or a
// probe in front of an in-memory port.
type Faults interface {
	Arm(faults ...Fault)
	Hits() int
}

// FaultQueue holds the faults armed for the next calls, in order, and counts
// the calls that reach it. FaultProxy answers HTTP requests with it; the
// in-memory probes of testkit/tasktest answer port calls with it.
type FaultQueue struct {
	mu     sync.Mutex
	faults []Fault
	hits   int
}

// Arm queues faults for the next calls.
func (q *FaultQueue) Arm(faults ...Fault) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.faults = append(q.faults, faults...)
}

// Hits is the number of calls that have reached the queue.
func (q *FaultQueue) Hits() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.hits
}

// Next counts one call and takes the fault armed for it; ok is false when
// none is armed.
func (q *FaultQueue) Next() (f Fault, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.hits++
	if len(q.faults) == 0 {
		return Fault{}, false
	}
	f = q.faults[0]
	q.faults = q.faults[1:]
	return f, true
}

// FaultProxy is a reverse proxy on a loopback port in front of an emulator.
// Armed faults answer the next requests in order instead of the emulator;
// with none armed, requests pass through.
type FaultProxy struct {
	URL string
	FaultQueue
}

// NewFaultProxy starts a proxy to target; it is stopped when the test ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("testkit: proxy target %q: %v", target, err)
	}
	p := &FaultProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, armed := p.Next()
		if !armed || f.Pass {
			rp.ServeHTTP(w, r)
			return
		}
		if f.Drop {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		for k, v := range f.Header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// SESError is the answer SES v2 (REST-JSON) gives for an exception type.
func SESError(status int, errType, message string) Fault {
	return Fault{
		Status: status,
		Header: map[string]string{"Content-Type": "application/json", "X-Amzn-ErrorType": errType},
		Body:   `{"message":"` + message + `"}`,
	}
}
