package testkit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// FakeS3 is an in-process S3 (gofakes3, in memory) on a loopback port, with
// a switch that makes chosen keys answer 403 AccessDenied as a bucket policy
// or KMS key would.
type FakeS3 struct {
	URL string

	mu        sync.Mutex
	forbidden map[string]bool // "bucket/key"
}

// S3 starts a fake S3 holding the given (empty) buckets; it is stopped when
// the test ends. Clients must use path-style addressing.
func S3(t testing.TB, buckets ...string) *FakeS3 {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatalf("testkit: create bucket %s: %v", b, err)
		}
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	return ServeS3(t, faker.Server())
}

// ServeS3 serves another S3 implementation (the local runtime's s3local, say)
// on a loopback port behind the same 403 switch as S3; it is stopped when
// the test ends.
func ServeS3(t testing.TB, inner http.Handler) *FakeS3 {
	t.Helper()
	f := &FakeS3{forbidden: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		denied := f.forbidden[strings.TrimPrefix(r.URL.Path, "/")]
		f.mu.Unlock()
		if denied {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			if r.Method != http.MethodHead {
				_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
			}
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Forbid makes every request for bucket/key answer 403 AccessDenied.
func (f *FakeS3) Forbid(bucket, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forbidden[bucket+"/"+key] = true
}
