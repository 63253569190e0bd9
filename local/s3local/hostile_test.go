package s3local_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/local/s3local"
)

func serve(t *testing.T) (*s3local.Server, string) {
	t.Helper()
	dir := t.TempDir()
	srv, err := s3local.Open(filepath.Join(dir, "s3"), "bucket-one", "bucket-two")
	if err != nil {
		t.Fatal(err)
	}
	return srv, dir
}

func do(srv http.Handler, method, target, body string, header map[string]string) (int, string) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// TestForgedKeysStayInTheirBucket: keys that would name another bucket,
// the metadata directory or another object on disk are refused with an
// S3-shaped error, and nothing is written outside the bucket.
func TestForgedKeysStayInTheirBucket(t *testing.T) {
	t.Parallel()
	srv, dir := serve(t)
	for _, target := range []string{
		"/bucket-one/..%2Fbucket-two%2Fx",
		"/bucket-one/a/..%2F..%2Fbucket-two%2Fy",
		"/bucket-one/..%2F..%2F..%2Fescape",
		"/bucket-one/..%2Fmetadata%2Fm",
		"/bucket-one/%2Fabsolute",
		"/bucket-one/a%2F%2Fb",
		"/bucket-one/a%5C..%5Cb",
		"/bucket-one/.%2Fdot",
		"/bucket-one/ctl%00x",
	} {
		code, body := do(srv, http.MethodPut, target, "data", nil)
		if code != http.StatusBadRequest || !strings.Contains(body, "<Code>InvalidArgument</Code>") {
			t.Errorf("PUT %s: %d %s, want 400 InvalidArgument", target, code, body)
		}
	}
	code, body := do(srv, http.MethodPut, "/bucket-one/ok/key", "data", map[string]string{"X-Amz-Copy-Source": "/bucket-one/..%2Fbucket-two%2Fsecret"})
	if code != http.StatusBadRequest || !strings.Contains(body, "InvalidArgument") {
		t.Errorf("copy from a forged source: %d %s", code, body)
	}
	for _, p := range []string{"s3/buckets/bucket-two/x", "s3/buckets/bucket-two/y", "s3/buckets/metadata", "escape"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s was written", p)
		}
	}
	// A plain key still works.
	if code, body := do(srv, http.MethodPut, "/bucket-one/attachments/1/a.txt", "data", nil); code != http.StatusOK {
		t.Fatalf("PUT of a plain key: %d %s", code, body)
	}
	if code, body := do(srv, http.MethodGet, "/bucket-one/attachments/1/a.txt", "", nil); code != http.StatusOK || body != "data" {
		t.Fatalf("GET of a plain key: %d %q", code, body)
	}
}

// TestBodyLimit: an upload larger than MaxObjectBytes is refused as S3
// does (EntityTooLarge), before the backend reads it.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t)
	req := httptest.NewRequest(http.MethodPut, "/bucket-one/attachments/huge", strings.NewReader("x"))
	req.ContentLength = s3local.MaxObjectBytes + 1
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "<Code>EntityTooLarge</Code>") {
		t.Fatalf("%d %s, want 400 EntityTooLarge", rec.Code, rec.Body.String())
	}
}

// FuzzRequest sends arbitrary S3 requests: the endpoint never panics,
// answers every request, and never writes outside its buckets.
func FuzzRequest(f *testing.F) {
	f.Add("PUT", "/bucket-one/attachments/a.txt", "", "hello")
	f.Add("GET", "/bucket-one?list-type=2&prefix=attachments/", "", "")
	f.Add("POST", "/bucket-one/big?uploads", "", "")
	f.Add("PUT", "/bucket-one/k?partNumber=1&uploadId=x", "", "part")
	f.Add("PUT", "/bucket-one/copy", "/bucket-two/x", "")
	f.Add("DELETE", "/bucket-one/a", "", "")
	f.Add("POST", "/bucket-one?delete", "", "<Delete><Object><Key>../x</Key></Object></Delete>")
	f.Add("HEAD", "/bucket-two/..%2Fbucket-one%2Fa", "", "")
	dir := f.TempDir()
	srv, err := s3local.Open(filepath.Join(dir, "s3"), "bucket-one", "bucket-two")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target, copySource, body string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Length", strconv.Itoa(len(body)))
		if copySource != "" {
			req.Header.Set("X-Amz-Copy-Source", copySource)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code == 0 {
			t.Fatal("no answer")
		}
		entries, _ := os.ReadDir(filepath.Join(dir, "s3", "buckets"))
		for _, e := range entries {
			if ok, _ := srv.Backend().BucketExists(e.Name()); !ok {
				t.Fatalf("%s %s wrote %s, which is no bucket", method, target, e.Name())
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("%s %s wrote beside the s3 directory: %v", method, target, entries)
		}
	})
}
