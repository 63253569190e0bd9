package sqsapi

import (
	"net"
	"net/http"
	"time"
)

// Listen opens a TCP listener for the endpoint (serve the handler on it
// behind gateway.Router, which authenticates requests), on loopback unless the
// address names another host: "" means 127.0.0.1 on a free port, and an
// address without a host (":4566") means 127.0.0.1 on that port, never every
// interface.
func Listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.Listen("tcp", net.JoinHostPort(host, port))
}

// NewServer wraps h in an http.Server with timeouts suited to SQS: headers
// must arrive promptly, while answers may take the 20 seconds of a long poll.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}
