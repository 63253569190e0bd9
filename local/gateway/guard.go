package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Policy is what the router accepts besides the protocols: which Host
// names, which browser origins, which signatures. The zero Policy is the
// strictest: loopback hosts only, no CORS, well-formed signatures.
type Policy struct {
	// Addr is the address the endpoint was configured with (host:port or
	// host). Its host is accepted as a Host besides the loopback ones; an
	// unspecified one (0.0.0.0, ::) accepts any IP address, never a DNS
	// name, which is what rebinding needs.
	Addr string
	// CORSOrigins are the browser origins ("http://app.local:3000") whose
	// requests are accepted and answered with CORS headers, preflights
	// included. Check them with ValidateOrigin.
	CORSOrigins []string
	// Verifier checks signatures; with credentials it verifies them.
	Verifier Verifier
}

// ValidateOrigin checks that o is a browser origin: scheme http or https,
// a host, an optional port, nothing else.
func ValidateOrigin(o string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("CORS origin %q is not an origin: %s", o, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(o)
	switch {
	case err != nil:
		return bad("%v", err)
	case strings.Contains(o, "*"):
		return bad("wildcards are not accepted; name each origin")
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("the scheme must be http or https")
	case u.Hostname() == "" || u.User != nil || u.Opaque != "":
		return bad("want scheme://host[:port]")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#"):
		return bad("it has a path, query or fragment; an origin is only scheme://host[:port]")
	case o != strings.ToLower(o):
		return bad("browsers send origins in lower case")
	}
	return nil
}

// hostName is the host of a Host header, without port, brackets or a
// trailing dot.
func hostName(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.Trim(host, "[]"), ".")
}

// loopbackHost tells whether a Host header names localhost or a loopback
// address.
func loopbackHost(hostport string) bool {
	host := hostName(hostport)
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackPeer tells whether a request's remote address is a loopback one.
func loopbackPeer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostAllowed tells whether a request's Host names this endpoint.
func (p Policy) hostAllowed(hostport string) bool {
	if loopbackHost(hostport) {
		return true
	}
	host := hostName(hostport)
	ip := net.ParseIP(host)
	configured := p.Addr
	if h, _, err := net.SplitHostPort(configured); err == nil {
		configured = h
	}
	configured = strings.Trim(configured, "[]")
	if configured == "" {
		return false
	}
	if cip := net.ParseIP(configured); cip != nil && cip.IsUnspecified() {
		return ip != nil
	}
	if ip != nil {
		return ip.Equal(net.ParseIP(configured))
	}
	return strings.EqualFold(host, configured)
}

// originAllowed tells whether origin is on the CORS allow-list.
func (p Policy) originAllowed(origin string) bool {
	return origin != "" && slices.Contains(p.CORSOrigins, origin)
}

// crossSite says why a browser marks r as sent by a page of another site
// (or origin), "" when it does not. A request with an Origin header is
// refused unless that origin is allowed: no SDK or CLI sends one, and the
// endpoint serves no page of its own (objects carry a CSP sandbox). A
// request with Sec-Fetch-Site other than "none" (typed by the user) or
// "same-origin" comes from another site's page.
func (p Policy) crossSite(r *http.Request) string {
	origin := r.Header.Get("Origin")
	if origin != "" {
		if p.originAllowed(origin) {
			return ""
		}
		return fmt.Sprintf("Origin %q is not allowed (mailflow dev --cors-origin adds one)", truncate(origin))
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "none", "same-origin":
		return ""
	default:
		return fmt.Sprintf("the browser marks this request Sec-Fetch-Site: %s, sent by a page of another site", truncate(site))
	}
}

// corsMethods and exposed headers answered to allowed origins.
const (
	corsMethods = "GET, HEAD, PUT, POST, DELETE"
	corsExpose  = "ETag, x-amz-request-id, x-amz-version-id, x-amz-delete-marker, x-amzn-RequestId, x-amzn-query-error, Content-Length, Content-Type"
)

// preflight answers a CORS preflight: for an allowed origin with the
// methods and the requested headers; for any other, 403.
func (p Policy) preflight(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if !p.originAllowed(origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", corsMethods)
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" && validTokens(req) {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// validTokens tells whether s is a comma-separated list of header names.
func validTokens(s string) bool {
	for part := range strings.SplitSeq(s, ",") {
		t := strings.TrimSpace(part)
		if t == "" || strings.ContainsFunc(t, func(c rune) bool {
			return c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c)
		}) {
			return false
		}
	}
	return true
}

// allowOrigin adds the CORS headers of an actual request from an allowed
// origin.
func (p Policy) allowOrigin(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if !p.originAllowed(origin) {
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Add("Vary", "Origin")
	w.Header().Set("Access-Control-Expose-Headers", corsExpose)
}
