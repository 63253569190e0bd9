// Package gateway puts the local runtime's AWS-compatible endpoints behind
// one address, so a single AWS_ENDPOINT_URL=http://127.0.0.1:<port> serves
// every SDK client.
//
// Requests are routed by the service named in their SigV4 credential scope
// (".../us-east-1/sqs/aws4_request"), which every SDK sends; unsigned
// requests fall back to the protocol's own marks: the JSON protocol's
// X-Amz-Target, or the query protocol's Action parameter. Everything else is
// S3's REST protocol.
//
// The router is also the endpoint's only door, so it refuses what a web
// page the developer opens could send (the handlers behind it authenticate
// nothing and must be served only through it). In order:
//
//  1. Host must be a loopback name or address (localhost, 127.0.0.0/8,
//     [::1]) or the configured address's host (Policy.Addr): else 421, so a
//     DNS name rebound to 127.0.0.1 reaches nothing.
//  2. A CORS preflight is answered only for an origin of Policy.CORSOrigins
//     (mailflow dev --cors-origin); any other gets 403. There is no CORS
//     otherwise: no Access-Control-Allow-Origin on any answer.
//  3. A request a browser marks as cross-site is refused (403): an Origin
//     header not on the allow-list (no SDK or CLI sends one), or
//     Sec-Fetch-Site other than none or same-origin.
//  4. Every request must be signed with SigV4, as every SDK and the AWS CLI
//     sign: an Authorization header or a presigned URL. A cross-origin
//     "simple" request (a link, a form, fetch in no-cors mode) cannot carry
//     the header, and a presigned URL a page could forge is caught by 3, or
//     by 5 when the endpoint has credentials. Unsigned: 403
//     MissingAuthenticationToken (SQS, in the JSON or query protocol the
//     request used) or AccessDenied (S3).
//  5. With credentials (Policy.Verifier; mailflow dev --access-key and
//     --secret-key) the signature is recomputed with the SDK's signer and
//     compared in constant time; the body's SHA-256 is checked when the
//     client signed it (UNSIGNED-PAYLOAD and the STREAMING-* aws-chunked
//     forms are accepted as signed, their chunk signatures unchecked).
//     Without, the signature must be well formed: AWS4-HMAC-SHA256, a
//     <key>/<date>/<region>/<service>/aws4_request scope, host signed,
//     every signed header present, X-Amz-Date within 15 minutes of the
//     machine's clock (the one clients sign with; a presigned URL is good
//     until X-Amz-Expires, at most 7 days).
//
// SQS itself (local/sqsapi) takes state-changing actions by POST only.
//
// The operator endpoints (Router.Ops: GET /healthz and GET /metrics) are
// the exception to 4: a monitoring agent does not sign. They are served
// only to an unsigned request for exactly one of those paths (a signed one
// goes to S3 as before, so a bucket of that name stays reachable) that
// passed 1 and 3, and only when, besides, its Host is a loopback name or
// address (not Policy.Addr's host: with a non-loopback address the figures
// stay on this machine), it came from a loopback peer and its method is
// GET (else 405). They change nothing and send no CORS headers, so even an
// allowed origin's page cannot read them.
package gateway

import (
	"net/http"
	"slices"
	"strings"

	"github.com/mailflow/mailflow/local/s3local"
	"github.com/mailflow/mailflow/local/sqsapi"
)

// Service names used for routing.
const (
	ServiceSQS = "sqs"
	ServiceS3  = "s3"
)

// Router sends each request that passes its Policy to the endpoint of its
// service.
type Router struct {
	SQS http.Handler
	S3  http.Handler
	// Ops serves OpsPaths (nil: they are S3 paths like any other).
	Ops    http.Handler
	Policy Policy
}

// OpsPaths are the operator endpoints' paths.
var OpsPaths = []string{"/healthz", "/metrics"}

func (rt Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	service := ServiceOf(r)
	p := rt.Policy
	if !p.hostAllowed(r.Host) {
		refuse(w, r, service, http.StatusMisdirectedRequest, "MisdirectedRequest", "MisdirectedRequest",
			"the local endpoint answers only requests addressed to localhost, a loopback address or "+orNone(p.Addr)+
				", not Host "+truncate(r.Host)+" (a DNS name pointed at this machine is how a web page would reach it)")
		return
	}
	if r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		if !p.preflight(w, r) {
			refuse(w, r, service, http.StatusForbidden, "AccessDenied", "AccessForbidden",
				"CORSResponse: origin "+truncate(r.Header.Get("Origin"))+" is not allowed (mailflow dev --cors-origin adds one)")
		}
		return
	}
	if why := p.crossSite(r); why != "" {
		refuse(w, r, service, http.StatusForbidden, "AccessDenied", "AccessDenied", "cross-site request refused: "+why)
		return
	}
	if rt.Ops != nil && isOps(r) {
		serveOps(rt.Ops, w, r)
		return
	}
	var h http.Handler
	maxBody := int64(sqsapi.MaxRequestBytes)
	switch service {
	case ServiceSQS:
		h = rt.SQS
	case ServiceS3:
		h, maxBody = rt.S3, s3local.MaxObjectBytes
	}
	if h == nil {
		http.Error(w, "no local endpoint for this service", http.StatusNotImplemented)
		return
	}
	if _, err := p.Verifier.Verify(r, maxBody); err != nil {
		e, ok := err.(*SignatureError)
		if !ok {
			e = mismatch("%v", err)
		}
		refuse(w, r, service, e.Status, e.Code, e.S3Code, e.Message)
		return
	}
	p.allowOrigin(w, r)
	h.ServeHTTP(w, r)
}

// isOps tells whether r is for an operator endpoint: one of OpsPaths,
// unsigned.
func isOps(r *http.Request) bool {
	if !slices.Contains(OpsPaths, r.URL.Path) {
		return false
	}
	q := r.URL.Query()
	return r.Header.Get("Authorization") == "" && !q.Has("X-Amz-Credential") && !q.Has("X-Amz-Signature")
}

// serveOps serves an operator endpoint to a loopback peer addressing a
// loopback Host with GET, and refuses anything else.
func serveOps(h http.Handler, w http.ResponseWriter, r *http.Request) {
	switch {
	case !loopbackHost(r.Host):
		http.Error(w, "the operator endpoints answer only requests addressed to localhost or a loopback address, not Host "+truncate(r.Host), http.StatusMisdirectedRequest)
	case !loopbackPeer(r.RemoteAddr):
		http.Error(w, "the operator endpoints answer only requests from this machine, not from "+truncate(r.RemoteAddr), http.StatusForbidden)
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "the operator endpoints take GET only, not "+truncate(r.Method), http.StatusMethodNotAllowed)
	default:
		h.ServeHTTP(w, r)
	}
}

// refuse answers with the error shape of the request's service.
func refuse(w http.ResponseWriter, r *http.Request, service string, status int, code, s3Code, msg string) {
	if service == ServiceSQS {
		sqsapi.WriteError(w, r, status, code, msg)
		return
	}
	s3local.WriteError(w, status, s3Code, msg)
}

func orNone(addr string) string {
	if addr == "" {
		return "no other host"
	}
	return addr
}

// ServiceOf tells which service a request is for: "sqs", "s3" or, for a
// signed request to a service this runtime does not serve, that service's
// name.
func ServiceOf(r *http.Request) string {
	if s := scopeService(r.Header.Get("Authorization")); s != "" {
		return s
	}
	if s := scopeService("Credential=" + r.URL.Query().Get("X-Amz-Credential")); s != "" {
		return s // presigned URL
	}
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.") {
		return ServiceSQS
	}
	if r.URL.Query().Has("Action") {
		return ServiceSQS
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return ServiceSQS
	}
	return ServiceS3
}

// scopeService extracts <service> from "Credential=<key>/<date>/<region>/<service>/aws4_request".
func scopeService(header string) string {
	i := strings.Index(header, "Credential=")
	if i < 0 {
		return ""
	}
	cred := header[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	parts := strings.Split(cred, "/")
	if len(parts) < 5 || parts[len(parts)-1] != "aws4_request" {
		return ""
	}
	return parts[len(parts)-2]
}
