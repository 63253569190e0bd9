package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/mailflow/mailflow/local/gateway"
	"github.com/mailflow/mailflow/local/s3local"
	"github.com/mailflow/mailflow/testkit"
)

var (
	goodCreds = aws.Credentials{AccessKeyID: "AKIDTEAM", SecretAccessKey: "team-secret"}
	verifier  = gateway.Verifier{AccessKeyID: goodCreds.AccessKeyID, SecretAccessKey: goodCreds.SecretAccessKey}
)

// sqsJSON is a signed SQS JSON-protocol request, as the SDK sends it.
func sqsJSON(t *testing.T, creds aws.Credentials, body string, at time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4566/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	hash := sha(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hash, "sqs", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	r.Body = io.NopCloser(strings.NewReader(body))
	return r
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func code(err error) string {
	var se *gateway.SignatureError
	if errors.As(err, &se) {
		return se.Code
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// TestVerifierChecksSignatures: an SDK-signed request passes; a tampered
// body, header or query, an old or future date, a wrong secret or key
// fail, each with its AWS error code.
func TestVerifierChecksSignatures(t *testing.T) {
	t.Parallel()
	now := time.Now()
	const body = `{"QueueUrl":"http://127.0.0.1:4566/000000000000/q","MessageBody":"hi"}`
	wrongSecret := goodCreds
	wrongSecret.SecretAccessKey = "guess"
	wrongKey := goodCreds
	wrongKey.AccessKeyID = "AKIDOTHER"
	for name, tc := range map[string]struct {
		r    func() *http.Request
		want string
	}{
		"SDK-signed": {func() *http.Request { return sqsJSON(t, goodCreds, body, now) }, "ok"},
		"tampered body": {func() *http.Request {
			r := sqsJSON(t, goodCreds, body, now)
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "hi", "pwned", 1)))
			return r
		}, "SignatureDoesNotMatch"},
		"tampered header": {func() *http.Request {
			r := sqsJSON(t, goodCreds, body, now)
			r.Header.Set("X-Amz-Target", "AmazonSQS.PurgeQueue")
			return r
		}, "SignatureDoesNotMatch"},
		"tampered query": {func() *http.Request {
			r := sqsJSON(t, goodCreds, body, now)
			r.URL.RawQuery = "Action=DeleteQueue"
			return r
		}, "SignatureDoesNotMatch"},
		"signed header dropped": {func() *http.Request {
			r := sqsJSON(t, goodCreds, body, now)
			r.Header.Del("X-Amz-Target")
			return r
		}, "IncompleteSignature"},
		"expired date": {func() *http.Request { return sqsJSON(t, goodCreds, body, now.Add(-16*time.Minute)) }, "SignatureDoesNotMatch"},
		"future date":  {func() *http.Request { return sqsJSON(t, goodCreds, body, now.Add(16*time.Minute)) }, "SignatureDoesNotMatch"},
		"wrong secret": {func() *http.Request { return sqsJSON(t, wrongSecret, body, now) }, "SignatureDoesNotMatch"},
		"wrong key":    {func() *http.Request { return sqsJSON(t, wrongKey, body, now) }, "InvalidClientTokenId"},
		"unsigned": {func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "http://127.0.0.1/?Action=ListQueues", nil)
		}, "MissingAuthenticationToken"},
		"sigv2": {func() *http.Request {
			r := sqsJSON(t, goodCreds, body, now)
			r.Header.Set("Authorization", "AWS AKID:c2ln")
			return r
		}, "IncompleteSignature"},
		"forged fields": {func() *http.Request { return forgedPresign(now, "sqs") }, "SignatureDoesNotMatch"},
	} {
		if got := code(verifyErr(verifier, tc.r())); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func verifyErr(v gateway.Verifier, r *http.Request) error {
	_, err := v.Verify(r, 1<<20)
	return err
}

// forgedPresign is a GET URL a web page could build: well formed, with a
// made-up signature.
func forgedPresign(now time.Time, service string) *http.Request {
	q := url.Values{
		"Action": {"PurgeQueue"}, "QueueUrl": {"http://127.0.0.1:4566/000000000000/q"},
		"X-Amz-Algorithm": {"AWS4-HMAC-SHA256"}, "X-Amz-Credential": {"AKIDTEAM/" + now.UTC().Format("20060102") + "/us-east-1/" + service + "/aws4_request"},
		"X-Amz-Date": {now.UTC().Format("20060102T150405Z")}, "X-Amz-Expires": {"300"}, "X-Amz-SignedHeaders": {"host"},
		"X-Amz-Signature": {strings.Repeat("ab", 32)},
	}
	return httptest.NewRequest(http.MethodGet, "http://127.0.0.1:4566/?"+q.Encode(), nil)
}

// TestVerifierWithoutCredentials: without credentials any key and secret
// pass, but the signature must still be well formed and recent.
func TestVerifierWithoutCredentials(t *testing.T) {
	t.Parallel()
	var v gateway.Verifier
	now := time.Now()
	anyone := aws.Credentials{AccessKeyID: "whoever", SecretAccessKey: "whatever"}
	if err := verifyErr(v, sqsJSON(t, anyone, "{}", now)); err != nil {
		t.Fatalf("well-formed signature: %v", err)
	}
	if got := code(verifyErr(v, sqsJSON(t, anyone, "{}", now.Add(-time.Hour)))); got != "SignatureDoesNotMatch" {
		t.Errorf("an hour-old signature: %s", got)
	}
	if got := code(verifyErr(v, httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", nil))); got != "MissingAuthenticationToken" {
		t.Errorf("unsigned: %s", got)
	}
	r := sqsJSON(t, anyone, "{}", now)
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=", "SignedHeaders=a;", 1))
	if got := code(verifyErr(v, r)); got != "IncompleteSignature" {
		t.Errorf("a signed header missing from the request: %s", got)
	}
}

// TestVerifierS3: real S3 SDK requests (a hashed PUT, a presigned GET)
// pass; a tampered body and an expired presigned URL fail.
func TestVerifierS3(t *testing.T) {
	t.Parallel()
	var captured []*http.Request
	var bodies [][]byte
	capture := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		captured, bodies = append(captured, r), append(bodies, b)
		w.Header().Set("ETag", `"x"`)
	})
	hs := httptest.NewServer(capture)
	defer hs.Close()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), UsePathStyle: true,
		Credentials: credentials.StaticCredentialsProvider{Value: goodCreds}})
	ctx := context.Background()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("dir/a b+c.txt"), Body: strings.NewReader("content")}); err != nil {
		t.Fatal(err)
	}
	replay := func(i int, body []byte) *http.Request {
		r := captured[i].Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(body))
		return r
	}
	if err := verifyErr(verifier, replay(0, bodies[0])); err != nil {
		t.Fatalf("SDK PutObject: %v", err)
	}
	if got := code(verifyErr(verifier, replay(0, []byte("CONTENT")))); got != "SignatureDoesNotMatch" {
		t.Errorf("PutObject with another body: %s", got)
	}
	pre, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("dir/a b+c.txt")},
		s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, pre.URL, nil)
	if err := verifyErr(verifier, r); err != nil {
		t.Fatalf("presigned GET: %v", err)
	}
	late := gateway.Verifier{AccessKeyID: verifier.AccessKeyID, SecretAccessKey: verifier.SecretAccessKey,
		Now: func() time.Time { return time.Now().Add(2 * time.Minute) }}
	if got := code(verifyErr(late, httptest.NewRequest(http.MethodGet, pre.URL, nil))); got != "RequestExpired" {
		t.Errorf("presigned GET after it expired: %s", got)
	}
	other := strings.Replace(pre.URL, "a%20b", "a%20c", 1)
	if got := code(verifyErr(verifier, httptest.NewRequest(http.MethodGet, other, nil))); got != "SignatureDoesNotMatch" {
		t.Errorf("presigned GET of another key: %s", got)
	}
}

// TestHostCheck: only loopback names and the configured host reach the
// endpoint; a rebound DNS name gets 421.
func TestHostCheck(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, tc := range []struct {
		addr, host string
		want       int
	}{
		{"127.0.0.1:4566", "127.0.0.1:4566", 200},
		{"127.0.0.1:4566", "localhost:4566", 200},
		{"127.0.0.1:4566", "127.9.8.7:4566", 200},
		{"127.0.0.1:4566", "[::1]:4566", 200},
		{"127.0.0.1:4566", "evil.example:4566", 421},
		{"127.0.0.1:4566", "localhost.evil.example:4566", 421},
		{"127.0.0.1:4566", "10.0.0.5:4566", 421},
		{"", "evil.example", 421},
		{"10.0.0.5:4566", "10.0.0.5:4566", 200},
		{"dev.box.internal:4566", "dev.box.internal:4566", 200},
		{"dev.box.internal:4566", "evil.example:4566", 421},
		{"0.0.0.0:4566", "192.168.1.20:4566", 200},
		{"0.0.0.0:4566", "evil.example:4566", 421},
	} {
		r := sqsJSON(t, goodCreds, "{}", time.Now())
		r.Host = tc.host
		w := httptest.NewRecorder()
		gateway.Router{SQS: ok, Policy: gateway.Policy{Addr: tc.addr}}.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("addr %q, Host %q: %d %s, want %d", tc.addr, tc.host, w.Code, w.Body, tc.want)
		}
		if tc.want == 421 && !strings.Contains(w.Body.String(), "MisdirectedRequest") {
			t.Errorf("Host %q: the refusal is not an SQS error: %s", tc.host, w.Body)
		}
	}
}

// TestCORS: no CORS by default, not even from S3 (gofakes3 answers
// Access-Control-Allow-Origin: * on its own); with an allow-list, preflights
// and requests of those origins only.
func TestCORS(t *testing.T) {
	t.Parallel()
	bucket, err := s3local.Open(t.TempDir(), "bucket-1")
	if err != nil {
		t.Fatal(err)
	}
	const app = "http://app.local:3000"
	get := func(p gateway.Policy, origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:4566/bucket-1", nil)
		if err := testkit.SignV4(r, goodCreds, "s3"); err != nil {
			t.Fatal(err)
		}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		gateway.Router{S3: bucket, Policy: p}.ServeHTTP(w, r)
		return w
	}
	preflight := func(p gateway.Policy, origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodOptions, "http://127.0.0.1:4566/bucket-1/k", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "PUT")
		r.Header.Set("Access-Control-Request-Headers", "authorization, x-amz-date, x-amz-content-sha256")
		w := httptest.NewRecorder()
		gateway.Router{S3: bucket, Policy: p}.ServeHTTP(w, r)
		return w
	}
	none := gateway.Policy{}
	if w := get(none, ""); w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("signed GET without an origin: %d, Access-Control-Allow-Origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	if w := get(none, app); w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from an origin not allowed: %d, Access-Control-Allow-Origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	if w := preflight(none, app); w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight with no allow-list: %d %v", w.Code, w.Header())
	}
	allow := gateway.Policy{CORSOrigins: []string{app}}
	w := preflight(allow, app)
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != app || !strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "authorization") {
		t.Errorf("preflight of an allowed origin: %d %v", w.Code, w.Header())
	}
	if w := preflight(allow, "http://app.local:3001"); w.Code != 403 {
		t.Errorf("preflight of another origin: %d", w.Code)
	}
	if w := get(allow, app); w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != app {
		t.Errorf("GET of an allowed origin: %d, Access-Control-Allow-Origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	for _, bad := range []string{"*", "app.local:3000", "http://app.local:3000/", "http://app.local:3000/x", "ftp://a", "http://", "HTTP://APP.LOCAL"} {
		if err := gateway.ValidateOrigin(bad); err == nil {
			t.Errorf("ValidateOrigin(%q) accepted it", bad)
		}
	}
	for _, good := range []string{app, "https://localhost", "http://[::1]:8080"} {
		if err := gateway.ValidateOrigin(good); err != nil {
			t.Errorf("ValidateOrigin(%q): %v", good, err)
		}
	}
}

// TestRouterRefusesUnsignedWithServiceErrors: unsigned requests get 403
// in the shape their SDK decodes: SQS JSON, SQS query XML, S3 XML.
func TestRouterRefusesUnsignedWithServiceErrors(t *testing.T) {
	t.Parallel()
	bucket, err := s3local.Open(t.TempDir(), "bucket-1")
	if err != nil {
		t.Fatal(err)
	}
	reached := false
	sqsEndpoint := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true })
	hs := httptest.NewServer(gateway.Router{SQS: sqsEndpoint, S3: bucket})
	defer hs.Close()
	json := func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, hs.URL+"/", strings.NewReader("{}"))
		r.Header.Set("X-Amz-Target", "AmazonSQS.PurgeQueue")
		r.Header.Set("Content-Type", "application/x-amz-json-1.0")
		return r
	}
	query := func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, hs.URL+"/", strings.NewReader("Action=DeleteQueue&QueueUrl=x"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	object := func() *http.Request { r, _ := http.NewRequest(http.MethodGet, hs.URL+"/bucket-1/k", nil); return r }
	for name, tc := range map[string]struct {
		r     *http.Request
		ctype string
		want  []string
	}{
		"SQS JSON":  {json(), "application/x-amz-json-1.0", []string{`"__type"`, "MissingAuthenticationToken"}},
		"SQS query": {query(), "text/xml", []string{"<ErrorResponse", "<Code>MissingAuthenticationToken</Code>"}},
		"S3":        {object(), "application/xml", []string{"<Code>AccessDenied</Code>"}},
	} {
		res, err := http.DefaultClient.Do(tc.r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 403 || res.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("%s: %d %s", name, res.StatusCode, res.Header.Get("Content-Type"))
		}
		for _, w := range tc.want {
			if !strings.Contains(string(b), w) && !strings.Contains(res.Header.Get("x-amzn-query-error"), w) {
				t.Errorf("%s: %s lacks %s", name, b, w)
			}
		}
	}
	if reached {
		t.Error("an unsigned request reached the SQS endpoint")
	}
	// The SDK decodes the refusal as an API error with the code.
	sqsc := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{}})
	_, err = sqsc.ListQueues(context.Background(), &sqs.ListQueuesInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "MissingAuthenticationToken" {
		t.Errorf("SDK with anonymous credentials: %v", err)
	}
}

// FuzzParseAuthorization: the Authorization parser never panics, and what
// it accepts is well formed.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260301/us-east-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0a", 32))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request,SignedHeaders=host,Signature=x")
	f.Add("AWS AKID:sig")
	f.Add("AWS4-HMAC-SHA256 ,,,===")
	f.Fuzz(func(t *testing.T, h string) {
		s, err := gateway.ParseAuthorization(h)
		if err != nil {
			return
		}
		if s.AccessKeyID == "" || len(s.Date) != 8 || s.Region == "" || s.Service == "" || len(s.Signature) != 64 {
			t.Fatalf("accepted %q as %+v", h, s)
		}
		host := false
		for i, sh := range s.SignedHeaders {
			host = host || sh == "host"
			if sh == "" || strings.ToLower(sh) != sh || (i > 0 && s.SignedHeaders[i-1] >= sh) {
				t.Fatalf("accepted signed headers %q", s.SignedHeaders)
			}
		}
		if !host {
			t.Fatalf("accepted %q without host signed", h)
		}
	})
}
