package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Algorithm is the only signing algorithm the endpoint accepts.
const Algorithm = "AWS4-HMAC-SHA256"

// MaxClockSkew is how far the time a request was signed at may be from the
// machine's clock, as on AWS.
const MaxClockSkew = 15 * time.Minute

// maxPresignExpiry is the longest life of a presigned URL (7 days), as on AWS.
const maxPresignExpiry = 7 * 24 * time.Hour

const amzTimeFormat = "20060102T150405Z"

// Payload hashes that stand for a body not covered by the signature
// (presigned URLs, aws-chunked uploads whose chunks carry their own
// signatures or a trailing checksum).
var unsignedPayloads = []string{
	"UNSIGNED-PAYLOAD",
	"STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
	"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
	"STREAMING-UNSIGNED-PAYLOAD-TRAILER",
}

// Signature is a parsed SigV4 signature, from an Authorization header or
// a presigned URL's query.
type Signature struct {
	AccessKeyID   string
	Date          string // YYYYMMDD of the credential scope
	Region        string
	Service       string
	SignedHeaders []string // lower case, sorted, "host" among them
	Signature     string   // 64 lower-case hex digits
	Presigned     bool
}

// SignatureError is a request whose signature is missing or not
// acceptable. Code is the AWS common error code (the one SQS answers), S3Code
// S3's for the same failure.
type SignatureError struct {
	Status  int
	Code    string
	S3Code  string
	Message string
}

func (e *SignatureError) Error() string { return e.Code + ": " + e.Message }

func malformed(format string, args ...any) *SignatureError {
	return &SignatureError{Status: http.StatusBadRequest, Code: "IncompleteSignature", S3Code: "AuthorizationHeaderMalformed",
		Message: fmt.Sprintf(format, args...)}
}

func mismatch(format string, args ...any) *SignatureError {
	return &SignatureError{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch", S3Code: "SignatureDoesNotMatch",
		Message: fmt.Sprintf(format, args...)}
}

// errMissingSignature is the answer to an unsigned request.
var errMissingSignature = &SignatureError{Status: http.StatusForbidden, Code: "MissingAuthenticationToken", S3Code: "AccessDenied",
	Message: "Request is missing Authentication Token: the local endpoint accepts only requests signed with AWS Signature Version 4 " +
		"(an Authorization header or a presigned URL), as every AWS SDK and the AWS CLI send them"}

// ParseAuthorization parses an Authorization header of the form
// "AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request,
// SignedHeaders=<h1;h2>, Signature=<hex>".
func ParseAuthorization(header string) (Signature, error) {
	alg, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || alg != Algorithm {
		return Signature{}, malformed("Authorization header %q: the algorithm must be %s", truncate(header), Algorithm)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Signature{}, malformed("Authorization header: %q is not key=value", truncate(part))
		}
		if _, dup := fields[k]; dup {
			return Signature{}, malformed("Authorization header: %s appears twice", k)
		}
		fields[k] = v
	}
	for k := range fields {
		if k != "Credential" && k != "SignedHeaders" && k != "Signature" {
			return Signature{}, malformed("Authorization header: unknown field %q (want Credential, SignedHeaders and Signature)", truncate(k))
		}
	}
	return parseSignature(fields["Credential"], fields["SignedHeaders"], fields["Signature"], false)
}

func parseSignature(credential, signedHeaders, signature string, presigned bool) (Signature, error) {
	s := Signature{Presigned: presigned, Signature: signature}
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return Signature{}, malformed("Credential %q is not <access key>/<YYYYMMDD>/<region>/<service>/aws4_request", truncate(credential))
	}
	s.AccessKeyID, s.Date, s.Region, s.Service = parts[0], parts[1], parts[2], parts[3]
	if _, err := time.Parse("20060102", s.Date); err != nil || len(s.Date) != 8 {
		return Signature{}, malformed("Credential %q: the date %q is not YYYYMMDD", truncate(credential), truncate(s.Date))
	}
	if signedHeaders == "" {
		return Signature{}, malformed("SignedHeaders is missing or empty")
	}
	s.SignedHeaders = strings.Split(signedHeaders, ";")
	for i, h := range s.SignedHeaders {
		if h == "" || h != strings.ToLower(h) || strings.ContainsAny(h, " \t:") {
			return Signature{}, malformed("SignedHeaders %q: %q is not a lower-case header name", truncate(signedHeaders), truncate(h))
		}
		if i > 0 && s.SignedHeaders[i-1] >= h {
			return Signature{}, malformed("SignedHeaders %q is not sorted without repeats", truncate(signedHeaders))
		}
	}
	if !slices.Contains(s.SignedHeaders, "host") {
		return Signature{}, malformed("SignedHeaders %q must include host", truncate(signedHeaders))
	}
	if len(signature) != 64 || strings.Trim(signature, "0123456789abcdef") != "" {
		return Signature{}, malformed("Signature %q is not 64 lower-case hex digits", truncate(signature))
	}
	return s, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Verifier checks the SigV4 signatures of requests.
//
// With credentials (AccessKeyID and SecretAccessKey both set) it recomputes
// each signature over the request with the SDK's own signer and compares it
// in constant time. Without, it cannot know the secret a client signed
// with, and checks that the signature is well formed: the algorithm, the
// credential scope, host among the signed headers, every signed header
// present, and the signing time within MaxClockSkew of Now.
type Verifier struct {
	AccessKeyID, SecretAccessKey string
	Now                          func() time.Time // default time.Now: clients sign with the machine's clock
}

// Verifying tells whether the verifier checks signatures against its
// credentials.
func (v Verifier) Verifying() bool { return v.AccessKeyID != "" && v.SecretAccessKey != "" }

// Verify checks the signature of r. It may replace r.Body with an
// equivalent reader, having read the body to check its hash. maxBody bounds
// the body read for that.
func (v Verifier) Verify(r *http.Request, maxBody int64) (Signature, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	sig, at, err := v.parse(r, now())
	if err != nil {
		return Signature{}, err
	}
	for _, h := range sig.SignedHeaders {
		if h != "host" && h != "content-length" && len(r.Header.Values(h)) == 0 {
			return Signature{}, malformed("the signed header %s is not in the request", h)
		}
	}
	if !v.Verifying() {
		return sig, nil
	}
	if subtle.ConstantTimeCompare([]byte(sig.AccessKeyID), []byte(v.AccessKeyID)) != 1 {
		return Signature{}, &SignatureError{Status: http.StatusForbidden, Code: "InvalidClientTokenId", S3Code: "InvalidAccessKeyId",
			Message: fmt.Sprintf("The access key id %q is not the one the local endpoint was started with (mailflow dev --access-key)", truncate(sig.AccessKeyID))}
	}
	payload, err := payloadHash(r, sig, maxBody)
	if err != nil {
		return Signature{}, err
	}
	want, err := v.compute(r, sig, at, payload)
	if err != nil {
		return Signature{}, err
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig.Signature)) != 1 {
		return Signature{}, mismatch("The request signature we calculated does not match the signature you provided. Check your secret access key (mailflow dev --secret-key) and signing method.")
	}
	return sig, nil
}

// parse reads the signature and its time from the Authorization header or
// the presigned query, and checks the time against now.
func (v Verifier) parse(r *http.Request, now time.Time) (Signature, time.Time, error) {
	q := r.URL.Query()
	var (
		sig     Signature
		err     error
		rawTime string
	)
	switch auth := r.Header.Get("Authorization"); {
	case auth != "":
		if sig, err = ParseAuthorization(auth); err != nil {
			return Signature{}, time.Time{}, err
		}
		if q.Has("X-Amz-Signature") {
			return Signature{}, time.Time{}, malformed("a request may carry a signature in its Authorization header or in its query, not both")
		}
		rawTime = r.Header.Get("X-Amz-Date")
	case q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential"):
		if alg := q.Get("X-Amz-Algorithm"); alg != Algorithm {
			return Signature{}, time.Time{}, malformed("X-Amz-Algorithm %q: the algorithm must be %s", truncate(alg), Algorithm)
		}
		if sig, err = parseSignature(q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature"), true); err != nil {
			return Signature{}, time.Time{}, err
		}
		rawTime = q.Get("X-Amz-Date")
	default:
		return Signature{}, time.Time{}, errMissingSignature
	}
	at, err := time.Parse(amzTimeFormat, rawTime)
	if err != nil {
		return Signature{}, time.Time{}, malformed("X-Amz-Date %q is not YYYYMMDD'T'HHMMSS'Z'", truncate(rawTime))
	}
	if at.Format("20060102") != sig.Date {
		return Signature{}, time.Time{}, malformed("X-Amz-Date %s is not on the credential scope's date %s", rawTime, sig.Date)
	}
	if at.After(now.Add(MaxClockSkew)) {
		return Signature{}, time.Time{}, skewed(rawTime, now)
	}
	if !sig.Presigned {
		if at.Before(now.Add(-MaxClockSkew)) {
			return Signature{}, time.Time{}, skewed(rawTime, now)
		}
		return sig, at, nil
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	expires := time.Duration(secs) * time.Second
	if err != nil || secs < 1 || expires > maxPresignExpiry {
		return Signature{}, time.Time{}, malformed("X-Amz-Expires %q is not a number of seconds in 1..%d", truncate(q.Get("X-Amz-Expires")), int(maxPresignExpiry/time.Second))
	}
	if now.After(at.Add(expires)) {
		return Signature{}, time.Time{}, &SignatureError{Status: http.StatusForbidden, Code: "RequestExpired", S3Code: "AccessDenied",
			Message: fmt.Sprintf("Request has expired: signed at %s for %s, now %s", rawTime, expires, now.UTC().Format(amzTimeFormat))}
	}
	return sig, at, nil
}

func skewed(rawTime string, now time.Time) *SignatureError {
	return &SignatureError{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch", S3Code: "RequestTimeTooSkewed",
		Message: fmt.Sprintf("Signature expired: X-Amz-Date %s is more than %s from the endpoint's time %s", rawTime, MaxClockSkew, now.UTC().Format(amzTimeFormat))}
}

// payloadHash is the hash the client signed the body with, checked against
// the body when it is a hash.
func payloadHash(r *http.Request, sig Signature, maxBody int64) (string, error) {
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	if sig.Presigned {
		claimed = r.URL.Query().Get("X-Amz-Content-Sha256")
		if claimed == "" && sig.Service == ServiceS3 {
			return "UNSIGNED-PAYLOAD", nil // how S3 presigned URLs are signed
		}
	}
	if slices.Contains(unsignedPayloads, claimed) {
		return claimed, nil
	}
	if claimed != "" && (len(claimed) != 64 || strings.Trim(claimed, "0123456789abcdef") != "") {
		return "", malformed("X-Amz-Content-Sha256 %q is neither a hex SHA-256 nor one of %s", truncate(claimed), strings.Join(unsignedPayloads, ", "))
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		r.Body.Close()
		if err != nil {
			return "", malformed("could not read the body to check its hash: %v", err)
		}
		if int64(len(body)) > maxBody {
			return "", &SignatureError{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge", S3Code: "EntityTooLarge",
				Message: fmt.Sprintf("the body is over %d bytes", maxBody)}
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	if claimed != "" && claimed != actual {
		return "", mismatch("X-Amz-Content-Sha256 %s is not the SHA-256 of the body (%s)", claimed, actual)
	}
	return actual, nil
}

// compute signs a copy of r holding only the headers the client signed, as
// the client did, and returns the signature.
func (v Verifier) compute(r *http.Request, sig Signature, at time.Time, payload string) (string, error) {
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	if r.TLS != nil {
		u.Scheme = "https"
	}
	q := r.URL.Query()
	if sig.Presigned {
		q.Del("X-Amz-Signature")
	}
	u.RawQuery = q.Encode()
	c := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, h := range sig.SignedHeaders {
		switch h {
		case "host":
		case "content-length":
			c.ContentLength = r.ContentLength // the signer signs the request's length, not a header
		default:
			c.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	creds := aws.Credentials{AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey}
	opts := func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = sig.Service == ServiceS3 // S3 signs the path as sent; other services escape it again
		o.DisableHeaderHoisting = true
		o.DisableSessionToken = true // a token the client sent is among the headers or the query it signed
	}
	signer := v4.NewSigner()
	var got Signature
	if sig.Presigned {
		signed, _, err := signer.PresignHTTP(context.Background(), creds, c, payload, sig.Service, sig.Region, at, opts)
		if err != nil {
			return "", err
		}
		su, err := url.Parse(signed)
		if err != nil {
			return "", err
		}
		sq := su.Query()
		if got, err = parseSignature(sq.Get("X-Amz-Credential"), sq.Get("X-Amz-SignedHeaders"), sq.Get("X-Amz-Signature"), true); err != nil {
			return "", err
		}
	} else {
		if err := signer.SignHTTP(context.Background(), creds, c, payload, sig.Service, sig.Region, at, opts); err != nil {
			return "", err
		}
		var err error
		if got, err = ParseAuthorization(c.Header.Get("Authorization")); err != nil {
			return "", err
		}
	}
	if !slices.Equal(got.SignedHeaders, sig.SignedHeaders) {
		// The SDK's signer leaves out a few headers (User-Agent, Expect, ...)
		// that no client signs; one that did cannot be checked.
		return "", mismatch("SignedHeaders %s cannot be verified here (only %s can be)", strings.Join(sig.SignedHeaders, ";"), strings.Join(got.SignedHeaders, ";"))
	}
	return got.Signature, nil
}
