package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/local/gateway"
)

// opsRouter is a router whose operator endpoints answer "ops" and whose S3
// answers "s3", with a non-loopback configured address (as with
// mailflow dev --allow-non-loopback).
func opsRouter() gateway.Router {
	answer := func(s string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, s) })
	}
	return gateway.Router{Ops: answer("ops"), S3: answer("s3"), SQS: answer("sqs"), Policy: gateway.Policy{Addr: "0.0.0.0:4580"}}
}

func opsRequest(method, target string, header map[string]string, remote string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

func TestOperatorEndpointsServeOnlyLoopbackGET(t *testing.T) {
	t.Parallel()
	const local = "127.0.0.1:50000"
	for name, tc := range map[string]struct {
		r      *http.Request
		status int
		body   string
	}{
		"healthz":          {opsRequest(http.MethodGet, "http://127.0.0.1:4580/healthz", nil, local), 200, "ops"},
		"metrics":          {opsRequest(http.MethodGet, "http://localhost:4580/metrics", nil, local), 200, "ops"},
		"metrics over ::1": {opsRequest(http.MethodGet, "http://[::1]:4580/metrics", nil, "[::1]:50000"), 200, "ops"},
		// A browser page: a fetch, a link or an image from another site.
		"foreign Origin": {opsRequest(http.MethodGet, "http://127.0.0.1:4580/metrics",
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}, local), 403, "cross-site"},
		"cross-site no-cors": {opsRequest(http.MethodGet, "http://127.0.0.1:4580/healthz",
			map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}, local), 403, "cross-site"},
		"same-site page": {opsRequest(http.MethodGet, "http://127.0.0.1:4580/healthz",
			map[string]string{"Sec-Fetch-Site": "same-site"}, local), 403, "cross-site"},
		// DNS rebinding: a name pointed at 127.0.0.1.
		"rebound name": {opsRequest(http.MethodGet, "http://evil.example:4580/metrics", nil, local), 421, "Host"},
		// The configured address accepts any IP for SQS and S3, not here.
		"non-loopback Host": {opsRequest(http.MethodGet, "http://192.0.2.10:4580/metrics", nil, local), 421, "loopback"},
		"remote peer":       {opsRequest(http.MethodGet, "http://127.0.0.1:4580/metrics", nil, "192.0.2.7:40000"), 403, "this machine"},
		"POST":              {opsRequest(http.MethodPost, "http://127.0.0.1:4580/healthz", nil, local), 405, "GET only"},
		"HEAD":              {opsRequest(http.MethodHead, "http://127.0.0.1:4580/healthz", nil, local), 405, ""},
		// Signed, it is an S3 request for a bucket of that name: its
		// signature is checked.
		"signed": {opsRequest(http.MethodGet, "http://127.0.0.1:4580/metrics",
			map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AK/20261125/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"}, local), 400, "AuthorizationHeaderMalformed"},
		"other path": {opsRequest(http.MethodGet, "http://127.0.0.1:4580/metrics/x", nil, local), 403, "AccessDenied"},
	} {
		w := httptest.NewRecorder()
		opsRouter().ServeHTTP(w, tc.r)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s: %d %q, want %d containing %q", name, w.Code, w.Body.String(), tc.status, tc.body)
		}
		if tc.status == 405 && w.Header().Get("Allow") != http.MethodGet {
			t.Errorf("%s: Allow %q", name, w.Header().Get("Allow"))
		}
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", name, got)
		}
	}
}

// An origin allowed to call SQS and S3 gets no CORS headers from the
// operator endpoints: its page cannot read them.
func TestOperatorEndpointsGiveAllowedOriginsNoCORS(t *testing.T) {
	t.Parallel()
	rt := opsRouter()
	rt.Policy.CORSOrigins = []string{"http://app.local:3000"}
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, opsRequest(http.MethodGet, "http://127.0.0.1:4580/metrics", map[string]string{"Origin": "http://app.local:3000"}, "127.0.0.1:5"))
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("%d, Access-Control-Allow-Origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
}
