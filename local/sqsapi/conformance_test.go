package sqsapi_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/gateway"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/testkit/sqstest"
)

// harness runs the endpoint over its own database file and virtual clock,
// alone or behind the gateway router that `mailflow dev` serves it with.
// Restart closes the store and opens the file again behind the same
// listener, as a restarted process would.
type harness struct {
	path   string
	routed bool
	clock  *clock.Virtual
	mu     sync.RWMutex
	store  *sqsstore.Store
	h      http.Handler
	srv    *httptest.Server
	client *sqs.Client
}

var (
	_ sqstest.Harness   = (*harness)(nil)
	_ sqstest.Restarter = (*harness)(nil)
)

func newHarness(t *testing.T, transport http.RoundTripper, routed bool) sqstest.Harness {
	h := &harness{
		routed: routed,
		path:   filepath.Join(t.TempDir(), "queues.db"),
		clock:  clock.NewVirtual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
	}
	h.open(t)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.RLock()
		handler := h.h
		h.mu.RUnlock()
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		h.srv.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		h.store.Close()
	})
	h.client = newClient(h.srv.URL, transport)
	return h
}

// testCreds sign every request of the tests.
var testCreds = aws.Credentials{AccessKeyID: "AKIDLOCAL", SecretAccessKey: "secret"}

// newClient returns an SDK client for the endpoint; transport nil is the
// JSON protocol, sqstest.QueryProtocol the query protocol.
func newClient(endpoint string, transport http.RoundTripper) *sqs.Client {
	var hc sqs.HTTPClient
	if transport != nil {
		hc = &http.Client{Transport: transport}
	}
	return sqs.New(sqs.Options{
		HTTPClient:   hc,
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.StaticCredentialsProvider{Value: testCreds},
		Retryer:      aws.NopRetryer{},
	})
}

func (h *harness) open(t *testing.T) {
	t.Helper()
	s, err := sqsstore.Open(h.path, sqsstore.Options{Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	h.store = s
	h.h = sqsapi.New(s, sqsapi.Options{})
	if h.routed {
		// Behind the router with credentials, every request of the suite
		// has its signature verified.
		h.h = gateway.Router{SQS: h.h, Policy: gateway.Policy{Verifier: gateway.Verifier{
			AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: testCreds.SecretAccessKey}}}
	}
}

func (h *harness) Client() *sqs.Client { return h.client }

func (h *harness) Advance(_ *testing.T, d time.Duration) { h.clock.Advance(d) }

func (h *harness) AwaitWaiting(t *testing.T) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changed := h.clock.Changed()
		if h.clock.Pending() > 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("no long poll started waiting")
		}
	}
}

func (h *harness) Restart(t *testing.T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	h.open(t)
}

// TestConformance runs the SQS suite through both protocols the endpoint
// serves, JSON (which the SDK speaks) and query (which the SDK's requests
// are translated to, and its answers back from), on the bare handler and
// behind the gateway router of the local runtime.
func TestConformance(t *testing.T) {
	t.Parallel()
	protocols := map[string]http.RoundTripper{"JSON": nil, "Query": sqstest.QueryProtocol(nil, testCreds)}
	for _, routed := range []bool{false, true} {
		for name, transport := range protocols {
			if routed {
				name += "BehindRouter"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				sqstest.Run(t, func(t *testing.T) sqstest.Harness { return newHarness(t, transport, routed) })
			})
		}
	}
}
