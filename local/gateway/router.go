// Package gateway puts the local runtime's AWS-compatible endpoints behind
// one address, so a single AWS_ENDPOINT_URL=http://127.0.0.1:<port> serves
// every SDK client.
//
// Requests are routed by the service named in their SigV4 credential scope
// (".../us-east-1/sqs/aws4_request"), which every SDK sends; unsigned
// requests fall back to the protocol's own marks: the JSON protocol's
// X-Amz-Target, or the query protocol's Action parameter. Everything else is
// S3's REST protocol.
package gateway

import (
	"net/http"
	"strings"
)

// Service names used for routing.
const (
	ServiceSQS = "sqs"
	ServiceS3  = "s3"
)

// Router sends each request to the endpoint of its service.
type Router struct {
	SQS http.Handler
	S3  http.Handler
}

func (rt Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var h http.Handler
	switch ServiceOf(r) {
	case ServiceSQS:
		h = rt.SQS
	case ServiceS3:
		h = rt.S3
	}
	if h == nil {
		http.Error(w, "no local endpoint for this service", http.StatusNotImplemented)
		return
	}
	h.ServeHTTP(w, r)
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
