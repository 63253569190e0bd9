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

// FaultProxy is a reverse proxy on a loopback port in front of an emulator.
// Armed faults answer the next requests in order instead of the emulator;
// with none armed, requests pass through.
type FaultProxy struct {
	URL string

	mu     sync.Mutex
	faults []Fault
	hits   int
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
		p.mu.Lock()
		p.hits++
		var f *Fault
		if len(p.faults) > 0 {
			f = &p.faults[0]
			p.faults = p.faults[1:]
		}
		p.mu.Unlock()
		if f == nil || f.Pass {
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

// Arm queues faults for the next requests.
func (p *FaultProxy) Arm(faults ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, faults...)
}

// Hits is the number of requests the proxy has seen.
func (p *FaultProxy) Hits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits
}

// SESError is the answer SES v2 (REST-JSON) gives for an exception type.
func SESError(status int, errType, message string) Fault {
	return Fault{
		Status: status,
		Header: map[string]string{"Content-Type": "application/json", "X-Amzn-ErrorType": errType},
		Body:   `{"message":"` + message + `"}`,
	}
}
